"""Weight merging end to end on the quick toy zoo: the table, the saved adapter, the searches' guarantees and logs."""

import pytest
import torch
import yaml

from rayswarm.actors.host import ModelHost
from rayswarm.config import load_swarm_config
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.messages import SOURCE_TEMPLATE
from rayswarm.graphs.spec import AgentSpec
from rayswarm.runner import execute_swarm

EXPERTS = ("codes", "twins", "capitals")


def config(merge: str, **settings) -> dict:
    return {"name": merge, "seed": 5, "method": "weight_merging", "task": {"name": "toy:quick/mixed", "limit": 16},
            "experts": {name: {"model": f"tiny:quick/{name}", "generation": {"max_new_tokens": 20}} for name in EXPERTS},
            "weight_merging": {"merge": merge, "random_graphs": 1, **settings}}


@pytest.fixture(scope="module")
def run(ray_local, quick_zoo, tmp_path_factory):
    """run(merge, **settings) -> (summary, run_dir): one weight-merging run through execute_swarm."""

    def run_merge(merge: str, **settings):
        folder = tmp_path_factory.mktemp(merge)
        (folder / "swarm.yaml").write_text(yaml.safe_dump(config(merge, **settings), sort_keys=False))
        return execute_swarm(load_swarm_config(folder / "swarm.yaml"), folder / "runs")

    return run_merge


@pytest.fixture(scope="module")
def greedy(run):
    return run("greedy_soup")


LORAHUB = {"lorahub": {"population": 5, "pso": {"max_iterations": 2, "patience": 10}}}


@pytest.fixture(scope="module")
def lorahub(run):
    return run("lorahub", **LORAHUB)


def expert_vectors() -> torch.Tensor:
    host = ModelHost({name: AgentSpec(model=f"tiny:quick/{name}") for name in EXPERTS})
    return torch.stack([host.get_vector(name) for name in EXPERTS])


def saved_vector(summary: dict) -> torch.Tensor:
    host = ModelHost({"merged": AgentSpec(model="tiny:quick/base", adapter=summary["adapter"])})
    return host.get_vector("merged")


def test_the_greedy_soup_never_scores_below_its_best_ingredient_on_dev(greedy):
    summary, run_dir = greedy
    systems, ingredients = summary["systems"], summary["ingredients"]
    merged = systems[summary["merged"]]["dev"]
    assert merged == pytest.approx(summary["best_dev_utility"])
    assert merged >= max(systems[name]["dev"] for name in ingredients)
    assert ingredients[0] == max(EXPERTS, key=lambda name: systems[name]["dev"])  # the best expert goes in first
    rounds = [row for row in run_dir.read_log() if row["event"] == "iteration"]
    assert [row["iteration"] for row in rounds] == [0, 1, 2] and rounds[0]["candidates"] == list(EXPERTS)
    assert [row["best"] for row in rounds] == sorted(row["best"] for row in rounds)  # the soup's score never drops
    assert {row["tried"] for row in rounds[1:]} == set(EXPERTS) - {ingredients[0]}
    assert torch.allclose(saved_vector(summary), expert_vectors()[[EXPERTS.index(n) for n in ingredients]].mean(0),
                          atol=1e-6)


def test_the_merged_adapter_is_a_plain_peft_adapter_with_the_reported_score(greedy):
    summary, run_dir = greedy
    assert (run_dir.path / "merged_adapter" / "adapter_config.json").is_file()
    dev = load_swarm_config(run_dir.path / "config.yaml").load_task("dev")
    spec = AgentSpec(model="tiny:quick/base", adapter=summary["adapter"], generation={"max_new_tokens": 20})
    answers = ModelHost({"merged": spec}).generate("merged", [SOURCE_TEMPLATE.format(question=q) for q in dev.inputs])
    assert dev.accuracy(answers) == pytest.approx(summary["systems"][summary["merged"]]["dev"])
    assert {"uniform merge", "random graphs (mean)", *EXPERTS} <= set(summary["systems"])
    assert (run_dir.path / "convergence.png").is_file() and (run_dir.path / "summary.json").is_file()


def test_lorahub_logs_every_particles_coefficients_and_merges_by_the_best(lorahub):
    summary, run_dir = lorahub
    rounds = [row for row in run_dir.read_log() if row["event"] == "iteration"]
    assert len(rounds) == 3 and summary["iterations"] == 2
    for row in rounds:
        assert len(row["coefficients"]) == 5 and all(len(w) == len(EXPERTS) for w in row["coefficients"])
        penalties = [0.05 * sum(abs(x) for x in w) / len(w) for w in row["coefficients"]]
        assert row["utilities"] == pytest.approx([s - p for s, p in zip(row["scores"], penalties, strict=True)])
    # round 0 starts at the base (w = 0) and at each expert alone
    assert rounds[0]["coefficients"][:4] == [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert summary["best_dev_utility"] == max(u for row in rounds for u in row["utilities"])
    weights = torch.tensor([summary["coefficients"][name] for name in EXPERTS])
    assert torch.allclose(saved_vector(summary), weights @ expert_vectors(), atol=1e-6)


def test_lorahub_is_reproducible_from_the_seed(lorahub, run):
    again, _ = run("lorahub", **LORAHUB)
    assert again["coefficients"] == lorahub[0]["coefficients"] and again["g_history"] == lorahub[0]["g_history"]
    assert again["systems"] == lorahub[0]["systems"]


def test_an_interrupted_lorahub_search_resumes_to_the_same_result(run, tmp_path, interrupt_then_resume):
    settings = {"lorahub": {"population": 5, "bound": 0.9, "pso": {"max_iterations": 4, "patience": 10}}}
    straight, run_dir = run("lorahub", **settings)
    rounds = [row for row in run_dir.read_log() if row["event"] == "iteration"]
    assert max(abs(x) for row in rounds for w in row["coefficients"] for x in w) <= 0.9  # LoraHub's bounds
    (tmp_path / "swarm.yaml").write_text(yaml.safe_dump(config("lorahub", **settings), sort_keys=False))
    resumed = interrupt_then_resume(tmp_path / "swarm.yaml", tmp_path / "runs")
    assert resumed["coefficients"] == straight["coefficients"] and resumed["g_history"] == straight["g_history"]


def test_expo_in_delta_space_picks_alpha_on_dev(run):
    summary, run_dir = run("expo", space="delta", expo={"weak": "twins", "alphas": [0.0, 0.5]})
    systems = summary["systems"]
    (grid,) = [row for row in run_dir.read_log() if row["event"] == "iteration" and row["iteration"] == 1]
    assert grid["alphas"] == [0.0, 0.5] and summary["alpha"] == grid["alphas"][grid["utilities"].index(grid["best"])]
    assert summary["weak"] == "twins" and summary["strong"] == max(("codes", "capitals"), key=lambda n: systems[n]["dev"])
    assert systems[summary["merged"]]["dev"] == pytest.approx(summary["best_dev_utility"])
    assert summary["best_dev_utility"] >= systems[summary["strong"]]["dev"]  # α = 0 is the strong expert itself


def test_a_merge_naming_an_unknown_expert_is_one_line_before_anything_loads(tmp_path):
    path = tmp_path / "swarm.yaml"
    path.write_text(yaml.safe_dump(config("expo", expo={"strong": "codez"})))
    with pytest.raises(ConfigError, match="expo.strong: no expert 'codez' \\(did you mean \"codes\"\\?\\)") as err:
        load_swarm_config(path)
    assert "\n" not in str(err.value)
    path.write_text(yaml.safe_dump(config("ties", ties={"density": 0})))
    with pytest.raises(ConfigError, match="weight_merging.ties.density"):
        load_swarm_config(path)
