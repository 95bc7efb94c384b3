"""Runs submitted to a real Ray head as Ray jobs: `rayswarm submit` and plain `ray job submit`.

The head's Python has only the dependencies (conftest.py), so a job succeeds only with the
rayswarm it shipped: the wheel through py_modules, or the checkout as working_dir.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rayswarm.cli import main
from rayswarm.clusters import submit

ROOT = Path(__file__).resolve().parents[2]

GRAPH = """
name: smoke
task: {{name: {task}}}
graph:
  agents:
    a: {{model: "tiny:random-llama", generation: {{max_new_tokens: 4}}}}
  nodes: [{{name: first, agent: a}}, {{name: second, agent: a}}]
  edges: ["first -> second"]
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with a run config and its two-line task, as the current directory; a fresh wheel cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAYSWARM_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data.jsonl").write_text('{"input": "Sort: cba", "target": "abc"}\n'
                                         '{"input": "What is 1+1?", "target": "2"}\n')
    (tmp_path / "run.yaml").write_text(GRAPH.format(task="data.jsonl"))
    return tmp_path


def check_run(printed: str, runs: Path) -> dict:
    """The job printed its score table and run directory, and wrote a summary that agrees with them."""
    (run_dir,) = runs.glob("smoke-*")
    assert f"run directory: {run_dir}" in printed
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["examples"] == 2 and summary["output_node"] == "second"
    for node, score in summary["node_scores"].items():
        assert re.search(rf"^{node}\s+a\s+{score:.3f}$", printed, re.MULTILINE), node
    assert f"final score: {summary['score']:.3f}" in printed
    return summary


def test_package_folders_are_pyprojects():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert set(submit.PACKAGE_FOLDERS) == set(package_dir.values())


def test_the_source_digest_follows_the_code_only(tmp_path):
    for name in (*submit.BUILD_FILES, *(f"{folder}/__init__.py" for folder in submit.PACKAGE_FOLDERS)):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    before = submit.source_digest(tmp_path, submit.source_files(tmp_path))
    (tmp_path / "graphs" / "__pycache__").mkdir()
    (tmp_path / "graphs" / "__pycache__" / "x.pyc").write_text("stale")
    assert submit.source_digest(tmp_path, submit.source_files(tmp_path)) == before
    (tmp_path / "agents" / "new.py").write_text("x = 1\n")
    assert submit.source_digest(tmp_path, submit.source_files(tmp_path)) != before


def test_the_wheel_is_built_once_per_source_digest(workdir, monkeypatch):
    package = submit.shipped_package()
    assert (package / "graphs" / "__init__.py").is_file() and (package / "clusters" / "submit.py").is_file()
    assert package.parent.parent == workdir / "cache" / "wheels"
    monkeypatch.setattr(submit, "build_package", lambda *args: pytest.fail("rebuilt unchanged sources"))
    assert submit.shipped_package() == package
    # Installed, rayswarm finds its layers inside itself only: the checkout fallback stays off.
    code = "import rayswarm, rayswarm.graphs as g; print(rayswarm.__path__, g.__file__)"
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(package.parent)},
                         check=True, capture_output=True, text=True).stdout
    assert out.strip() == f"[{str(package)!r}] {package / 'graphs' / '__init__.py'}"


def test_a_bad_config_is_one_line_and_submits_nothing(workdir, capsys):
    (workdir / "bad.yaml").write_text(GRAPH.format(task="nowhere.jsonl"))
    # Nothing listens there: an error about the config shows it was checked before any connection.
    assert main(["submit", "bad.yaml", "--address", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere.jsonl: no such task file" in err


def test_swarm_configs_are_submitted_as_swarm_runs(workdir):
    from rayswarm.config import load_any_config

    (workdir / "swarm.yaml").write_text(
        "task: toy:quick/mixed\nexperts: {a: {model: 'tiny:quick/codes'}, b: {model: 'tiny:quick/twins'}}\n")
    assert load_any_config("swarm.yaml")[0] == "swarm" and load_any_config("run.yaml")[0] == "run"


def test_an_unreachable_dashboard_is_one_line(workdir, capsys):
    assert main(["submit", "run.yaml", "--address", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Ray dashboard at 'http://127.0.0.1:9'" in err


def test_rayswarm_submit_runs_the_shipped_wheel_and_streams_the_run(ray_head, workdir, capsys):
    assert main(["submit", "run.yaml", "--address", ray_head.address]) == 0
    printed = capsys.readouterr().out
    # The job imported rayswarm from the shipped package, unpacked on the node for this session.
    shipped = re.search(r"^rayswarm \S+ from (\S+)$", printed, re.MULTILINE)
    assert shipped and Path(shipped[1]).is_relative_to(ray_head.temp_dir), printed
    assert "py_modules_files" in shipped[1]
    summary = check_run(printed, workdir / "runs")  # the default run root: ./runs, made absolute
    assert summary["task"] == "data.jsonl"  # the task file travelled under its own name


def test_no_wait_returns_the_job_id_and_a_failed_job_reports_failed(ray_head, workdir, capsys):
    (workdir / "a-file").write_text("")  # a run root the job cannot create: the run fails on the cluster
    assert main(["submit", "run.yaml", "--address", ray_head.address, "--run-dir", "a-file/runs",
                 "--no-wait"]) == 0
    job_id = capsys.readouterr().out.strip()
    from ray.job_submission import JobSubmissionClient

    assert submit.follow(JobSubmissionClient(ray_head.address), job_id).value == "FAILED"
    assert "a-file/runs" in capsys.readouterr().out  # the job's own error, streamed


def test_plain_ray_job_submit_runs_from_the_checkout(ray_head, workdir):
    # The job runs in a copy of the checkout, so the task path is absolute (this machine is the cluster).
    (workdir / "plain.yaml").write_text(GRAPH.format(task=workdir / "data.jsonl"))
    runs, job_id = workdir / "plain-runs", f"plain-{workdir.name}"
    result = subprocess.run(
        [Path(sys.executable).parent / "ray", "job", "submit", "--address", ray_head.address,
         "--submission-id", job_id, "--working-dir", ".",
         "--", "python", "-m", "rayswarm", "run", workdir / "plain.yaml", "--run-dir", runs],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    check_run(result.stdout, runs)
    # The cluster's Python has no rayswarm, so the job imported the uploaded checkout: this folder,
    # which .gitignore (and Ray's default excludes) kept free of the venv, .git and run directories.
    from ray.job_submission import JobSubmissionClient

    package = JobSubmissionClient(ray_head.address).get_job_info(job_id).runtime_env["working_dir"]
    uploaded = ray_head.temp_dir / "session_latest" / "runtime_resources" / "working_dir_files"
    names = {path.name for path in (uploaded / Path(package).stem).iterdir()}
    assert {"pyproject.toml", "rayswarm", "graphs"} <= names and not {".venv", ".git", "runs", "build"} & names
