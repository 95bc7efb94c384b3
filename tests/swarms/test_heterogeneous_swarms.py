"""Heterogeneous Swarms: the JFK-score by hand, and a search that is interrupted and resumed."""

from pathlib import Path

import pytest
import yaml

from rayswarm.config import load_swarm_config
from rayswarm.runner import execute_swarm
from rayswarm.swarms.heterogeneous_swarms import jfk_scores


def test_jfk_is_the_count_weighted_mean_utility():
    # 3 models, 3 nodes; model 0 fills two nodes of system 0 and one of system 1.
    assignments = [[0, 0, 1], [0, 1, 1]]
    utilities = [0.9, 0.3]
    jfk = jfk_scores(assignments, utilities, n=3)
    assert jfk[0] == pytest.approx((2 * 0.9 + 1 * 0.3) / 3)
    assert jfk[1] == pytest.approx((1 * 0.9 + 2 * 0.3) / 3)
    assert jfk[2] == pytest.approx(0.6)  # never placed: the mean utility, no pull either way


CONFIG = {
    "name": "hs", "seed": 1, "method": "heterogeneous_swarms",
    "task": {"name": "toy:quick/mixed", "limit": 16},
    "experts": {name: {"model": f"tiny:quick/{name}", "generation": {"max_new_tokens": 20}}
                for name in ("codes", "twins", "capitals")},
    "heterogeneous_swarms": {"graphs": 3, "assignments": 3, "random_graphs": 2,
                             "graph_pso": {"max_iterations": 3, "patience": 10},
                             "model_pso": {"max_iterations": 3, "patience": 10}},
}


def test_an_interrupted_search_resumes_to_the_same_result(ray_local, quick_zoo, tmp_path, interrupt_then_resume):
    path = tmp_path / "hs.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    straight, run_dir = execute_swarm(load_swarm_config(path), tmp_path / "straight")
    resumed = interrupt_then_resume(path, tmp_path / "interrupted")
    assert resumed["systems"] == straight["systems"] and resumed["best_dev_utility"] == straight["best_dev_utility"]
    assert straight["iterations"] == 3
    graph = yaml.safe_load((run_dir.path / "best" / "graph.yaml").read_text())
    assert all(Path(spec["adapter"], "adapter_config.json").is_file() for spec in graph["agents"].values())
