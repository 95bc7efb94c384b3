"""Run a graph config over its task and report: the engine behind `rayswarm run` and the demo."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from rayswarm.agents.backend import LocalBackend
from rayswarm.config import RunConfig, SwarmConfig
from rayswarm.graphs.execute import GraphResult, run_graph
from rayswarm.graphs.rundir import RunDir, write_jsonl
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tables import format_table
from rayswarm.graphs.tasks import Task


@dataclass
class RunReport:
    task: Task
    result: GraphResult
    node_scores: dict[str, float]  # accuracy of every node's outputs, as if it were the output
    seconds: float

    @property
    def final_score(self) -> float:
        return self.node_scores[self.result.output_node]

    def table(self, graph) -> str:
        rows = [
            [name, graph.node(name).agent or f"({graph.node(name).fan_in})", score]
            for name, score in self.node_scores.items()
        ]
        title = (f"{self.task.name} [{self.task.split}, {len(self.task.examples)} examples, "
                 f"{self.task.metric}] — output node '{self.result.output_node}'")
        return format_table(["node", "agent", "score"], rows, title=title)


@contextlib.contextmanager
def graph_backend(agents: dict[str, AgentSpec], seed: int = 0, local: bool = False,
                  address: str | None = None, ensembles: dict | None = None) -> Iterator:
    """Where a graph's agents run, every model loaded before the block starts.

    Default: actors on Ray (embedded locally, or the cluster at `address` / RAY_ADDRESS).
    local=True: this process, no Ray (quick checks, debugging, the overhead baseline).
    """
    if local:
        backend = LocalBackend(agents, seed=seed, ensembles=ensembles)
        backend.load_all()
        yield backend
        return
    from rayswarm.actors.pool import AgentPool
    from rayswarm.clusters.connect import connect

    connect(address)
    with AgentPool(agents, seed=seed, ensembles=ensembles) as pool:
        pool.load_all()
        yield pool


def evaluate_graph(config: RunConfig, task: Task, backend) -> RunReport:
    start = time.perf_counter()
    result = run_graph(config.graph, task.inputs, backend)
    seconds = time.perf_counter() - start
    scores = {name: task.accuracy(result.outputs[name]) for name in config.graph.topological_order()}
    return RunReport(task, result, scores, seconds)


def prediction_rows(report: RunReport) -> list[dict]:
    final = report.result.final
    scores = report.task.score(final)
    return [
        {
            "input": ex.input,
            "target": ex.target,
            "prediction": final[i],
            "score": scores[i],
            "nodes": {name: outs[i] for name, outs in report.result.outputs.items()},
        }
        for i, ex in enumerate(report.task.examples)
    ]


def execute_run(config: RunConfig, split: str | None = None, limit: int | None = None,
                run_root: str | Path = "runs", output: str | Path | None = None, local: bool = False,
                address: str | None = None) -> tuple[RunReport, RunDir]:
    """Validate, load, run, score, write. Nothing is written until every model has loaded."""
    task = config.load_task(split, limit)
    with graph_backend(config.graph.agents, config.seed, local, address, config.graph.ensembles) as backend:
        run_dir = RunDir(run_root, config.name)  # only now: every model loaded, so the input was good
        run_dir.write_config(config.model_dump(mode="json", exclude_defaults=True))
        run_dir.log(event="start", examples=len(task.examples), backend=type(backend).__name__)
        report = evaluate_graph(config, task, backend)
    rows = prediction_rows(report)
    run_dir.write_jsonl("predictions.jsonl", rows)
    for name, score in report.node_scores.items():
        run_dir.log(event="node_score", node=name, score=score)
    run_dir.write_summary({
        "task": task.name, "split": task.split, "metric": task.metric, "examples": len(task.examples),
        "output_node": report.result.output_node, "score": report.final_score,
        "node_scores": report.node_scores, "seconds": round(report.seconds, 3),
    })
    if output is not None:
        write_jsonl(output, rows)
    return report, run_dir


def execute_swarm(config: SwarmConfig, run_root: str | Path = "runs", address: str | None = None,
                  run_dir: RunDir | None = None) -> tuple[dict, RunDir]:
    """Run (or, given the existing run_dir, resume) a swarm; writes summary.json, the plot, the adapter."""
    from rayswarm.actors.pool import check_gpus
    from rayswarm.clusters.connect import connect
    from rayswarm.swarms.data_swarms import run_data_swarms
    from rayswarm.swarms.heterogeneous_swarms import run_heterogeneous_swarms
    from rayswarm.swarms.model_swarms import run_model_swarms
    from rayswarm.swarms.progress import plot_convergence
    from rayswarm.swarms.weight_merging import run_weight_merge

    dev, test = config.load_task("dev"), config.load_task("test")
    connect(address)
    # A GPU the cluster lacks fails now, not after the experts are built and loaded.
    check_gpus(max(spec.num_gpus for spec in config.experts.values()))
    if run_dir is None:
        run_dir = RunDir(run_root, config.name)
        run_dir.write_config(config.model_dump(mode="json", exclude_defaults=True))
    if config.method == "heterogeneous_swarms":
        summary = run_heterogeneous_swarms(config.experts, dev, test, config.settings(), run_dir, config.seed)
        write_best_run_config(config, Path(summary["best_graph"]))
    elif config.method == "weight_merging":
        summary = run_weight_merge(config.experts, dev, test, config.settings(), run_dir, config.seed)
    elif config.method == "data_swarms":
        summary = run_data_swarms(config.experts, dev, test, config.settings(), run_dir, config.seed)
    else:
        summary = run_model_swarms(config.experts, dev, test, config.settings(), run_dir)
    summary = {"task": dev.name, "dev_examples": len(dev.examples), "test_examples": len(test.examples), **summary}
    run_dir.write_summary(summary)
    rounds = {row["iteration"]: row for row in run_dir.read_log() if row.get("event") == "iteration"}
    if rounds:  # a merge that searches nothing (a soup, TIES, DARE) has no rounds to plot
        plot_convergence([rounds[i] for i in sorted(rounds)], run_dir.path / "convergence.png",
                         f"{config.name}: {config.method} on {dev.name}")
    return summary, run_dir


def swarm_table(summary: dict) -> str:
    rows = [[name, scores["dev"], scores["test"]] for name, scores in summary["systems"].items()]
    title = (f"{summary['task']}: {summary['method']}, {summary['iterations']} iterations "
             f"(dev {summary['dev_examples']}, test {summary['test_examples']})")
    return format_table(["system", "dev", "test"], rows, title=title)


def write_best_run_config(config: SwarmConfig, graph_yaml: Path) -> Path:
    """best/run.yaml beside best/graph.yaml: `rayswarm run` it to score the optimised system again."""
    graph = yaml.safe_load(graph_yaml.read_text(encoding="utf-8"))
    task = config.task.model_dump(exclude_defaults=True, exclude={"test_limit"})  # a graph run has one limit
    run = {"name": f"{config.name}-best", "seed": config.seed, "task": task, "graph": graph}
    target = graph_yaml.parent / "run.yaml"
    target.write_text(yaml.safe_dump(run, sort_keys=False), encoding="utf-8")
    return target
