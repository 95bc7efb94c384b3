"""`rayswarm demo` on the quick zoo: a short Heterogeneous Swarms run, its table, and its best system."""

import json
import re
from pathlib import Path

import pytest
import yaml

from rayswarm.agents.tasksource import load_task_source
from rayswarm.cli import main
from rayswarm.commands.demo import DEMO
from rayswarm.config import RunConfig, SwarmConfig
from rayswarm.graphs import ConfigError
from rayswarm.graphs.schema import parse

ROOT = Path(__file__).parents[2]


def test_the_demo_is_the_example_config():
    assert yaml.safe_load((ROOT / "examples" / "heterogeneous_swarms.yaml").read_text()) == DEMO


def test_the_demo_tests_on_several_hundred_items_and_searches_on_a_hundred():
    config = SwarmConfig.model_validate(DEMO)
    dev, test = config.load_task("dev"), config.load_task("test")
    assert len(dev.examples) == 100 and len(test.examples) == len(load_task_source("toy:mixed_full", "test").examples)
    assert len(test.examples) >= 300 and not {e.input for e in dev.examples} & {e.input for e in test.examples}
    # `test_limit` is a swarm's: a graph run, which scores one split, refuses it.
    with pytest.raises(ConfigError, match="`test_limit` is for swarm runs"):
        parse(RunConfig, {"task": DEMO["task"], "graph": {"agents": {"a": {"model": "tiny:random-llama"}},
                                                          "nodes": [{"name": "n", "agent": "a"}]}})


def test_demo_runs_a_swarm_and_its_best_system_runs_again(quick_zoo, tmp_path, capsys):
    assert main(["demo", "--preset", "quick", "--limit", "30", "--iterations", "1",
                 "--run-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    (run_dir,) = tmp_path.glob("heterogeneous_swarms-*")
    systems = json.loads((run_dir / "summary.json").read_text())["systems"]
    for name in ("heterogeneous swarms (all-time best)", "codes", "twins", "capitals", "uniform merge",
                 "random graphs (mean)"):
        assert re.search(rf"^{re.escape(name)}\s+{systems[name]['dev']:.3f}\s+{systems[name]['test']:.3f}$",
                         printed, re.MULTILINE), name
    assert json.loads((run_dir / "summary.json").read_text())["test_examples"] == 30  # --limit shortens test too
    assert (run_dir / "convergence.png").stat().st_size > 0
    # The saved system (graph YAML over PEFT adapters) scores what the table says, run as any graph.
    assert main(["run", str(run_dir / "best" / "run.yaml"), "--local", "--run-dir", str(tmp_path)]) == 0
    (rerun,) = tmp_path.glob("heterogeneous_swarms-best-*")
    score = json.loads((rerun / "summary.json").read_text())["score"]
    assert score == systems["heterogeneous swarms (all-time best)"]["dev"]
