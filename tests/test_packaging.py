"""The built wheel installs into a throwaway venv and runs: `rayswarm --help` and one tiny graph.

The throwaway venv borrows the project venv's dependencies through a .pth line (so nothing is
downloaded) but not its editable install of rayswarm: a path added by a .pth file is not a site
directory, so the editable finder inside it never activates. What runs is the wheel alone.
"""

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", work, ROOT],
        check=True, cwd=work,
    )
    (wheel,) = work.glob("rayswarm-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", wheel], check=True)
    return env_dir


def run(env_dir: Path, *args: str, cwd: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([env_dir / "bin" / "rayswarm", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **env})


def test_the_wheel_holds_every_layer_and_not_the_repo(wheel_venv, tmp_path):
    code = ("import rayswarm, rayswarm.graphs, rayswarm.agents, rayswarm.actors, rayswarm.swarms, "
            "rayswarm.clusters, rayswarm.commands; print(rayswarm.graphs.__file__)")
    out = subprocess.run([wheel_venv / "bin" / "python", "-c", code], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    assert str(wheel_venv) in out and str(ROOT) not in out


def test_the_wheel_prints_help(wheel_venv, tmp_path):
    result = run(wheel_venv, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "run" in result.stdout and "usage: rayswarm" in result.stdout


def test_the_wheel_runs_a_tiny_graph(wheel_venv, tmp_path):
    (tmp_path / "data.jsonl").write_text('{"input": "Sort: cba", "target": "abc"}\n')
    (tmp_path / "graph.yaml").write_text(
        "name: wheel\ntask: data.jsonl\ngraph:\n"
        "  agents: {a: {model: 'tiny:random-llama', generation: {max_new_tokens: 4}}}\n"
        "  nodes: [{name: first, agent: a}, {name: second, agent: a}]\n"
        "  edges: ['first -> second']\n"
    )
    result = run(wheel_venv, "run", "graph.yaml", cwd=tmp_path, RAYSWARM_CACHE=str(tmp_path / "cache"),
                 OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    assert result.returncode == 0, result.stderr
    (summary,) = tmp_path.glob("runs/wheel-*/summary.json")
    data = json.loads(summary.read_text())
    assert data["examples"] == 1 and set(data["node_scores"]) == {"first", "second"}
