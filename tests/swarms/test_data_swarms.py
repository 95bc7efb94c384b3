"""Data Swarms and Adversarial Swarms end to end on the quick toy zoo: outputs, resume, config errors.

Generators are fresh LoRAs on the quick base, trained briefly on two length clusters of the sort
task's dev inputs; they write many malformed items (counted, dropped, padded over), some valid
ones. The test takers are quick zoo models; the sort answer key gives every valid item a target.
"""

import copy

import numpy as np
import pytest
import yaml

from rayswarm.agents.datagen import sort_answer
from rayswarm.agents.tasksource import load_task_source
from rayswarm.config import load_swarm_config
from rayswarm.graphs.errors import RayswarmError
from rayswarm.runner import execute_swarm

GENERATOR = {"model": "tiny:quick/base", "generation": {"temperature": 1.0, "max_new_tokens": 80}}
CONFIG = {
    "name": "ds", "seed": 2, "method": "data_swarms",
    "task": {"name": "toy:quick/sort"},
    "experts": {"short": GENERATOR, "long": GENERATOR},
    "data_swarms": {
        "takers": {name: {"model": f"tiny:quick/{name}", "generation": {"max_new_tokens": 10}}
                   for name in ("sort", "base", "codes")},
        "answer_key": "sort", "objective": "mixed", "domain": "sorting letters",
        "instruction": "{shots} examples of {domain}; write {items} more.\n\n{examples}",
        "shots": 3, "items": 3, "prompts": 4, "final_prompts": 8, "reference_items": 8,
        "cluster_sft": {"steps": 150, "batch_size": 4},
        "pso": {"max_iterations": 3, "patience": 10},
    },
}


def write_config(folder, config) -> str:
    path = folder / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def config_path(quick_zoo, tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("ds"), CONFIG)


@pytest.fixture(scope="module")
def straight(ray_local, config_path, tmp_path_factory):
    """An uninterrupted run: the reference the resume test must reproduce."""
    return execute_swarm(load_swarm_config(config_path), tmp_path_factory.mktemp("runs"))


def test_the_run_logs_every_round_and_reports_the_generators(straight):
    summary, run_dir = straight
    assert summary["method"] == "data_swarms" and summary["iterations"] == 3 and len(summary["g_history"]) == 4
    assert {"short", "long", "data swarms (global best)"} <= set(summary["systems"])
    assert any(name.startswith("best single expert") for name in summary["systems"])
    rounds = [row for row in run_dir.read_log() if row["event"] == "iteration"]
    assert len(rounds) == 4  # the initial generators, then 3 iterations
    for row in rounds:
        assert set(row["objectives"]) == {"difficulty", "separation", "novelty"}
        mixed = [0.6 * d + 0.2 * s + 0.2 * n for d, s, n in zip(*row["objectives"].values(), strict=True)]
        # a generator that wrote nothing usable gets 0; every other one the reference's mix
        assert all(u == pytest.approx(m) or u == 0 for u, m in zip(row["utilities"], mixed, strict=True))
        assert row["outputs"] == 2 * 4 and row["parsed"] + row["unjudgeable"] >= row["parsed"]
        assert row["best"] == pytest.approx(max(r["best"] for r in rounds[: rounds.index(row) + 1]))
    # everything the generators wrote is accounted for: each round asks 2 generators × 4 prompts × 3 items
    counts = summary["counts"]
    assert counts["outputs"] == 4 * 2 * 4 and counts["unparseable"] <= counts["outputs"]
    for name in ("summary.json", "log.jsonl", "convergence.png", "objectives.png", "checkpoints/swarm.pt",
                 "best_adapter/adapter_config.json"):
        assert (run_dir.path / name).is_file(), name


def test_the_dataset_is_a_task_whose_targets_are_the_answer_keys(straight):
    summary, _ = straight
    task = load_task_source(summary["dataset"], split="dev")
    assert task.examples and len(set(task.inputs)) == len(task.inputs)
    assert all(ex.target == sort_answer(ex.input) for ex in task.examples)
    assert task.accuracy([ex.target for ex in task.examples]) == 1.0


def test_an_interrupted_driver_resumes_to_the_same_result(straight, config_path, tmp_path, interrupt_then_resume):
    summary = interrupt_then_resume(config_path, tmp_path)
    assert summary["systems"] == straight[0]["systems"] and summary["g_history"] == straight[0]["g_history"]
    assert summary["counts"] == straight[0]["counts"]


def test_adversarial_swarms_alternate_and_log_held_out_scores(ray_local, quick_zoo, tmp_path):
    # No answer key: the dev pool keeps its targets, generated items go to a local LLM judge.
    config = copy.deepcopy(CONFIG)
    config["name"] = "adv"
    settings = config["data_swarms"]
    settings.update(adversarial=True, objective="difficulty", answer_key=None, pool_items=6,
                    judge={"model": "tiny:quick/base", "generation": {"max_new_tokens": 8}},
                    pso={"max_iterations": 2, "patience": 10}, model_pso={"max_iterations": 2, "patience": 10})
    summary, run_dir = execute_swarm(load_swarm_config(write_config(tmp_path, config)), tmp_path / "runs")
    rounds = [row for row in run_dir.read_log() if row["event"] == "iteration"]
    assert summary["method"] == "adversarial_swarms" and len(rounds) == 3
    test = load_task_source("toy:quick/sort", split="test")
    for row in rounds:
        assert len(row["taker_utilities"]) == 3 and len(row["taker_test"]) == 3
        assert row["taker_test_best"] == max(row["taker_test"])
        assert all(np.isclose(score * len(test.examples), round(score * len(test.examples)))
                   for score in row["taker_test"])  # exact match on the held-out split
        assert row["unjudgeable"] == 0  # the judge scores what has no target
    assert summary["taker_test_best"] == [row["taker_test_best"] for row in rounds]
    assert {"sort", "base", "codes", "adversarial swarms (best taker)"} <= set(summary["systems"])
    pool = load_task_source(summary["dataset"], split="dev")
    assert 0 < len(pool.examples) <= 6
    assert (run_dir.path / "best_taker_adapter" / "adapter_config.json").is_file()


@pytest.mark.parametrize(("change", "message"), [
    ({"data_swarms": None}, "needs a `data_swarms:` section"),
    ({"data_swarms": {"objective": "consistency"}}, "set `sets` to 2 or more"),
    ({"data_swarms": {"adversarial": True, "objective": "novelty"}}, "optimise difficulty only"),
    ({"data_swarms": {"answer_key": None}}, "nothing can judge the generated items"),
    ({"data_swarms": {"answer_key": "sorted"}}, "unknown answer_key 'sorted' (did you mean \"sort\"?)"),
    ({"data_swarms": {"objective": "mixed", "weights": {"difficulty": 1, "realism": 1}}}, "unknown objective"),
    ({"data_swarms": {"takers": {"sort": {"model": "tiny:quick/sortt"}, "base": {"model": "tiny:quick/base"}}}},
     "agent 'sort': unknown tiny model"),
    ({"task": {"name": "toy:quick/sort", "metric": "choice"}}, "generated items have no choices"),
])
def test_bad_settings_are_one_line_errors_before_any_model_loads(tmp_path, change, message):
    config = copy.deepcopy(CONFIG)
    for key, value in change.items():
        if isinstance(value, dict) and key == "data_swarms":
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    with pytest.raises(RayswarmError) as error:
        load_swarm_config(write_config(tmp_path, config))
    assert message in str(error.value) and "\n" not in str(error.value)
