"""Every shipped example validates as what it is (run, swarm, train, FlexOlmo or Serve config), loading no model."""

from pathlib import Path

import pytest
import yaml

from rayswarm.config import load_any_config, load_config

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_there_are_examples():
    assert {p.stem for p in EXAMPLES} >= {"chain", "vote", "critique", "model_swarms", "heterogeneous_swarms",
                                          "serve", "parapo", "pic", "flexolmo"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates(path):
    data = yaml.safe_load(path.read_text())
    if "applications" in data:  # a Serve config: every graph it serves is a valid run config
        for app in data["applications"]:
            for graph in app["args"]["graphs"]:
                load_config(ROOT / graph)
        return
    kind, config = load_any_config(path, kinds=("run", "swarm", "train", "flexolmo"))
    assert config.name == path.stem
    if kind in ("run", "swarm"):
        assert config.load_task("dev").examples, "an example must score on real data"
