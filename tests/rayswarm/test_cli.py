"""The `rayswarm` command: --help on every verb, a real run, and one-line errors that write nothing."""

import json
import subprocess
import sys

import pytest

from rayswarm.cli import VERBS, main

GRAPH = """
name: smoke
task: {name: data.jsonl, metric: exact_match}
graph:
  agents:
    a: {model: "tiny:random-llama", generation: {max_new_tokens: 4}}
    b: {model: "tiny:random-olmo2", generation: {max_new_tokens: 4}}
  nodes: [{name: first, agent: a}, {name: second, agent: b}, {name: third, agent: a}]
  edges: ["first -> third", "second -> third"]
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.jsonl").write_text('{"input": "Sort: cba", "target": "abc"}\n'
                                         '{"input": "What is 1+1?", "target": "2"}\n')
    (tmp_path / "run.yaml").write_text(GRAPH)
    return tmp_path


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: rayswarm {verb}" in capsys.readouterr().out


def test_python_dash_m_is_the_command():
    result = subprocess.run([sys.executable, "-m", "rayswarm", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and all(verb in result.stdout for verb in VERBS)


def test_run_scores_every_node_and_writes_a_run_directory(workdir, capsys):
    assert main(["run", "run.yaml", "--output", "out/preds.jsonl"]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in ("first", "second", "third", "final score", "run directory"))
    (run_dir,) = (workdir / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["examples"] == 2 and summary["output_node"] == "third"
    assert set(summary["node_scores"]) == {"first", "second", "third"}
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert [r["target"] for r in rows] == ["abc", "2"] and set(rows[0]["nodes"]) == {"first", "second", "third"}
    assert (workdir / "out" / "preds.jsonl").read_text() == (run_dir / "predictions.jsonl").read_text()
    assert "graph" in (run_dir / "config.yaml").read_text()


def test_actors_and_in_process_give_the_same_predictions(workdir):
    assert main(["run", "run.yaml", "--output", "ray.jsonl"]) == 0
    assert main(["run", "run.yaml", "--local", "--output", "local.jsonl"]) == 0
    assert (workdir / "ray.jsonl").read_text() == (workdir / "local.jsonl").read_text()


BAD_INPUTS = {
    "malformed YAML": (lambda text: text + "  nodes: [unclosed\n", "malformed YAML"),
    "cycle": (lambda text: text.replace('"second -> third"', '"third -> first"'), "cycle: first -> third -> first"),
    "unknown model source": (lambda text: text.replace("tiny:random-olmo2", "tiny:random-olmo3"),
                             "unknown tiny model 'random-olmo3'"),
    "unknown key": (lambda text: text.replace("nodes:", "nodez:"), "unknown key 'graph.nodez' (did you mean \"nodes\"?)"),
    "empty dataset": (lambda text: text.replace("data.jsonl", "empty.jsonl"), "empty.jsonl: the task file is empty"),
    "missing dataset": (lambda text: text.replace("data.jsonl", "nowhere.jsonl"), "nowhere.jsonl: no such task file"),
    "a trained router's missing data": (
        lambda text: text.replace("  nodes:", "  ensembles: {pick: {kind: router, mode: trained, agents: [a, b], "
                                  "train_task: nowhere.jsonl}}\n  nodes:"),
        "ensemble 'pick': train_task: nowhere.jsonl: no such task file"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, workdir, capsys):
    edit, expected = BAD_INPUTS[case]
    (workdir / "empty.jsonl").write_text("")
    (workdir / "bad.yaml").write_text(edit(GRAPH))
    assert main(["run", "bad.yaml", "--output", "preds.jsonl"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rayswarm: error: ") and expected in err
    assert not (workdir / "runs").exists() and not (workdir / "preds.jsonl").exists()


def test_a_missing_config_file_is_a_one_line_error(workdir, capsys):
    assert main(["run", "nope.yaml"]) == 2
    assert capsys.readouterr().err == "rayswarm: error: nope.yaml: no such config file\n"


def test_zoo_show_of_an_unbuilt_preset_says_how_to_build_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAYSWARM_CACHE", str(tmp_path))
    assert main(["zoo", "show", "--preset", "quick"]) == 2
    assert "rayswarm zoo build" in capsys.readouterr().err
