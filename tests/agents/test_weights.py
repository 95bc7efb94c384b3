"""Weights as a flat vector: LoRA or any named subset, in-place writes, PEFT folders that reload."""

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from rayswarm.agents.agent import Agent
from rayswarm.graphs.errors import ConfigError, SourceError

PROMPTS = ["Hi", "What is the capital of France?", "abc"]


def random_vector(size: int, seed: int = 0, scale: float = 0.3) -> torch.Tensor:
    return torch.randn(size, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.fixture
def lora_agent(make_agent):
    return make_agent().add_lora(r=4, alpha=8, seed=1)


def test_lora_vector_spec_covers_every_lora_parameter_in_a_stable_order(lora_agent, make_agent):
    spec = lora_agent.vector_spec()
    lora = [(n, p) for n, p in lora_agent.model.named_parameters() if "lora_" in n]
    assert list(spec.names) == [n for n, _ in lora]
    assert spec.size == sum(p.numel() for _, p in lora)
    assert spec.offsets[0] == 0 and all(
        spec.offsets[i + 1] == spec.offsets[i] + torch.Size(spec.shapes[i]).numel()
        for i in range(len(spec.names) - 1)
    )
    other = make_agent(seed=5).add_lora(r=4, alpha=8, seed=9)
    assert other.vector_spec() == spec  # same base + adapter config → vectors line up


def test_get_set_round_trips_bit_exactly_in_place(lora_agent):
    params = lora_agent.vector().params
    pointers = [p.data_ptr() for p in params]
    vector = random_vector(lora_agent.vector_spec().size)
    lora_agent.set_vector(vector)
    assert torch.equal(lora_agent.get_vector(), vector)
    lora_agent.set_vector(lora_agent.get_vector())
    assert torch.equal(lora_agent.get_vector(), vector)
    assert [p.data_ptr() for p in params] == pointers  # written into the existing tensors
    named = dict(lora_agent.model.named_parameters())
    assert all(
        named[name] is param for name, param in zip(lora_agent.vector_spec().names, params, strict=True)
    )


def test_set_vector_changes_generation_and_restores_it(lora_agent):
    before = lora_agent.generate(PROMPTS, max_new_tokens=16)
    original = lora_agent.get_vector()
    lora_agent.set_vector(random_vector(original.numel()))
    assert lora_agent.generate(PROMPTS, max_new_tokens=16) != before
    lora_agent.set_vector(original)
    assert lora_agent.generate(PROMPTS, max_new_tokens=16) == before


def test_fresh_lora_leaves_outputs_unchanged(make_agent):
    agent = make_agent()
    before = agent.generate(PROMPTS, max_new_tokens=16)
    assert agent.add_lora(seed=3).generate(PROMPTS, max_new_tokens=16) == before


def test_named_subsets_by_regex_names_and_predicate(make_agent):
    agent = make_agent()
    by_regex = agent.vector_spec(r"layers\.0\.mlp\.")
    assert by_regex.names == (
        "model.layers.0.mlp.gate_proj.weight",
        "model.layers.0.mlp.up_proj.weight",
        "model.layers.0.mlp.down_proj.weight",
    )
    assert agent.vector_spec(list(by_regex.names)) == by_regex
    assert agent.vector_spec(lambda name: ".0.mlp." in name) == by_regex
    before = agent.generate(PROMPTS, max_new_tokens=16)
    agent.set_vector(random_vector(by_regex.size), select=r"layers\.0\.mlp\.")
    assert agent.generate(PROMPTS, max_new_tokens=16) != before


def test_bad_vectors_and_selections_are_config_errors(lora_agent, make_agent):
    size = lora_agent.vector_spec().size
    with pytest.raises(ConfigError, match=rf"shape \({size},\), got float32 of shape \({size - 1},\)"):
        lora_agent.set_vector(torch.zeros(size - 1))
    with pytest.raises(ConfigError, match="got float64"):
        lora_agent.set_vector(torch.zeros(size, dtype=torch.float64))
    with pytest.raises(ConfigError, match="torch tensor, got list"):
        lora_agent.set_vector([0.0] * size)
    with pytest.raises(ConfigError, match="no LoRA adapter"):
        make_agent().get_vector()
    with pytest.raises(ConfigError, match="matches no parameter"):
        lora_agent.get_vector("no_such_layer")
    with pytest.raises(ConfigError, match="unknown parameter name 'nope'"):
        lora_agent.get_vector(["nope"])
    with pytest.raises(ConfigError, match="already has a LoRA adapter"):
        lora_agent.add_lora()


def test_saved_adapter_reloads_with_peft_and_agent_load(chatty_folder, tmp_path):
    agent = Agent.load(str(chatty_folder)).add_lora(r=4, alpha=8, seed=1)
    agent.set_vector(random_vector(agent.vector_spec().size, seed=2))
    expected = agent.generate(PROMPTS, max_new_tokens=16)
    agent.save_adapter(tmp_path / "adapter")

    base = AutoModelForCausalLM.from_pretrained(chatty_folder)
    reloaded = Agent(PeftModel.from_pretrained(base, tmp_path / "adapter").eval(), agent.tokenizer)
    assert reloaded.generate(PROMPTS, max_new_tokens=16) == expected
    assert torch.equal(reloaded.get_vector(), agent.get_vector())

    loaded = Agent.load(str(chatty_folder), adapter=str(tmp_path / "adapter"))
    assert loaded.generate(PROMPTS, max_new_tokens=16) == expected
    assert Agent.load(str(chatty_folder)).generate(PROMPTS, max_new_tokens=16) != expected


def test_missing_adapter_folder_is_a_source_error(chatty_folder, tmp_path):
    with pytest.raises(SourceError, match="no adapter_config.json"):
        Agent.load(str(chatty_folder), adapter=str(tmp_path))
