"""DPO as a Ray Train job on a tiny model: the loss falls, the chosen log-ratio rises, it resumes, and
bad pairs fail before training with the file and line."""

import json

import pytest
import torch
from peft import AutoPeftModelForCausalLM, PeftModel
from transformers import AutoModelForCausalLM

from rayswarm.agents.agent import Agent
from rayswarm.agents.pairs import bos_prompt, read_pairs, write_pairs
from rayswarm.agents.tiny import build_tiny_model, save_tiny
from rayswarm.agents.tokenizer import build_char_tokenizer
from rayswarm.clusters.dpo import DPOSettings, LoraSettings, export, train_dpo
from rayswarm.graphs.errors import DataError

SMALL = dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, initializer_range=0.3)


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory):
    return save_tiny(build_tiny_model("llama", seed=0, **SMALL), tmp_path_factory.mktemp("dpo") / "base")


def toy_pairs(tokenizer) -> list[dict]:
    """Prompt-less pairs (prompt = BOS): prefer a reworded sentence over the 'verbatim' one."""
    bos = bos_prompt(tokenizer)
    words = ["river", "stone", "bell", "lamp", "owl", "fox", "crow", "ship"]
    return [{"prompt": bos, "chosen": f"A {w} was kept near the hill.", "rejected": f"The old {w} sang at dawn."}
            for w in words]


def log_ratio(policy, base, tokenizer, pairs, key) -> float:
    """Mean over pairs of log π(text) − log π_ref(text), given the pair's prompt (plus EOS, as TRL scores it)."""
    prompts = [p["prompt"] for p in pairs]
    texts = [p[key] + tokenizer.eos_token for p in pairs]
    trained, ref = Agent(policy, tokenizer), Agent(base, tokenizer)
    a = trained.score(prompts, texts, options=trained.options(chat_template=False))
    b = ref.score(prompts, texts, options=ref.options(chat_template=False))
    return sum(x - y for x, y in zip(a, b, strict=True)) / len(pairs)


def test_bos_is_the_prompt_of_a_prompt_less_pair():
    assert bos_prompt(build_char_tokenizer()) == "<s>"


# Length-normalised DPO (PIC) averages the log-ratios per token, so its β must be far larger than DPO's.
@pytest.mark.parametrize("loss_type, beta", [("sigmoid", 0.5), ("sigmoid_norm", 10.0)])
def test_dpo_job_learns_the_preference_and_resumes(ray_local, base_folder, tmp_path, loss_type, beta):
    tokenizer = build_char_tokenizer()
    pairs = toy_pairs(tokenizer)
    settings = DPOSettings(loss_type=loss_type, beta=beta, learning_rate=3e-3, max_steps=12, batch_size=4,
                           save_steps=6, warmup_ratio=0.0, lora=LoraSettings(r=4, alpha=8))
    result = train_dpo(base_folder, pairs, settings, storage=tmp_path / "storage", name="toy")

    losses, chosen = result.metric("loss"), result.metric("rewards/chosen")
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0]  # starts at log 2 ≈ 0.69, must fall
    assert chosen[0] == pytest.approx(0.0, abs=1e-3) and chosen[-1] > 0.1  # β · chosen log-ratio rises
    assert result.checkpoint.parent.name.startswith("checkpoint_")  # checkpoint_<timestamp>/checkpoint

    # The exported adapter is a PEFT folder that loads on its own and on a base model.
    adapter = export(result, tmp_path / "adapter")
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    base = AutoModelForCausalLM.from_pretrained(base_folder).eval()
    policy = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_folder), str(adapter)).eval()
    assert log_ratio(policy, base, tokenizer, pairs, "chosen") > 0 > log_ratio(policy, base, tokenizer, pairs,
                                                                                 "rejected")
    reloaded = AutoPeftModelForCausalLM.from_pretrained(str(result.checkpoint)).eval()
    ids = torch.tensor([tokenizer("<s>A fox")["input_ids"]])
    assert torch.allclose(reloaded(ids).logits, policy(ids).logits, atol=1e-5)

    # Same storage and name, a longer budget: it continues from step 12 instead of starting over.
    resumed = train_dpo(base_folder, pairs, settings.model_copy(update={"max_steps": 16}),
                        storage=tmp_path / "storage", name="toy")
    steps = [row["step"] for row in resumed.history if "loss" in row]
    assert steps == list(range(1, 17))
    assert resumed.history[-1]["step"] == 16 and resumed.checkpoint != result.checkpoint


def test_bad_pairs_name_the_file_and_line(tmp_path):
    good = {"prompt": "<s>", "chosen": "a b", "rejected": "b a"}
    cases = {
        "not valid JSON": [json.dumps(good), "{oops"],
        "'rejected' is missing": [json.dumps(good), "", json.dumps({"chosen": "x"})],
        "'chosen' is empty": [json.dumps({**good, "chosen": "  "})],
        "unknown key 'choosen'": [json.dumps({**good, "choosen": "x"})],
        "'prompt' is a int, not text": [json.dumps({**good, "prompt": 3})],
        "the same text": [json.dumps({**good, "rejected": good["chosen"]})],
        "expected a JSON object": [json.dumps([1, 2])],
    }
    for problem, lines in cases.items():
        path = tmp_path / "pairs.jsonl"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(DataError) as err:
            read_pairs(path)
        message = str(err.value)
        assert message.startswith(f"{path}:{len(lines)}: ") and problem in message and "\n" not in message
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="the pairs file is empty"):
        read_pairs(tmp_path / "empty.jsonl")
    assert read_pairs(write_pairs(tmp_path / "ok.jsonl", [good, {**good, "prompt": ""}])) == [
        good, {**good, "prompt": ""}]


def test_train_cli_rejects_bad_pairs_and_claim_lists_before_loading_anything(tmp_path, capsys):
    from rayswarm.cli import main

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"chosen": "a", "rejected": "b"}) + "\n" + json.dumps({"chosen": "a"}) + "\n")
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"instruction": "Q", "claims": "not a list"}) + "\n")
    cases = {
        "parapo": (f"recipe: parapo\nmodel: {{model: 'tiny:random-llama'}}\npairs: {pairs}\n",
                   f"{pairs}:2: 'rejected' is missing"),
        "pic": (f"recipe: pic\nmodel: {{model: 'tiny:random-llama'}}\nitems: {items}\n",
                f"{items}:1: 'claims' must be a list"),
    }
    for recipe, (text, message) in cases.items():
        config = tmp_path / f"{recipe}.yaml"
        config.write_text(text)
        assert main(["train", recipe, str(config), "--run-dir", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        # Ray's log forwarding may interleave lines from other tests' background actors: ours is one line.
        ours = [line for line in err.splitlines() if line.startswith("rayswarm:")]
        assert len(ours) == 1 and ours[0].startswith(f"rayswarm: error: {message}") and "Traceback" not in err, err
    assert main(["train", "pic", str(tmp_path / "parapo.yaml")]) == 2  # a parapo config given to pic
    assert "is a 'parapo' config, not 'pic'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing was written
