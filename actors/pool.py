"""AgentPool: a graph's agents placed on Ray actors, and the Ray backend of the graph executor.

Placement:
- agents that share a base model (base_key) share one actor, hot-swapping their LoRA adapters;
- each such group gets as many actors as its agents ask `replicas`, and every batch is split evenly
  across them;
- every request of a wavefront is sent before any result is awaited, so independent nodes on
  different actors run at the same time.

CPU sizing: an actor holds its CPUs for as long as it lives. If the agents' actors together asked
for every CPU of the cluster, any other task (a metric, a Train worker, another actor) would wait
forever. So the pool never takes more than `total CPUs - reserve_cpus`: when the agents ask for more,
each actor's share is scaled down (Ray CPUs are a scheduling unit, not a thread limit; each actor
still runs as many math threads as it asked for whole CPUs, at least one). GPUs are not scaled:
asking for more than the cluster has is an error, raised before any actor starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import ray
import torch

from rayswarm.actors.agent_actor import start_actor
from rayswarm.actors.host import base_key
from rayswarm.agents.decoding import Completion
from rayswarm.agents.ensemble import run_ensemble
from rayswarm.graphs.ensembles import EnsembleSpec
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.execute import NodeRequest
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

log = logging.getLogger(__name__)


@dataclass
class Placement:
    """One group of agents sharing a base model, and the actors that host it."""

    agents: list[str]
    num_cpus: float
    num_gpus: float
    actors: list  # ActorHandles, one per replica


def even_chunks(n: int, parts: int) -> list[range]:
    """Split range(n) into at most `parts` contiguous, near-equal, non-empty ranges."""
    parts = max(1, min(parts, n))
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def fit_cpus(asked: Sequence[float], total: float, reserve: float) -> list[float]:
    """Scale the actors' CPU requests down so together they leave `reserve` CPUs of `total` free."""
    budget = total - reserve
    if budget <= 0:
        raise ConfigError(f"the cluster has {total:g} CPUs, none left after reserving {reserve:g} for other work")
    demand = sum(asked)
    if demand <= budget:
        return list(asked)
    scale = budget / demand
    # Ray accounts resources in units of 1e-4; round down so the sum never exceeds the budget.
    return [max(1e-4, int(cpus * scale * 1e4) / 1e4) for cpus in asked]


def default_reserve(total: float) -> float:
    """Leave one CPU (a quarter on machines with fewer than 4) for work outside the pool."""
    return 1.0 if total >= 4 else total / 4


def check_gpus(asked: float) -> None:
    """Refuse, before any actor starts, GPUs the cluster lacks (such an actor would wait forever)."""
    total = ray.cluster_resources().get("GPU", 0.0)
    if asked > total + 1e-9:
        raise ConfigError(f"the agents ask for {asked:g} GPUs in all but the cluster has "
                          f"{total:g}: lower num_gpus (fractions share a GPU) or add GPUs")


class AgentPool:
    """Actors for a set of agents; `generate(requests)` makes it a graph-executor Backend."""

    def __init__(self, agents: dict[str, AgentSpec], seed: int = 0, reserve_cpus: float | None = None,
                 max_restarts: int = 3, ensembles: dict[str, EnsembleSpec] | None = None):
        self.specs = dict(agents)
        self.ensembles = dict(ensembles or {})
        self.seed = seed
        groups: dict[tuple, list[str]] = {}
        for name, spec in self.specs.items():
            groups.setdefault(base_key(spec), []).append(name)
        # One entry per actor to start: (group's agents, CPUs asked, GPUs asked).
        wanted = []
        for names in groups.values():
            specs = [self.specs[n] for n in names]
            replicas = max(spec.replicas for spec in specs)
            wanted += [(names, max(s.num_cpus for s in specs), max(s.num_gpus for s in specs))] * replicas
        check_gpus(sum(gpus for _, _, gpus in wanted))
        total_cpus = ray.cluster_resources().get("CPU", 0.0)
        reserve = default_reserve(total_cpus) if reserve_cpus is None else reserve_cpus
        asked_cpus = [cpus for _, cpus, _ in wanted]
        shares = fit_cpus(asked_cpus, total_cpus, reserve)
        if shares != asked_cpus:
            log.info("the agents' actors ask for %g CPUs of the cluster's %g; each share scaled to leave %g free",
                     sum(asked_cpus), total_cpus, reserve)
        self.placements: list[Placement] = []
        self._placement_of: dict[str, Placement] = {}
        for (names, cpus, gpus), share in zip(wanted, shares, strict=True):
            if names[0] not in self._placement_of:
                placement = Placement(names, share, gpus, [])
                self.placements.append(placement)
                self._placement_of.update(dict.fromkeys(names, placement))
            # Math threads follow the CPUs asked, not the scaled share: the share only schedules.
            actor = start_actor({n: self.specs[n] for n in names}, num_cpus=share, num_gpus=gpus,
                                threads=max(1, int(cpus)), max_restarts=max_restarts)
            self._placement_of[names[0]].actors.append(actor)

    def load_all(self) -> None:
        """Wait until every actor has loaded its model; a load error is raised here, with its cause."""
        ray.get([actor.ready.remote() for p in self.placements for actor in p.actors])

    def actors(self, agent: str) -> list:
        return self._placement_of[agent].actors

    def submit(self, agent: str, method: str, prompts: list[str], *rows: list, **kwargs) -> list:
        """Split one batch (prompts, and any row-aligned lists after them) across the agent's replicas;
        returns one ObjectRef per chunk, in order."""
        actors = self.actors(agent)
        return [getattr(actor, method).remote(agent, *([column[i] for i in chunk] for column in (prompts, *rows)),
                                              **kwargs)
                for actor, chunk in zip(actors, even_chunks(len(prompts), len(actors)), strict=False)]

    def generate(self, requests: list[NodeRequest]) -> list[list[str]]:
        pending, ensembles = [], {}
        for k, request in enumerate(requests):
            options, system = request.call_settings(self.seed)
            if request.agent in self.ensembles:
                ensembles[k] = (request, options)
                pending.append([])
            else:
                pending.append(self.submit(request.agent, "generate", request.prompts, options=options, system=system))
        # Every single-agent request is in flight before the first wait: independent nodes overlap.
        # Ensembles drive their members from here, one step at a time, meanwhile.
        finished = {k: run_ensemble(self.ensembles[request.agent], PoolMembers(self), request.prompts, options,
                                    request.system)
                    for k, (request, options) in ensembles.items()}
        return [finished[k] if k in finished else [text for chunk in ray.get(refs) for text in chunk]
                for k, refs in enumerate(pending)]

    def tokens_generated(self) -> int:
        return sum(ray.get([actor.tokens_generated.remote() for p in self.placements for actor in p.actors]))

    def shutdown(self) -> None:
        for placement in self.placements:
            for actor in placement.actors:
                ray.kill(actor)
        self.placements.clear()
        self._placement_of.clear()

    def __enter__(self) -> AgentPool:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


class PoolMembers:
    """An ensemble's members as the actors of an AgentPool (agents/ensemble.py Members)."""

    def __init__(self, pool: AgentPool):
        self.pool = pool

    def generate(self, agent: str, prompts: list[str], options: GenerationOptions, system: str | None) -> list[str]:
        refs = self.pool.submit(agent, "generate", prompts, options=options, system=system)
        return [text for chunk in ray.get(refs) for text in chunk]

    def score(self, agent: str, prompts: list[str], continuations: list[str],
              system: str | None) -> list[list[float]]:
        refs = self.pool.submit(agent, "score", prompts, continuations, reduction="none", system=system)
        return [row for chunk in ray.get(refs) for row in chunk]

    def continue_answers(self, agent: str, prompts: list[str], answers: list[str], options: GenerationOptions,
                         system: str | None) -> list[Completion]:
        refs = self.pool.submit(agent, "continue_answers", prompts, answers, options=options, system=system)
        return [completion for chunk in ray.get(refs) for completion in chunk]

    def spec(self, agent: str) -> AgentSpec:
        return self.pool.specs[agent]

    def vocabulary(self, agent: str) -> tuple:
        return ray.get(self.pool.actors(agent)[0].vocabulary.remote())

    def start_decoding(self, session: str, agents: list[str], prompts: list[str],
                       system: str | None) -> list[torch.Tensor]:
        return _gather([self.pool.submit(agent, "start_decoding", prompts, session=session, system=system)
                        for agent in agents])

    def step_decoding(self, session: str, agents: list[str], tokens: list[int]) -> list[torch.Tensor]:
        # One round of calls per token, every member's in flight before the first wait, so members on
        # different actors compute their step at the same time. Replicas each hold their chunk's rows.
        return _gather([self.pool.submit(agent, "step_decoding", tokens, session=session) for agent in agents])

    def end_decoding(self, session: str, generated: dict[str, list[int]]) -> None:
        ray.get([ref for agent, counts in generated.items()
                 for ref in self.pool.submit(agent, "end_decoding", counts, session=session)])


def _gather(pending: list[list]) -> list[torch.Tensor]:
    """Each agent's log-probs, its replicas' chunks joined back in row order."""
    return [torch.cat(ray.get(refs)) for refs in pending]
