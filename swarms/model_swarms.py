"""Model Swarms (algorithms.md §1): PSO over the flat LoRA vectors of a pool of experts.

Particles start as the experts (topped up by crossover to `population`), the utility is the task
metric on dev, and the answer is the global best: saved as a PEFT adapter, scored on dev and test
beside the baselines of swarms/baselines.py (each expert, the best single one, a uniform merge, a
mixture-of-agents graph, random graphs). Test is read only for that final table: nothing the
search decides depends on it.

Every iteration is checkpointed (the PSO's full state) into the run directory, so an interrupted
run resumes (`rayswarm resume <run_dir>`) and ends exactly where an uninterrupted one would.
"""

from __future__ import annotations

import torch
from pydantic import Field

from rayswarm.graphs.messages import SOURCE_TEMPLATE
from rayswarm.graphs.patterns import chain
from rayswarm.graphs.rundir import RunDir
from rayswarm.graphs.schema import StrictModel
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tasks import Task
from rayswarm.swarms.baselines import Scorer, baseline_table
from rayswarm.swarms.evaluator import EvaluatorPool
from rayswarm.swarms.experts import Experts, load_checkpoint, save_checkpoint
from rayswarm.swarms.progress import SwarmProgress
from rayswarm.swarms.pso import PSO, PSOConfig, populate


class ModelSwarmsSettings(StrictModel):
    """How the search runs (the experts and the task are given beside it)."""

    population: int = Field(0, ge=0, description="particles: the experts topped up by crossover; 0 = the experts")
    pso: PSOConfig = Field(default_factory=PSOConfig)
    evaluators: int = Field(1, ge=1, description="ParticleEvaluator actors; dev examples are split across them")
    evaluator_cpus: float = Field(0.5, gt=0, description="Ray CPUs each evaluator actor holds")
    random_graphs: int = Field(5, ge=1, description="random DAGs of the experts scored for the final table")
    baselines: bool = Field(True, description="score the baselines (each expert, merges, MoA, random graphs) "
                            "for the final table; false: the optimised system only")


def utilities(pool: EvaluatorPool, vectors: torch.Tensor, task: Task, options) -> list[float]:
    prompts = [SOURCE_TEMPLATE.format(question=q) for q in task.inputs]
    return [task.accuracy(answers) for answers in pool.outputs(vectors, prompts, options)]


def run_model_swarms(experts: dict[str, AgentSpec], dev: Task, test: Task, settings: ModelSwarmsSettings,
                     run_dir: RunDir) -> dict:
    """Search (resuming from the run directory's checkpoint if there is one), then report; returns the summary."""
    pool_of = Experts.load(experts)
    options = pool_of.template.generation
    state = load_checkpoint(run_dir)
    if state is not None:
        swarm = PSO.from_state_dict(state)
        run_dir.log(event="resume", iteration=swarm.iteration)
    else:
        particles = populate(pool_of.vectors, max(settings.population, len(pool_of.names)), settings.pso.seed)
        swarm = PSO(particles, settings.pso)
        run_dir.log(event="start", particles=swarm.particles, dims=particles.shape[1])
    pool = EvaluatorPool(pool_of.template, max(swarm.particles, len(pool_of.names)), settings.evaluators,
                         settings.evaluator_cpus)
    try:
        with SwarmProgress(settings.pso.max_iterations, swarm, "model swarms") as progress:
            while not swarm.done:
                scores = utilities(pool, swarm.ask(), dev, options)
                swarm.tell(scores)
                save_checkpoint(run_dir, swarm.state_dict())
                run_dir.log(event="iteration", iteration=swarm.iteration, best=swarm.g_score,
                            mean=sum(scores) / len(scores), utilities=scores, step=swarm.step)
                progress.update(scores)
        best, _ = swarm.best
        scorer = Scorer(pool_of, pool)
        n = len(pool_of.names)
        found = (chain(pool_of.names[:1], agents=scorer.agents), best.expand(n, -1))  # one node, the best weights
        systems = baseline_table(scorer, {"model swarms (global best)": found}, settings.random_graphs, dev, test,
                                 settings.pso.seed, settings.baselines)
    finally:
        pool.shutdown()
    adapter = pool_of.save_adapter(best, run_dir.path / "best_adapter")
    return {"method": "model_swarms", "iterations": swarm.iteration, "particles": swarm.particles,
            "best_dev_utility": swarm.g_score, "systems": systems,
            "adapter": str(adapter), "g_history": swarm.g_history}
