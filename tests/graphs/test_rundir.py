import json

import yaml

from rayswarm.graphs.rundir import RunDir, write_jsonl


def test_a_run_directory_holds_config_log_rows_and_summary(tmp_path):
    run = RunDir(tmp_path, "demo")
    assert run.path.parent == tmp_path and run.path.name.startswith("demo-")
    run.write_config({"name": "demo", "seed": 3})
    run.log(event="step", score=0.5)
    run.log(event="step", score=0.75)
    run.write_jsonl("predictions.jsonl", [{"prediction": "Bokia"}])
    run.write_summary({"score": 0.75})
    assert yaml.safe_load((run.path / "config.yaml").read_text()) == {"name": "demo", "seed": 3}
    records = [json.loads(line) for line in (run.path / "log.jsonl").read_text().splitlines()]
    assert [r["score"] for r in records] == [0.5, 0.75] and all("time" in r for r in records)
    assert json.loads((run.path / "summary.json").read_text()) == {"score": 0.75}
    assert run.checkpoints.is_dir()


def test_two_runs_in_the_same_second_get_distinct_folders(tmp_path):
    assert RunDir(tmp_path, "x").path != RunDir(tmp_path, "x").path


def test_write_jsonl_creates_parents(tmp_path):
    path = write_jsonl(tmp_path / "a" / "b.jsonl", [{"k": "é"}, {"k": 2}])
    assert path.read_text(encoding="utf-8") == '{"k": "é"}\n{"k": 2}\n'
