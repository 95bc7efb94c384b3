"""Model Swarms end to end on the quick toy zoo: the table, the adapter, faults and resume."""

import json
import os
import signal
import threading
import time

import psutil
import pytest
import ray
import torch
import yaml

from rayswarm.actors.host import ModelHost
from rayswarm.config import load_swarm_config
from rayswarm.graphs.messages import SOURCE_TEMPLATE
from rayswarm.graphs.spec import AgentSpec
from rayswarm.runner import execute_swarm
from rayswarm.swarms.evaluator import EvaluatorPool

CONFIG = {
    "name": "ms",
    "seed": 3,
    "task": {"name": "toy:quick/mixed", "limit": 24},
    "experts": {name: {"model": f"tiny:quick/{name}", "generation": {"max_new_tokens": 20}}
                for name in ("codes", "twins", "capitals")},
    "model_swarms": {"population": 5, "pso": {"max_iterations": 3, "patience": 10}},
}


@pytest.fixture(scope="module")
def config_path(quick_zoo, tmp_path_factory):
    path = tmp_path_factory.mktemp("ms") / "swarm.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


@pytest.fixture(scope="module")
def straight(ray_local, config_path, tmp_path_factory):
    """An uninterrupted run: the reference the fault and resume tests must reproduce."""
    return execute_swarm(load_swarm_config(config_path), tmp_path_factory.mktemp("runs"))


def test_the_run_reports_every_system_and_saves_the_best_adapter(straight):
    summary, run_dir = straight
    systems = summary["systems"]
    assert {"model swarms (global best)", "codes", "twins", "capitals", "uniform merge", "random graphs (mean)"} <= set(systems)
    assert any(name.startswith("best single expert") for name in systems)
    # The experts are particles, so the best ever found on dev is at least the best expert's dev score.
    assert summary["best_dev_utility"] >= max(systems[n]["dev"] for n in ("codes", "twins", "capitals"))
    assert systems["model swarms (global best)"]["dev"] == pytest.approx(summary["best_dev_utility"])
    assert summary["iterations"] == 3 and summary["particles"] == 5
    for name in ("summary.json", "log.jsonl", "convergence.png", "config.yaml", "checkpoints/swarm.pt"):
        assert (run_dir.path / name).is_file(), name
    assert json.loads((run_dir.path / "summary.json").read_text())["systems"] == systems


def test_the_saved_adapter_is_a_plain_peft_adapter_with_the_reported_score(straight):
    summary, run_dir = straight
    config = load_swarm_config(run_dir.path / "config.yaml")
    dev = config.load_task("dev")
    spec = AgentSpec(model=config.experts["codes"].model, adapter=summary["adapter"],
                     generation=config.experts["codes"].generation)
    answers = ModelHost({"best": spec}).generate("best", [SOURCE_TEMPLATE.format(question=q) for q in dev.inputs])
    assert dev.accuracy(answers) == pytest.approx(summary["systems"]["model swarms (global best)"]["dev"])


def evaluator_pids() -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if any("ParticleEvaluator" in part for part in (p.info["cmdline"] or []))]


def test_a_killed_evaluator_mid_iteration_changes_nothing(straight, config_path, tmp_path):
    run_root = tmp_path / "runs"
    killed = []

    def kill_during_round_two():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            runs = list(run_root.glob("ms-*/log.jsonl"))
            rounds = [line for line in runs[0].read_text().splitlines() if '"iteration"' in line] if runs else []
            if len(rounds) >= 2 and evaluator_pids():
                for pid in evaluator_pids():
                    os.kill(pid, signal.SIGKILL)
                killed.append(True)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_during_round_two)
    killer.start()
    summary, _ = execute_swarm(load_swarm_config(config_path), run_root)
    killer.join()
    assert killed, "the evaluator was never killed"
    assert summary["systems"] == straight[0]["systems"] and summary["g_history"] == straight[0]["g_history"]


def test_an_interrupted_driver_resumes_to_the_same_result(straight, config_path, tmp_path, interrupt_then_resume):
    summary = interrupt_then_resume(config_path, tmp_path)
    assert summary["systems"] == straight[0]["systems"] and summary["g_history"] == straight[0]["g_history"]


def test_the_evaluator_pool_splits_examples_and_keeps_order(ray_local, quick_zoo):
    spec = AgentSpec(model="tiny:quick/codes", generation={"max_new_tokens": 12})
    host = ModelHost({"codes": spec})
    vectors = torch.stack([host.get_vector("codes"), torch.zeros_like(host.get_vector("codes"))])
    prompts = [f"What is the country with code {c}?" for c in ("AB", "CD", "EF", "GH", "IJ")]
    pool = EvaluatorPool(spec, slots=2, actors=2)
    try:
        outputs = pool.outputs(vectors, prompts, spec.generation)
    finally:
        pool.shutdown()
    assert outputs[0] == host.generate("codes", prompts)
    host.set_vector("codes", vectors[1])
    assert outputs[1] == host.generate("codes", prompts)
    assert ray.is_initialized()


def test_experts_asking_for_missing_gpus_are_refused_before_any_model_loads(ray_local, tmp_path, monkeypatch):
    from rayswarm.agents import zoo
    from rayswarm.config import SwarmConfig
    from rayswarm.graphs.errors import ConfigError

    monkeypatch.setattr(zoo, "resolve_tiny", lambda name: pytest.fail(f"loaded {name}"))
    config = {**CONFIG, "experts": {name: {**spec, "num_gpus": 0.5} for name, spec in CONFIG["experts"].items()}}
    with pytest.raises(ConfigError, match="ask for 0.5 GPUs in all but the cluster has 0"):
        execute_swarm(SwarmConfig.model_validate(config), tmp_path)
    with pytest.raises(ConfigError, match="ask for 1 GPUs in all but the cluster has 0"):
        EvaluatorPool(AgentSpec(model="tiny:quick/codes", num_gpus=0.5), slots=2, actors=2)
