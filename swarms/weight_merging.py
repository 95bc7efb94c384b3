"""The weight level of multi-LLM collaboration: one adapter made from several LoRA experts of one base.

Six merges (docs/merging.md), each a combination of agents/merging.py, in the flat LoRA vectors
(`space: vectors`) or in each module's ΔW through PEFT's add_weighted_adapter (`space: delta`):

- uniform_soup: the experts' mean;
- greedy_soup: experts by dev score, best first; each joins the soup (a mean) only if the soup's dev
  score does not drop, so the soup never scores below its best ingredient on dev;
- ties, dare: TIES-Merging, and DARE followed by a mean or by TIES's sign election;
- lorahub: a LoraHub-style gradient-free search for one coefficient per expert (merged = Σ wᵢ·expertᵢ)
  maximising dev score − l1·mean|wᵢ|; the optimiser is the shared PSO core (swarms/pso.py) instead
  of LoraHub's nevergrad, each round's particles scored as one mixed batch, like Model Swarms';
- expo: ExPO's extrapolation strong + α·(strong − weak) (weak: an expert or the base), α picked on
  dev from a grid scored as one batch.

Every dev score comes from the resident evaluator actors (swarms/evaluator.py); searches log one
`iteration` row per round (round 0: the experts alone, or LoraHub's starting particles). Test is
read only for the final table, which sets the merged adapter beside each expert and the baselines
of swarms/baselines.py. The merge is saved as a PEFT adapter (`merged_adapter/`). There is no
checkpoint: a merge is a few rounds, and a rerun (`rayswarm resume`) reaches the same result.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from rayswarm.actors.host import ModelHost
from rayswarm.agents.merging import DeltaSpace, Sign, VectorSpace, expo_weights
from rayswarm.graphs.patterns import chain
from rayswarm.graphs.rundir import RunDir
from rayswarm.graphs.schema import StrictModel, did_you_mean
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tasks import Task
from rayswarm.swarms.baselines import Scorer, baseline_table
from rayswarm.swarms.evaluator import EvaluatorPool
from rayswarm.swarms.experts import Experts, load_checkpoint, save_checkpoint
from rayswarm.swarms.model_swarms import utilities
from rayswarm.swarms.progress import SwarmProgress
from rayswarm.swarms.pso import PSO, PSOConfig, populate


class TiesSettings(StrictModel):
    """TIES-Merging (Yadav et al. 2023): trim, elect sign, disjoint mean; every expert weighted 1."""

    density: float = Field(0.2, gt=0, le=1, description="fraction of each expert's entries kept, the largest in "
                           "magnitude (the paper's top-k%: 20)")
    sign: Sign = Field("total", description="the elected sign of an entry: of the experts' sum (total, the paper's) "
                       "or of their sign count (frequency)")


class DareSettings(StrictModel):
    """DARE (Yu et al. 2024): drop and rescale each expert, then combine them."""

    drop: float = Field(0.5, gt=0, lt=1, description="p: each entry dropped with probability p (seeded by the run's "
                        "seed), the survivors scaled by 1/(1 − p)")
    combine: Literal["linear", "ties"] = Field("linear", description="linear: the mean of the dropped experts; "
                                               "ties: TIES's sign election (total) and disjoint mean")


class LoraHubSettings(StrictModel):
    """LoraHub-style search (Huang et al. 2024) for one coefficient per expert, by PSO."""

    population: int = Field(6, ge=2, description="coefficient particles: the origin (w = 0, LoraHub's start, the "
                            "base model) and each expert alone (one-hot w), topped up by crossover; raised to E + 1 if fewer")
    l1: float = Field(0.05, ge=0, description="utility = dev score − l1·mean|wᵢ| (LoraHub's regulariser)")
    bound: float = Field(1.5, gt=0, description="coefficients are clipped to [−bound, bound] (LoraHub's bounds) "
                         "before they are scored and used; the particles themselves move freely")
    pso: PSOConfig = Field(default_factory=lambda: PSOConfig(max_iterations=10, patience=4),
                           description="the search over coefficients; its seed is the run's")


class ExpoSettings(StrictModel):
    """ExPO (Zheng et al. 2024): strong + α·(strong − weak), α chosen on dev."""

    strong: str | None = Field(None, description="the expert extrapolated; default: the best on dev other than weak")
    weak: str | None = Field(None, description="the expert extrapolated away from; default: the base model (a zero "
                             "LoRA vector)")
    alphas: list[float] = Field([0.0, 0.1, 0.2, 0.3, 0.5], min_length=1, description="α grid, scored on dev in one "
                                "batch; the best wins, the first on a tie (α = 0 is strong itself)")


class WeightMergingSettings(StrictModel):
    """Which merge, in which space; each merge's parameters sit in its own block."""

    merge: Literal["uniform_soup", "greedy_soup", "ties", "dare", "lorahub", "expo"] = Field(
        "uniform_soup", description="the merge method (docs/merging.md)")
    space: Literal["vectors", "delta"] = Field(
        "vectors", description="vectors: the flat LoRA vectors, A and B entry by entry (as swarms and LoraHub move "
        "them); delta: each module's ΔW = s·B·A, by PEFT's add_weighted_adapter, back to the experts' rank by SVD")
    ties: TiesSettings = Field(default_factory=TiesSettings)
    dare: DareSettings = Field(default_factory=DareSettings)
    lorahub: LoraHubSettings = Field(default_factory=LoraHubSettings)
    expo: ExpoSettings = Field(default_factory=ExpoSettings)
    evaluators: int = Field(1, ge=1, description="ParticleEvaluator actors; dev examples are split across them")
    evaluator_cpus: float = Field(0.5, gt=0, description="Ray CPUs each evaluator actor holds")
    random_graphs: int = Field(5, ge=1, description="random DAGs of the experts scored for the final table")
    baselines: bool = Field(True, description="score the baselines (each expert, merges, MoA, random graphs) "
                            "for the final table; false: the optimised system only")

    def check_experts(self, names: list[str]) -> None:
        """ExPO's named experts exist and differ; a ValueError otherwise."""
        for role in ("strong", "weak"):
            name = getattr(self.expo, role)
            if name is not None and name not in names:
                raise ValueError(f"expo.{role}: no expert '{name}'{did_you_mean(name, names)}")
        if self.expo.strong is not None and self.expo.strong == self.expo.weak:
            raise ValueError(f"expo: strong and weak are both '{self.expo.weak}': nothing to extrapolate")


class Merger:
    """The experts, the space they merge in, and the dev score of merged vectors on the evaluators."""

    def __init__(self, experts: Experts, space: VectorSpace | DeltaSpace, pool: EvaluatorPool, dev: Task,
                 run_dir: RunDir):
        self.experts, self.space, self.pool, self.dev_task, self.run_dir = experts, space, pool, dev, run_dir
        self.names, self.count = experts.names, len(experts.names)

    def linear(self, weights: torch.Tensor) -> torch.Tensor:
        """(K × E) coefficient rows → the K merged vectors Σ wᵢ·expertᵢ."""
        return torch.stack([self.space.merge("linear", row) for row in weights])

    def dev(self, vectors: torch.Tensor) -> list[float]:
        """Each vector's dev score, all in one mixed batch."""
        return utilities(self.pool, vectors, self.dev_task, self.experts.template.generation)

    def log(self, iteration: int, utilities: list[float], best: float, **details) -> None:
        self.run_dir.log(event="iteration", iteration=iteration, best=best, mean=sum(utilities) / len(utilities),
                         utilities=utilities, **details)

    def singles(self) -> list[float]:
        """Round 0 of a search: each expert alone."""
        scores = self.dev(self.experts.vectors)
        self.log(0, scores, max(scores), candidates=self.names)
        return scores


def uniform_soup(merger: Merger, settings: WeightMergingSettings, seed: int) -> tuple[torch.Tensor, dict]:
    return merger.linear(torch.full((1, merger.count), 1 / merger.count))[0], {}


def ties(merger: Merger, settings: WeightMergingSettings, seed: int) -> tuple[torch.Tensor, dict]:
    return merger.space.merge("ties", torch.ones(merger.count), settings.ties.density, settings.ties.sign), {}


def dare(merger: Merger, settings: WeightMergingSettings, seed: int) -> tuple[torch.Tensor, dict]:
    n, combine = merger.count, settings.dare.combine
    weights = torch.full((n,), 1 / n) if combine == "linear" else torch.ones(n)
    return merger.space.merge(f"dare_{combine}", weights, 1 - settings.dare.drop, seed=seed), {}


def greedy_soup(merger: Merger, settings: WeightMergingSettings, seed: int) -> tuple[torch.Tensor, dict]:
    """Wortsman et al. 2022: try the experts best first; keep one if the soup's dev score does not drop."""
    singles = merger.singles()
    order = sorted(range(merger.count), key=singles.__getitem__, reverse=True)  # stable: ties keep config order
    soup, best, vector = order[:1], singles[order[0]], merger.experts.vectors[order[0]]
    for iteration, k in enumerate(order[1:], 1):
        weights = torch.zeros(1, merger.count)
        weights[0, soup + [k]] = 1 / (len(soup) + 1)
        candidate = merger.linear(weights)
        (score,) = merger.dev(candidate)
        if score >= best:
            soup, best, vector = soup + [k], score, candidate[0]
        merger.log(iteration, [score], best, tried=merger.names[k], ingredients=[merger.names[i] for i in soup])
    return vector, {"iterations": merger.count - 1, "best_dev_utility": best,
                    "ingredients": [merger.names[i] for i in soup]}


def lorahub(merger: Merger, settings: WeightMergingSettings, seed: int) -> tuple[torch.Tensor, dict]:
    """PSO over coefficient vectors w (one per expert); utility = dev score − l1·mean|wᵢ|."""
    n, hub = merger.count, settings.lorahub
    state = load_checkpoint(merger.run_dir)  # an interrupted search resumes where it stopped
    if state is not None:
        swarm = PSO.from_state_dict(state)
        merger.run_dir.log(event="resume", iteration=swarm.iteration)
    else:
        starts = torch.cat([torch.zeros(1, n), torch.eye(n)])  # the base, then each expert alone
        swarm = PSO(populate(starts, max(hub.population, n + 1), seed), hub.pso.model_copy(update={"seed": seed}))
    with SwarmProgress(hub.pso.max_iterations, swarm, "lorahub") as progress:
        while not swarm.done:
            weights = swarm.ask().clamp(-hub.bound, hub.bound)
            scores = merger.dev(merger.linear(weights))
            penalised = [score - hub.l1 * float(w.abs().mean()) for score, w in zip(scores, weights, strict=True)]
            swarm.tell(penalised)
            save_checkpoint(merger.run_dir, swarm.state_dict())
            merger.log(swarm.iteration, penalised, swarm.g_score, scores=scores, coefficients=weights.tolist(),
                       step=swarm.step)
            progress.update(penalised)
    best, utility = swarm.best
    best = best.clamp(-hub.bound, hub.bound)
    return merger.linear(best[None])[0], {"iterations": swarm.iteration, "best_dev_utility": utility,
                                          "coefficients": dict(zip(merger.names, best.tolist(), strict=True)),
                                          "g_history": swarm.g_history}


def expo(merger: Merger, settings: WeightMergingSettings, seed: int) -> tuple[torch.Tensor, dict]:
    """ExPO: the α of the grid whose strong + α·(strong − weak) scores best on dev."""
    names, grid = merger.names, settings.expo.alphas
    singles = merger.singles()
    weak = None if settings.expo.weak is None else names.index(settings.expo.weak)
    strong = (names.index(settings.expo.strong) if settings.expo.strong is not None
              else max((k for k in range(merger.count) if k != weak), key=singles.__getitem__))
    candidates = merger.linear(torch.stack([expo_weights(merger.count, strong, weak, alpha) for alpha in grid]))
    scores = merger.dev(candidates)
    best = scores.index(max(scores))
    merger.log(1, scores, max(scores), alphas=grid)
    return candidates[best], {"iterations": 1, "best_dev_utility": scores[best], "strong": names[strong],
                              "weak": "base" if weak is None else names[weak], "alpha": grid[best]}


MERGES = {"uniform_soup": uniform_soup, "greedy_soup": greedy_soup, "ties": ties, "dare": dare, "lorahub": lorahub,
          "expo": expo}


def merge_space(experts: dict[str, AgentSpec], loaded: Experts, space: str) -> VectorSpace | DeltaSpace:
    if space == "vectors":
        return VectorSpace(loaded.vectors)
    host = ModelHost(experts)  # every expert as a PEFT adapter of one model: what add_weighted_adapter merges
    return DeltaSpace(host.agent.model, [host.adapters[name] for name in loaded.names])


def run_weight_merge(experts: dict[str, AgentSpec], dev: Task, test: Task, settings: WeightMergingSettings,
                     run_dir: RunDir, seed: int = 0) -> dict:
    """Merge (searching on dev where the method does), then report; returns the summary."""
    loaded = Experts.load(experts)
    n = len(loaded.names)
    candidates = {"lorahub": max(settings.lorahub.population, n + 1), "expo": len(settings.expo.alphas)}
    pool = EvaluatorPool(loaded.template, max(n, candidates.get(settings.merge, 0)), settings.evaluators,
                         settings.evaluator_cpus)
    run_dir.log(event="start", merge=settings.merge, space=settings.space, experts=loaded.names,
                dims=loaded.vectors.shape[1])
    label = f"merged: {settings.merge} ({settings.space})"
    try:
        merger = Merger(loaded, merge_space(experts, loaded, settings.space), pool, dev, run_dir)
        merged, details = MERGES[settings.merge](merger, settings, seed)
        scorer = Scorer(loaded, pool)
        found = (chain(loaded.names[:1], agents=scorer.agents), merged.expand(n, -1))  # one node, the merged weights
        systems = baseline_table(scorer, {label: found}, settings.random_graphs, dev, test, seed, settings.baselines)
    finally:
        pool.shutdown()
    adapter = loaded.save_adapter(merged, run_dir.path / "merged_adapter")
    return {"method": "weight_merging", "merge": settings.merge, "space": settings.space, "merged": label,
            "iterations": 0, **details, "systems": systems, "adapter": str(adapter)}
