"""Heterogeneous Swarms (algorithms.md §2): PSO over graphs (roles), then over weights, alternately.

n models (LoRA experts on one base) fill the n nodes of a DAG. Each iteration:
  1. role-step: PSO over N continuous n×n adjacency matrices; each is G-Decoded and scored on dev
     with the identity assignment (node i = model i) and the models' current weights;
  2. weight-step: PSO over the models' LoRA vectors, scored by JFK-score: M random assignments of
     models to the nodes of this iteration's best graph, each scored on dev; a model's JFK-score is
     the mean utility of the systems it took part in, weighted by how many nodes it filled.
The all-time best (graph, weights, assignment) is kept and is the result.

Every graph of a round, and every assignment, is scored in one pass: all systems advance level
by level together (graphs.execute.run_graphs), and each level is one mixed-adapter batch on the
evaluator actors, each row with its node's model's weights.

Choices where the reference code and the paper differ (all configurable):
- JFK-scores use this iteration's best graph (code), not the best-found one (paper);
- λ decays as configured (the reference never decays it in this repo; set step_length_factor: 1
  for that); G-Decode is argmax (top_p 0) as in all the reference search code;
- a model absent from all M assignments (the reference divides by zero) gets the mean utility of
  the M systems: no information, so no pull either way.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from rayswarm.graphs.rundir import RunDir
from rayswarm.graphs.schema import StrictModel
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tasks import Task
from rayswarm.swarms.baselines import Scorer, baseline_table, random_adjacency
from rayswarm.swarms.evaluator import EvaluatorPool
from rayswarm.swarms.experts import Experts, load_checkpoint, save_checkpoint
from rayswarm.swarms.progress import SwarmProgress
from rayswarm.swarms.pso import PSO, PSOConfig


class HeterogeneousSwarmsSettings(StrictModel):
    """How the search runs; defaults follow the reference (N = M = 10, patience 6, 20 iterations)."""

    graphs: int = Field(10, ge=2, description="N, adjacency-matrix particles")
    assignments: int = Field(10, ge=1, description="M, random model-to-node assignments per JFK-score")
    graph_pso: PSOConfig = Field(default_factory=lambda: PSOConfig(patience=6, max_iterations=20))
    model_pso: PSOConfig = Field(default_factory=lambda: PSOConfig(patience=6, max_iterations=20))
    random_graphs: int = Field(5, ge=1, description="random DAGs scored for the final table's baseline")
    baselines: bool = Field(True, description="score the baselines (each expert, merges, MoA, random graphs) "
                            "for the final table; false: the optimised system only")
    evaluators: int = Field(1, ge=1, description="ParticleEvaluator actors; rows are split across them")
    evaluator_cpus: float = Field(0.5, gt=0, description="Ray CPUs each evaluator actor holds")


class Search:
    """The state of one search, checkpointed whole after every iteration."""

    def __init__(self, experts: Experts, settings: HeterogeneousSwarmsSettings, seed: int):
        n = len(experts.names)
        self.rng = torch.Generator().manual_seed(seed)
        adjacency = torch.stack([random_adjacency(n, self.rng) for _ in range(settings.graphs)])
        self.graphs = PSO(adjacency.reshape(settings.graphs, n * n), settings.graph_pso)
        self.models = PSO(experts.vectors, settings.model_pso)
        self.best: dict | None = None  # {"score", "adjacency", "weights", "assignment"}

    def keep_if_best(self, score: float, adjacency: torch.Tensor, weights: torch.Tensor, assignment) -> None:
        if self.best is None or score > self.best["score"]:
            self.best = {"score": score, "adjacency": adjacency.clone(), "weights": weights.clone(),
                         "assignment": list(assignment)}

    def state_dict(self) -> dict:
        return {"graphs": self.graphs.state_dict(), "models": self.models.state_dict(), "best": self.best,
                "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.graphs = PSO.from_state_dict(state["graphs"])
        self.models = PSO.from_state_dict(state["models"])
        self.best = state["best"]
        self.rng.set_state(state["rng"])


def jfk_scores(assignments: list[list[int]], utilities: list[float], n: int) -> list[float]:
    """JFK(model i) = Σ_j cnt_ij·f_j / Σ_j cnt_ij, cnt_ij = nodes model i fills in assignment j."""
    counts = np.zeros((n, len(assignments)))
    for j, assignment in enumerate(assignments):
        for model in assignment:
            counts[model, j] += 1
    f = np.asarray(utilities)
    totals = counts.sum(axis=1)
    mean = float(f.mean())
    return [float(counts[i] @ f / totals[i]) if totals[i] else mean for i in range(n)]


def role_step(search: Search, scorer: Scorer, dev: Task) -> tuple[list[float], int]:
    """Score every graph particle with the identity assignment; returns utilities and the round's best."""
    positions = search.graphs.ask()
    weights = search.models.x
    utilities = scorer.score([scorer.graph(a) for a in positions], weights, dev)
    search.graphs.tell(utilities)
    best = int(np.argmax(utilities))
    search.keep_if_best(utilities[best], positions[best], weights, range(len(scorer.names)))
    return utilities, best


def weight_step(search: Search, scorer: Scorer, dev: Task, adjacency: torch.Tensor,
                m: int) -> tuple[list[float], list[float]]:
    """Move the models, then score them by JFK on `adjacency` under m random assignments.

    Returns the assignments' utilities and the models' JFK-scores.
    """
    weights = search.models.ask()
    n = len(scorer.names)
    assignments = [torch.randint(0, n, (n,), generator=search.rng).tolist() for _ in range(m)]
    utilities = scorer.score([scorer.graph(adjacency, a) for a in assignments], weights, dev)
    jfk = jfk_scores(assignments, utilities, n)
    search.models.tell(jfk)
    best = int(np.argmax(utilities))
    search.keep_if_best(utilities[best], adjacency, weights, assignments[best])
    return utilities, jfk


def run_heterogeneous_swarms(experts: dict[str, AgentSpec], dev: Task, test: Task,
                             settings: HeterogeneousSwarmsSettings, run_dir: RunDir, seed: int = 0) -> dict:
    """Search (resuming from the run directory's checkpoint if there is one), then report; returns the summary."""
    pool_of = Experts.load(experts)
    search = Search(pool_of, settings, seed)
    state = load_checkpoint(run_dir)
    if state is not None:
        search.load_state_dict(state)
        run_dir.log(event="resume", iteration=search.graphs.iteration)
    n = len(pool_of.names)
    pool = EvaluatorPool(pool_of.template, n, settings.evaluators, settings.evaluator_cpus)  # a slot per model
    scorer = Scorer(pool_of, pool)
    try:
        max_rounds = settings.graph_pso.max_iterations
        with SwarmProgress(max_rounds, search.graphs, "heterogeneous swarms") as progress:
            while not search.graphs.done:
                graph_utilities, best = role_step(search, scorer, dev)
                adjacency = search.graphs.x[best].clone()
                assignment_utilities, jfk = weight_step(search, scorer, dev, adjacency, settings.assignments)
                save_checkpoint(run_dir, search.state_dict())
                run_dir.log(event="iteration", iteration=search.graphs.iteration, best=search.best["score"],
                            mean=sum(graph_utilities) / len(graph_utilities), graph_utilities=graph_utilities,
                            assignment_utilities=assignment_utilities, jfk=jfk)
                progress.update(graph_utilities, best=search.best["score"])
        optimised = scorer.graph(search.best["adjacency"], search.best["assignment"])
        table = baseline_table(scorer, {"heterogeneous swarms (all-time best)": (optimised, search.best["weights"])},
                               settings.random_graphs, dev, test, seed, settings.baselines)
        saved = save_best(search, scorer, pool_of, run_dir)
    finally:
        pool.shutdown()
    return {"method": "heterogeneous_swarms", "iterations": search.graphs.iteration, "graphs": settings.graphs,
            "models": pool_of.names, "best_dev_utility": search.best["score"], "best_graph": saved,
            "systems": table}


def save_best(search: Search, scorer: Scorer, experts: Experts, run_dir: RunDir) -> str:
    """The best system as a runnable graph: best/graph.yaml over best/adapters/<model>/ (PEFT)."""
    folder = run_dir.path / "best"
    agents = {}
    for k, name in enumerate(experts.names):
        adapter = experts.save_adapter(search.best["weights"][k], folder / "adapters" / name)
        agents[name] = experts.template.model_copy(update={"adapter": str(adapter.resolve())})
    graph = scorer.graph(search.best["adjacency"], search.best["assignment"]).model_copy(update={"agents": agents})
    graph.to_yaml(folder / "graph.yaml")
    return str(folder / "graph.yaml")
