"""The final table every swarm prints: the optimised system against the systems it must beat.

On dev and test: each initial expert alone, the best single expert (picked on dev), a uniform
merge of the experts' weights, a fixed mixture-of-agents graph (every expert, then the best single
one aggregating) and random G-Decoded graphs (mean and best). All are graphs scored by the same
evaluator actors, with the same prompts, so the rows differ only in the system.
"""

from __future__ import annotations

import torch

from rayswarm.graphs.execute import run_graphs
from rayswarm.graphs.gdecode import graph_from_adjacency
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.patterns import chain, mixture_of_agents
from rayswarm.graphs.tasks import Task
from rayswarm.swarms.evaluator import EvaluatorPool, WeightsBackend
from rayswarm.swarms.experts import Experts, systems_by_split


class Scorer:
    """Dev/test utility of many systems at once, on the evaluator actors."""

    def __init__(self, experts: Experts, pool: EvaluatorPool):
        self.experts = experts
        self.names = experts.names
        self.agents = {name: experts.template.model_copy(update={"adapter": None}) for name in self.names}
        self.pool = pool

    def graph(self, adjacency: torch.Tensor, assignment=None) -> Graph:
        n = len(self.names)
        return graph_from_adjacency(adjacency.reshape(n, n).numpy(), self.agents, assignment)

    def score(self, graphs: list[Graph], weights: torch.Tensor, task: Task) -> list[float]:
        """Each graph's accuracy on `task`, every agent k running with weights[k]."""
        backend = WeightsBackend(self.pool, weights, {name: k for k, name in enumerate(self.names)})
        return [task.accuracy(result.final) for result in run_graphs(graphs, task.inputs, backend)]


def random_adjacency(n: int, rng: torch.Generator) -> torch.Tensor:
    """A random graph particle: U(0,1) edge strengths, no self-loops (as H-Swarms initialises them)."""
    return torch.rand(n, n, generator=rng) * (1 - torch.eye(n))


def baseline_table(scorer: Scorer, optimised: dict[str, tuple[Graph, torch.Tensor]], random_graphs: int,
                   dev: Task, test: Task, seed: int, baselines: bool = True) -> dict:
    """{system: {dev, test}} for the optimised systems (label -> (graph, weights)) and, unless
    baselines=False (`rayswarm compare` times the method alone), the baselines."""
    if not baselines:
        return {label: {split: scorer.score([graph], weights, task)[0] for split, task in (("dev", dev), ("test", test))}
                for label, (graph, weights) in optimised.items()}
    experts = scorer.experts
    names, agents, n = experts.names, scorer.agents, len(experts.names)
    splits = {"dev": dev, "test": test}
    singles = [chain([name], agents=agents) for name in names]
    table = {split: dict(zip(names, scorer.score(singles, experts.vectors, task), strict=True))
             for split, task in splits.items()}
    aggregator = max(names, key=table["dev"].get)  # picked on dev, like every choice
    moa = f"mixture of agents (all -> {aggregator})"
    rng = torch.Generator().manual_seed(seed + 1)
    fixed = [mixture_of_agents([names], aggregator, agents=agents)] + [
        scorer.graph(random_adjacency(n, rng)) for _ in range(random_graphs)]
    merged = experts.vectors.mean(0, keepdim=True).expand(n, -1)
    for split, task in splits.items():
        found = {label: scorer.score([graph], weights, task)[0] for label, (graph, weights) in optimised.items()}
        moa_score, *randoms = scorer.score(fixed, experts.vectors, task)
        (uniform,) = scorer.score([singles[0]], merged, task)
        table[split] = {**found, **table[split], "uniform merge": uniform, moa: moa_score,
                        "random graphs (mean)": sum(randoms) / len(randoms), "random graphs (best)": max(randoms)}
    return systems_by_split(table, names)
