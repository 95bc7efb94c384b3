"""Every shipped example validates as what it is (run, swarm or Serve config), loading no model."""

from pathlib import Path

import pytest
import yaml

from rayswarm.config import load_config, load_swarm_config

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_there_are_examples():
    assert {p.stem for p in EXAMPLES} >= {"chain", "vote", "critique", "model_swarms", "serve"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates(path):
    data = yaml.safe_load(path.read_text())
    if "applications" in data:  # a Serve config: every graph it serves is a valid run config
        for app in data["applications"]:
            for graph in app["args"]["graphs"]:
                load_config(ROOT / graph)
        return
    config = load_swarm_config(path) if "experts" in data else load_config(path)
    assert config.name == path.stem
    assert config.load_task("dev").examples, "an example must score on real data"
