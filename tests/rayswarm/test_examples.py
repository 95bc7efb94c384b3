"""Every shipped example is a valid run config: graph, model names, task data, all checked loading no model."""

from pathlib import Path

import pytest

from rayswarm.config import load_config

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples():
    assert {p.stem for p in EXAMPLES} >= {"chain", "vote", "critique"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates(path):
    config = load_config(path)
    assert config.name == path.stem
    assert config.load_task().examples, "an example must score on real data"
