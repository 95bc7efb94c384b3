"""`rayswarm train parapo|pic` end to end on a tiny model: a run to success, then a resumed run; and
`rayswarm submit` staging a train config's data files.

Each recipe runs twice. The first run trains 2 DPO steps. The run directory is then put in the
state an interrupted 3-step run leaves behind (its config says 3 steps; no adapter, no summary,
the checkpoint of step 2), and `--resume` must finish it: the pairs are read back, not rebuilt, and
DPO continues from step 2 instead of starting over.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from rayswarm.agents.tiny import build_tiny_model, save_tiny
from rayswarm.cli import main

SMALL = dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, initializer_range=0.3)
DPO = {"max_steps": 2, "batch_size": 2, "save_steps": 1, "learning_rate": 0.003, "warmup_ratio": 0.0,
       "lora": {"r": 4, "alpha": 8}}
CLAIMS = ["The capital of Avalon is Lune.", "Avalon's code is AVL.", "Avalon borders Brume."]


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    """A seeded, untrained small llama (it writes varied text, so paraphrases and y′ are not empty)."""
    return save_tiny(build_tiny_model("llama", seed=0, **SMALL), tmp_path_factory.mktemp("train") / "small")


def train(recipe: str, arguments: list[str], runs: Path, capsys) -> tuple[Path, str]:
    """`rayswarm train <recipe> …` must succeed; (its run directory, what it printed)."""
    assert main(["train", recipe, *arguments, "--run-dir", str(runs)]) == 0
    printed = capsys.readouterr().out
    return Path(re.search(r"^run directory: (.+)$", printed, re.MULTILINE)[1]), printed


def run_and_resume(recipe: str, config: dict, tmp_path: Path, capsys) -> tuple[dict, dict, Path, str]:
    """(first summary, resumed summary, run directory, what the resumed run printed); checks what both share."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    runs = tmp_path / "runs"
    run_dir, _ = train(recipe, [str(tmp_path / "config.yaml")], runs, capsys)
    first = json.loads((run_dir / "summary.json").read_text())
    assert first["dpo"]["steps"] == 2 and first["pairs"] > 0
    adapter = run_dir / "adapter"
    assert {p.name for p in adapter.iterdir()} == {"adapter_config.json", "adapter_model.safetensors"}
    assert len(list((run_dir / "train" / "dpo").glob("checkpoint_*/checkpoint"))) == 2  # steps 1 and 2 kept

    # What an interruption after step 2 of 3 leaves behind.
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    saved["dpo"]["max_steps"] = 3
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved))
    (run_dir / "summary.json").unlink()
    shutil.rmtree(adapter)
    pairs = (run_dir / "pairs.jsonl").read_bytes()

    resumed_dir, printed = train(recipe, ["--resume", str(run_dir)], runs, capsys)
    assert resumed_dir == run_dir and [p.name for p in runs.iterdir()] == [run_dir.name]
    assert (run_dir / "pairs.jsonl").read_bytes() == pairs
    resumed = json.loads((run_dir / "summary.json").read_text())
    assert resumed["dpo"]["steps"] == 3 and resumed["pairs"] == first["pairs"]
    # Continued, not restarted: steps 1-2 come from the first run's checkpoint, each logged once.
    assert [row["step"] for row in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines())
            if "loss" in row] == [1, 2, 3]
    assert resumed["dpo"]["loss_first"] == first["dpo"]["loss_first"]
    assert {p.name for p in adapter.iterdir()} == {"adapter_config.json", "adapter_model.safetensors"}
    return first, resumed, run_dir, printed


def test_train_parapo_system_variant_runs_and_resumes(ray_local, small_folder, tmp_path, capsys):
    documents = [f"Entry {i}: the {w} kept watch by the old mill until the rain came down." for i, w in
                 enumerate(["fox", "owl", "crow", "hare"])]
    (tmp_path / "corpus.txt").write_text("\n".join(documents) + "\n")
    (tmp_path / "heldout.txt").write_text("A ship sailed past the lighthouse at noon.\nThe bell rang twice.\n")
    config = {"recipe": "parapo", "name": "parapo-e2e", "model": {"model": str(small_folder)},
              "corpus": str(tmp_path / "corpus.txt"), "heldout": str(tmp_path / "heldout.txt"),
              "paraphraser": {"model": str(small_folder)}, "variant": "system",
              "mining": {"prefix_tokens": 24, "continuation_tokens": 8, "min_score": 0.0, "top": 3},
              "paraphrase": {"max_new_tokens": 24, "length_tolerance": 2.5}, "dpo": DPO}
    first, resumed, run_dir, printed = run_and_resume("parapo", config, tmp_path, capsys)

    assert "memorized windows mined" not in printed and "preference pairs" not in printed  # read back
    assert len((run_dir / "mined.jsonl").read_text().splitlines()) == first["windows"] == 3
    prompts = [json.loads(line)["prompt"] for line in (run_dir / "pairs.jsonl").read_text().splitlines()]
    assert prompts == ["<s>Copying: No\n", "<s>Copying: Yes\n"] * (first["pairs"] // 2)
    for summary in (first, resumed):
        for when in ("before", "after"):
            scores = summary[when]
            assert set(scores) == {"regurgitation", "regurgitation_by_flag", "heldout_perplexity"}
            assert set(scores["regurgitation_by_flag"]) == {"Copying: No", "Copying: Yes"}
            for measured in (scores["regurgitation"], *scores["regurgitation_by_flag"].values()):
                assert set(measured) == {"char_lcs", "word_lcs", "rouge_l", "token_lcs"}
                assert 0.0 <= measured["token_lcs"]["mean"] <= 1.0
        assert summary["utility"]["tolerance"] == 0.10
    # The same model before training, so the same measurements after resuming.
    assert resumed["before"] == first["before"]


def test_train_pic_runs_and_resumes(ray_local, small_folder, tmp_path, capsys):
    items = [{"instruction": f"Describe Avalon, version {i}.", "claims": CLAIMS, "setting": setting,
              "response": " ".join(CLAIMS)} for i, setting in enumerate(["full", "partial"])]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    config = {"recipe": "pic", "name": "pic-e2e", "model": {"model": str(small_folder)},
              "items": str(tmp_path / "items.jsonl"), "generation": {"max_new_tokens": 24, "temperature": 0.5},
              "dpo": {**DPO, "loss_type": "sigmoid_norm", "beta": 2.0, "batch_size": 1}}
    first, resumed, run_dir, printed = run_and_resume("pic", config, tmp_path, capsys)

    assert "preference pairs from" not in printed  # read back
    rows = [json.loads(line) for line in (run_dir / "preference.jsonl").read_text().splitlines()]
    assert len(rows) == first["pairs"] == 2
    assert all(row["prompt"].startswith("<s><|user|>") and row["prompt"].endswith("<|assistant|>") for row in rows)
    for summary in (first, resumed):
        for when in ("before", "after"):
            assert {"precision", "recall", "f1", "perfect_precision", "perfect_f1"} <= set(summary[when])
            assert summary[when]["count"] == 2
    assert resumed["before"] == first["before"]


def test_submit_stages_a_train_configs_data_files(tmp_path, monkeypatch):
    """The job's working_dir gets the config and every local data file it names; the staged config validates
    there on its own (relative names stay, files from elsewhere move under task/)."""
    from rayswarm.commands.submit import stage_job
    from rayswarm.train_config import load_train_config

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    here = tmp_path / "here"
    (here / "data").mkdir(parents=True)
    monkeypatch.chdir(here)
    Path("data/corpus.txt").write_text("One document.\nAnother document.\n")
    (elsewhere / "heldout.txt").write_text("A held-out text.\n")
    Path("pairs.jsonl").write_text(json.dumps({"prompt": "<s>", "chosen": "a b", "rejected": "b a"}) + "\n")
    Path("data/items.jsonl").write_text(json.dumps({"instruction": "Q", "claims": CLAIMS, "response": "R"}) + "\n")
    (elsewhere / "eval.jsonl").write_text(json.dumps({"instruction": "E", "claims": CLAIMS}) + "\n")
    configs = {
        "parapo": ({"recipe": "parapo", "model": {"model": "tiny:random-llama"}, "corpus": "data/corpus.txt",
                    "heldout": str(elsewhere / "heldout.txt"), "pairs": "pairs.jsonl"},
                   {"corpus": "data/corpus.txt", "heldout": "task/heldout.txt", "pairs": "pairs.jsonl"}),
        "pic": ({"recipe": "pic", "model": {"model": "tiny:random-llama"}, "items": "data/items.jsonl",
                 "eval_items": str(elsewhere / "eval.jsonl")},
                {"items": "data/items.jsonl", "eval_items": "task/eval.jsonl"}),
    }
    for recipe, (config, staged_names) in configs.items():
        Path(f"{recipe}.yaml").write_text(yaml.safe_dump(config))
        workdir = tmp_path / f"job-{recipe}"
        workdir.mkdir()
        stage_job(f"{recipe}.yaml", None, workdir)
        staged = yaml.safe_load((workdir / "config.yaml").read_text())
        assert {key: staged[key] for key in staged_names} == staged_names
        assert staged["model"] == config["model"]
        for key, name in staged_names.items():
            assert (workdir / name).read_bytes() == Path(config[key]).read_bytes()
        monkeypatch.chdir(workdir)  # as the job sees it: nothing outside its working_dir
        assert load_train_config("config.yaml", recipe).recipe == recipe
        monkeypatch.chdir(here)
    # A corpus that is no file (the toy zoo's) is left as it is.
    Path("toy.yaml").write_text(yaml.safe_dump({"recipe": "parapo", "model": {"model": "tiny:random-llama"},
                                                "corpus": "toy:quick", "pairs": "pairs.jsonl"}))
    (tmp_path / "job-toy").mkdir()
    stage_job("toy.yaml", None, tmp_path / "job-toy")
    assert yaml.safe_load((tmp_path / "job-toy" / "config.yaml").read_text())["corpus"] == "toy:quick"


@pytest.mark.parametrize("paraphraser, message", [
    ({"endpoint": "ftp://127.0.0.1/v1", "model": "g"}, "paraphraser.endpoint.endpoint: Value error, must be an "
                                                       "http(s) URL"),
    ({"endpoint": "http://127.0.0.1:9/v1"}, "paraphraser.endpoint.model: Field required"),
    ({"endpoint": "http://127.0.0.1:9/v1", "model": "g", "timeout": 5}, "unknown key 'timeout' (did you mean "
                                                                        '"timeout_s"?)'),
    ({"modle": "tiny:random-llama"}, "unknown key 'paraphraser.agent.modle' (did you mean \"model\"?)"),
    ({"model": "tiny:nope"}, "agent 'paraphraser': unknown tiny model"),
    # Valid, but nothing listens there: the run stops before it loads a model or writes anything.
    ({"endpoint": "http://127.0.0.1:9/v1", "model": "g"}, "cannot reach http://127.0.0.1:9/v1/models"),
])
def test_a_parapo_paraphraser_is_an_agent_or_an_endpoint_checked_up_front(tmp_path, capsys, paraphraser,
                                                                          message):
    (tmp_path / "corpus.txt").write_text("One document.\n")
    config = tmp_path / "parapo.yaml"
    config.write_text(yaml.safe_dump({"recipe": "parapo", "model": {"model": "tiny:random-llama"},
                                      "corpus": str(tmp_path / "corpus.txt"), "heldout": str(tmp_path / "corpus.txt"),
                                      "paraphraser": paraphraser}))
    assert main(["train", "parapo", str(config), "--run-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("rayswarm:")]
    assert len(ours) == 1 and message in ours[0] and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()
