"""`rayswarm compare`: many kinds of collaboration on one task, one table of score, tokens and time.

Every method is built from the same agents in the order given, with one convention: the FIRST agent
is the main model (the aggregator, fuser, answerer, refined agent, router, contrastive expert),
the LAST is the contrastive amateur, and a cascade tries the agents in the order given.

- Graph methods (single agents, text- API- and logit-level collaboration) run as graphs on one
  AgentPool whose actors load every agent once, so no row pays for model loading. Tokens are what
  the actors generated during the row, a trained router's training answers included.
- Swarm methods (weight level: merges, Model Swarms, Heterogeneous Swarms) search on dev and report
  the split through their own run (rayswarm/runner.execute_swarm), inside the compare run
  directory. Their time and tokens include the search.

Methods that learn (trained router, weight searches, swarms) learn on dev; report on test (the
default) to compare them fairly with the methods that learn nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rayswarm.graphs import patterns
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.rundir import RunDir
from rayswarm.graphs.schema import did_you_mean
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tables import format_table
from rayswarm.graphs.tasks import Task

GraphBuilder = Callable[[list[str], dict[str, AgentSpec], Task], Graph]


def _ensemble(method: str, kind: str, **fields) -> GraphBuilder:
    """A one-node graph whose node is an ensemble named after its method: the pool that runs every
    method holds every method's ensemble, so two routers must not share a name."""
    def build(names: list[str], agents: dict[str, AgentSpec], task: Task) -> Graph:
        members = {"expert": names[0], "amateur": names[-1]} if kind == "contrastive" else {"agents": names}
        extra = {key: value(names, task) if callable(value) else value for key, value in fields.items()}
        return Graph.from_dict({"agents": agents, "ensembles": {method: {"kind": kind, **members, **extra}},
                                "nodes": [{"name": "answer", "agent": method}]}, source=f"method '{method}'")
    return build


GRAPH_METHODS: dict[str, tuple[str, GraphBuilder]] = {
    "majority_vote": ("text", lambda n, a, t: patterns.majority_vote(n, agents=a)),
    "debate": ("text", lambda n, a, t: patterns.debate(n, 2, agents=a)),
    "refine": ("text", lambda n, a, t: patterns.refine(n[0], n[1], 1, agents=a)),
    "mixture_of_agents": ("text", lambda n, a, t: patterns.mixture_of_agents([n], n[0], agents=a)),
    "rank_and_fuse": ("text", lambda n, a, t: patterns.rank_and_fuse(n, n[0], 2, agents=a)),
    "knowledge_cards": ("text", lambda n, a, t: patterns.knowledge_cards(n[1:], n[0], agents=a)),
    "router_prompted": ("api", _ensemble("router_prompted", "router", router=lambda n, t: n[0])),
    "router_trained": ("api", _ensemble("router_trained", "router", mode="trained", train_task=lambda n, t: t.name,
                                        train_limit=lambda n, t: len(t.examples))),
    "cascade": ("api", _ensemble("cascade", "cascade")),
    "switch": ("api", _ensemble("switch", "switch")),
    "fusion": ("logit", _ensemble("fusion", "fusion")),
    "contrastive": ("logit", _ensemble("contrastive", "contrastive")),
}
WEIGHT_MERGES = ("uniform_soup", "greedy_soup", "ties", "dare", "lorahub", "expo")
SWARM_METHODS: dict[str, str] = {"model_swarms": "weight", "heterogeneous_swarms": "graph+weight",
                                 **dict.fromkeys(WEIGHT_MERGES, "weight")}
DEFAULT_METHODS = ("single", "majority_vote", "debate", "mixture_of_agents", "rank_and_fuse", "knowledge_cards",
                   "cascade", "router_trained", "fusion", "uniform_soup")
ALL_METHODS = ("single", *GRAPH_METHODS, *SWARM_METHODS)


@dataclass
class Row:
    method: str
    level: str
    score: float
    tokens: int
    seconds: float


def agent_name(source: str) -> tuple[str, AgentSpec]:
    """`name=source`, or a source named after its last part: tiny:codes -> codes, /m/base -> base."""
    name, _, model = source.rpartition("=")
    if not name:
        name = model.rstrip("/").replace(":", "/").rsplit("/", 1)[-1]
    return name, AgentSpec(model=model)


def check_methods(methods: list[str], agents: list[str]) -> None:
    for method in methods:
        if method not in ALL_METHODS:
            raise ConfigError(f"unknown method '{method}'{did_you_mean(method, ALL_METHODS)}; "
                              f"known: {', '.join(ALL_METHODS)}")
    if len(agents) < 2 and set(methods) - {"single"}:
        raise ConfigError("collaboration needs at least two agents")
    if len(set(agents)) < len(agents):
        raise ConfigError(f"two agents are named alike in {agents}: name them, e.g. small=tiny:base")


def graphs_for(methods: list[str], agents: dict[str, AgentSpec], test: Task) -> dict[str, Graph]:
    """Every graph-method row's graph, built (and so validated) before any model loads."""
    names = list(agents)
    graphs = {}
    for method in methods:
        if method == "single":
            graphs.update({f"single:{name}": patterns.chain([name], agents=agents) for name in names})
        elif method in GRAPH_METHODS:
            graphs[method] = GRAPH_METHODS[method][1](names, agents, test)
    return graphs


def level_of(method: str) -> str:
    if method.startswith("single:"):
        return "single"
    return GRAPH_METHODS[method][0] if method in GRAPH_METHODS else SWARM_METHODS[method]


def run_graph_methods(graphs: dict[str, Graph], agents: dict[str, AgentSpec], test: Task, seed: int,
                      local: bool, address: str | None, progress: Callable[[str], None]) -> Iterator[Row]:
    from rayswarm.graphs.execute import run_graph
    from rayswarm.runner import graph_backend

    ensembles = {name: spec for graph in graphs.values() for name, spec in graph.ensembles.items()}
    with graph_backend(agents, seed, local, address, ensembles) as backend:
        for method, graph in graphs.items():
            progress(method)
            tokens, start = backend.tokens_generated(), time.perf_counter()
            final = run_graph(graph, test.inputs, backend).final
            seconds = time.perf_counter() - start
            yield Row(method, level_of(method), test.accuracy(final), backend.tokens_generated() - tokens, seconds)


def run_swarm_method(method: str, agents: dict[str, AgentSpec], task: Task, limit: int | None,
                     iterations: int, seed: int, run_root: Path, address: str | None) -> Row:
    from rayswarm.config import SwarmConfig
    from rayswarm.runner import execute_swarm
    from rayswarm.swarms.evaluator import EvaluatorPool

    merge = method in WEIGHT_MERGES
    # The other rows are the baselines here: a swarm's own final table would only add their cost.
    settings = {"pso": {"max_iterations": iterations}, "baselines": False}
    if merge:
        settings = {"merge": method, "baselines": False,
                    "lorahub": {"pso": {"max_iterations": iterations, "patience": 4}}}
    if method == "heterogeneous_swarms":
        pso = {"patience": 6, "max_iterations": iterations}  # the method's own patience, fewer iterations
        settings = {"graph_pso": pso, "model_pso": pso, "baselines": False}
    data = {"name": method, "seed": seed, "method": "weight_merging" if merge else method,
            "task": {"name": task.name, "metric": task.metric, "limit": limit}, "experts": agents,
            ("weight_merging" if merge else method): settings}
    config = SwarmConfig.model_validate(data)
    tokens, start = EvaluatorPool.tokens_spent, time.perf_counter()
    summary, _ = execute_swarm(config, run_root, address)
    seconds = time.perf_counter() - start
    found = next(iter(summary["systems"].values()))  # the optimised system comes first in every swarm table
    return Row(method, SWARM_METHODS[method], found[task.split], EvaluatorPool.tokens_spent - tokens, seconds)


def compare(task: Task, agents: dict[str, AgentSpec], methods: list[str], *, limit: int | None, iterations: int,
            seed: int, run_root: str | Path, local: bool, address: str | None,
            progress: Callable[[str], None] = lambda method: None) -> tuple[list[Row], RunDir]:
    graphs = graphs_for(methods, agents, task)
    swarms = [method for method in methods if method in SWARM_METHODS]
    if swarms and local:
        raise ConfigError(f"{swarms[0]} runs on Ray actors: drop --local or the method")
    run_dir = RunDir(run_root, f"compare-{task.name.replace(':', '-').replace('/', '-')}")
    rows = []
    for row in run_graph_methods(graphs, agents, task, seed, local, address, progress) if graphs else []:
        rows.append(row)
        run_dir.log(event="method", **vars(row))  # as each finishes: a failure later loses nothing
    for method in swarms:
        progress(method)
        rows.append(run_swarm_method(method, agents, task, limit, iterations, seed, run_dir.path / "swarms",
                                     address))
        run_dir.log(event="method", **vars(rows[-1]))
    run_dir.write_summary({"task": task.name, "split": task.split, "examples": len(task.examples),
                           "rows": [vars(row) for row in rows]})
    return rows, run_dir


def compare_table(rows: list[Row], task: Task) -> str:
    title = f"{task.name} [{task.split}, {len(task.examples)} examples, {task.metric}]"
    return format_table(["method", "level", "score", "tokens", "seconds"],
                        [[r.method, r.level, r.score, r.tokens, r.seconds] for r in rows], title=title)
