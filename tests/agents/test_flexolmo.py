"""FlexOlmo's model pieces: upcycling, merging, exact opt-out, transformers-only loading, training masks."""

import subprocess
import sys

import pytest
import torch

from rayswarm.agents import flexolmo_model as fm
from rayswarm.agents.flexolmo_data import read_corpus, toy_corpus, write_corpus
from rayswarm.agents.flexolmo_loop import StepTrainer, expert_params, router_params, train_steps
from rayswarm.agents.router_init import domain_row, project
from rayswarm.agents.tiny import build_tiny_model
from rayswarm.agents.tokenizer import build_char_tokenizer
from rayswarm.agents.toytrain import TrainConfig
from rayswarm.agents.toyworld import WorldConfig
from rayswarm.graphs.errors import ConfigError, DataError

SHAPE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, initializer_range=0.3)
OWNERS = ("codes", "capitals", "twins")
PUBLIC_ROW = torch.full((32,), 32**-0.5)  # every owner starts from the same public router row
WORLD = WorldConfig(seed=0, countries=16, passages=3, domain_items=16, composed_items=8, mixed_items=60)


def public_model(seed=0):
    return build_tiny_model("olmo2", seed=seed, **SHAPE).eval()


def trained_like(public, seed):
    """A 2-expert model whose owner half moved, as training would move it (the public half untouched)."""
    generator = torch.Generator().manual_seed(seed)
    model = fm.upcycle(public, torch.stack([PUBLIC_ROW, torch.randn(32, generator=generator)]))
    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.experts.gate_up_proj[1] += 0.3 * torch.randn(layer.mlp.experts.gate_up_proj[1].shape,
                                                                   generator=generator)
            layer.mlp.gate.weight[1] += torch.randn(32, generator=generator)
    return model


@pytest.fixture(scope="module")
def public():
    return public_model()


@pytest.fixture(scope="module")
def experts(public):
    return {name: trained_like(public, i) for i, name in enumerate(OWNERS)}


@pytest.fixture(scope="module")
def ids():
    return torch.randint(4, 100, (3, 16), generator=torch.Generator().manual_seed(0))


def logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


def test_upcycled_model_computes_the_dense_model(public, ids):
    # Both experts are the public FFN and top-2 of 2 weights sum to one: the dense output, up to rounding.
    model = fm.upcycle(public, torch.randn(2, 32))
    assert model.config.model_type == "flex_olmo" and model.config.num_experts == 2
    assert torch.allclose(logits(model, ids), logits(public, ids), atol=1e-4)


@pytest.mark.parametrize("top_k", [1, 2, 4])
def test_opting_out_is_bit_identical_to_merging_without(public, experts, ids, top_k):
    merged, names = fm.merge(public, experts, top_k=top_k)
    assert names == ["public", *OWNERS]
    for left_out in OWNERS:
        others = {name: model for name, model in experts.items() if name != left_out}
        without, _ = fm.merge(public, others, top_k=top_k)
        selected = fm.select_experts(merged, names, fm.resolve_mask(names, exclude=[left_out]))
        assert torch.equal(logits(selected, ids), logits(without, ids))  # float32, bit for bit
    # ...and the comparison can fail: the full model does use every expert.
    assert not torch.equal(logits(merged, ids), logits(selected, ids))


def test_opt_in_by_name_keeps_checkpoint_order(public, experts, ids):
    merged, names = fm.merge(public, experts, top_k=2)
    chosen = fm.resolve_mask(names, experts=["twins", "public"])
    assert chosen == ["public", "twins"]
    only, _ = fm.merge(public, {"twins": experts["twins"]}, top_k=2)
    assert torch.equal(logits(fm.select_experts(merged, names, chosen), ids), logits(only, ids))


def test_merged_checkpoint_loads_with_plain_transformers(public, experts, ids, tmp_path):
    merged, names = fm.merge(public, experts, top_k=2)
    fm.save(merged, tmp_path / "merged", names, tokenizer=build_char_tokenizer())
    torch.save({"ids": ids, "logits": logits(merged, ids)}, tmp_path / "expected.pt")
    script = f"""
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained({str(tmp_path / "merged")!r}).eval()
AutoTokenizer.from_pretrained({str(tmp_path / "merged")!r})
expected = torch.load({str(tmp_path / "expected.pt")!r})
with torch.no_grad():
    out = model(expected["ids"]).logits
assert type(model).__name__ == "FlexOlmoForCausalLM", type(model)
assert not any(name.startswith("rayswarm") for name in sys.modules)
assert torch.equal(out, expected["logits"]), (out - expected["logits"]).abs().max()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]
    assert fm.read_meta(tmp_path / "merged")["experts"] == names


def test_an_expert_of_another_public_model_is_refused(public, experts):
    foreign = trained_like(public_model(seed=1), 7)
    with pytest.raises(DataError, match="'math' was trained from a different public model"):
        fm.merge(public, {**experts, "math": foreign}, top_k=2)


def test_an_expert_whose_anchor_moved_is_refused(public, experts):
    drifted = trained_like(public, 8)
    with torch.no_grad():
        drifted.model.layers[1].mlp.experts.down_proj[0] += 1e-3
    with pytest.raises(DataError, match="public FFN of layer 1 differs"):
        fm.merge(public, {**experts, "math": drifted}, top_k=2)


def test_masks_name_known_experts():
    names = ["public", *OWNERS]
    with pytest.raises(ConfigError, match='unknown expert \'twin\' \\(did you mean "twins"\\?\\)'):
        fm.resolve_mask(names, exclude=["twin"])
    with pytest.raises(ConfigError, match="leaves no expert"):
        fm.resolve_mask(names, experts=["codes"], exclude=["codes"])
    assert fm.resolve_mask(names) == names


def test_expert_training_moves_only_the_owners_half(public, tmp_path):
    tokenizer = build_char_tokenizer()
    items = read_corpus(write_corpus(tmp_path / "codes.jsonl", toy_corpus(WORLD, "codes", 40)))
    model = fm.upcycle(public, torch.randn(2, 32))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    train_steps(StepTrainer(model, tokenizer, items, TrainConfig(steps=3, batch_size=4, warmup=1), expert_params(model)))
    for name, param in model.named_parameters():
        if name in expert_params(model):
            assert torch.equal(param[0], before[name][0]), name  # the public half: bit-identical
            assert not torch.equal(param[1], before[name][1]), name
        else:
            assert torch.equal(param, before[name]), name
    fm.check_expert(public, model, "codes")  # what merge checks


def test_router_tuning_moves_only_routers(public, experts):
    merged, _ = fm.merge(public, experts, top_k=2)
    before = {name: p.detach().clone() for name, p in merged.named_parameters()}
    items = toy_corpus(WORLD, "public", 20)
    train_steps(StepTrainer(merged, build_char_tokenizer(), items, TrainConfig(steps=2, batch_size=4, warmup=1),
                            router_params(merged)))
    moved = {name for name, p in merged.named_parameters() if not torch.equal(p, before[name])}
    assert moved and all(name.endswith("mlp.gate.weight") for name in moved)


def test_router_rows_are_unit_length_in_the_model_width(public):
    documents = [item.target for item in toy_corpus(WORLD, "codes", 12)]
    own = domain_row(documents, "public", 32, public, build_char_tokenizer())
    mini = domain_row(documents, "minilm", 32)
    assert own.shape == mini.shape == (32,)
    assert torch.allclose(own.norm(), torch.tensor(1.0)) and torch.allclose(mini.norm(), torch.tensor(1.0))
    # The projection is one fixed matrix per (width, hidden size): every owner's rows are comparable.
    vector = torch.randn(384)
    assert torch.equal(project(vector, 32), project(vector, 32))
    with pytest.raises(ConfigError, match="unknown router embedder"):
        domain_row(documents, "grit", 32)


def test_corpus_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="no such corpus file"):
        read_corpus(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "x"}\n')
    with pytest.raises(DataError, match="bad.jsonl:1"):
        read_corpus(tmp_path / "bad.jsonl")


def test_an_agent_on_a_flexolmo_checkpoint_takes_a_mask_per_call(public, experts, tmp_path):
    from rayswarm.agents.agent import Agent

    merged, names = fm.merge(public, experts, top_k=2)
    fm.save(merged, tmp_path / "merged", names, tokenizer=build_char_tokenizer())
    agent = Agent.load(str(tmp_path / "merged"))
    prompts = ["Sort the letters: dcba", "What is the code of Bokia?"]
    without, _ = fm.merge(public, {k: v for k, v in experts.items() if k != "twins"}, top_k=2)
    expected = Agent(without, build_char_tokenizer()).generate(prompts, max_new_tokens=8)
    assert agent.generate(prompts, exclude_experts=["twins"], max_new_tokens=8) == expected
    kept = [name for name in names if name != "twins"]
    assert agent.generate(prompts, experts=kept, max_new_tokens=8) == expected  # opt-in says the same
    assert agent.generate(prompts, max_new_tokens=8) != expected  # the mask did something
    with pytest.raises(ConfigError, match="unknown expert 'nobody'"):
        agent.generate(prompts, experts=["nobody"])
    with pytest.raises(ConfigError, match="is not a FlexOlmo mixture of experts"):
        Agent(without, build_char_tokenizer(), name="plain").generate(prompts, experts=kept)
