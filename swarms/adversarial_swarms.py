"""Adversarial Swarms (algorithms.md §3, the reference's dual_swarm.py): generators against test takers.

Two swarms with the shared PSO core: the generators (the run's experts) maximise difficulty, the
test takers (LoRA vectors too) maximise their score on an evolving pool of items. The pool starts
as the first `pool_items` dev examples. Each round:
  1. the generators write, the current takers answer: each generator's difficulty → its swarm;
  2. the moved generators write fresh items; each pool item is replaced by a random fresh one with
     probability `replace_probability`;
  3. each taker's utility is its mean score on the pool → its swarm;
  4. the log gets the takers' best score on the pool and on held-out data (the task's test split,
     read only for the log and the final table: nothing the search decides depends on it).
It stops when either swarm is done. As in the reference the takers learn by PSO only, with no
gradient step. The final table scores each initial taker and the best one found on dev and test;
`dataset.jsonl` is the final pool.
"""

from __future__ import annotations

import random
from collections import Counter

import torch

from rayswarm.agents.datagen import Item
from rayswarm.graphs.rundir import RunDir
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tasks import Task
from rayswarm.swarms.data_arena import Arena
from rayswarm.swarms.data_swarms import (
    DataSwarmsSettings,
    load_agents,
    plot_objectives,
    utilities,
    write_dataset,
)
from rayswarm.swarms.experts import load_checkpoint, save_checkpoint, systems_by_split
from rayswarm.swarms.progress import SwarmProgress
from rayswarm.swarms.pso import PSO, populate

FOUND = "adversarial swarms (best taker)"


def evolve(pool: list[Item], fresh: list[Item], probability: float, rng: random.Random) -> tuple[list[Item], int]:
    """Each pool item replaced by a random fresh one with `probability`; the new pool and how many changed."""
    if not fresh:
        return pool, 0
    draws = [rng.random() < probability for _ in pool]
    return [rng.choice(fresh) if draw else item for item, draw in zip(pool, draws, strict=True)], sum(draws)


def run_adversarial_swarms(experts: dict[str, AgentSpec], dev: Task, test: Task, settings: DataSwarmsSettings,
                           run_dir: RunDir, seed: int = 0) -> dict:
    """Search (resuming from the run directory's checkpoint if there is one), then report; returns the summary."""
    generators, takers = load_agents(experts, dev, settings)
    state = load_checkpoint(run_dir)
    if state is not None:
        writers, answerers = PSO.from_state_dict(state["generators"]), PSO.from_state_dict(state["takers"])
        pool, totals = [Item(*item) for item in state["pool"]], Counter(state["counts"])
        run_dir.log(event="resume", iteration=writers.iteration)
    else:
        writers = PSO(populate(generators.vectors, max(settings.population, len(generators.names)),
                               settings.pso.seed), settings.pso)
        answerers = PSO(takers.vectors, settings.model_pso)
        pool, totals = [Item(ex.input, ex.target) for ex in dev.examples[: settings.pool_items]], Counter()
        run_dir.log(event="start", particles=writers.particles, takers=takers.names, pool=len(pool))
    slots = max(writers.particles, len(takers.names) + 1)  # + 1: the final table's best taker
    arena = Arena(generators, takers, settings, dev.metric, seed, slots)
    try:
        with SwarmProgress(settings.pso.max_iterations, writers, "adversarial swarms") as progress:
            while not (writers.done or answerers.done):
                tag = f"round{len(writers.g_history)}"
                current = answerers.ask()
                sets, counts, _ = arena.sets(writers.ask(), current, dev.examples, tag, settings.prompts)
                scores, _ = utilities(settings, sets, None)
                writers.tell(scores)
                fresh, fresh_counts, _ = arena.write(writers.ask(), dev.examples, f"{tag}-pool", settings.prompts)
                pool, replaced = evolve(pool, [item for items in fresh for item in items],
                                        settings.replace_probability, random.Random(f"rayswarm-pool-{seed}-{tag}"))
                taker_scores = arena.score(current, pool).mean(axis=1).tolist()
                answerers.tell(taker_scores)
                held_out = arena.accuracy(current, test.examples).tolist()
                totals.update(counts)
                totals.update(fresh_counts)
                save_checkpoint(run_dir, {"generators": writers.state_dict(), "takers": answerers.state_dict(),
                                          "pool": [(item.input, item.target) for item in pool],
                                          "counts": dict(totals)})
                run_dir.log(event="iteration", iteration=writers.iteration, best=writers.g_score,
                            mean=sum(scores) / len(scores), utilities=scores, objectives={"difficulty": scores},
                            taker_utilities=taker_scores, taker_pool_best=max(taker_scores),
                            taker_test=held_out, taker_test_best=max(held_out), replaced=replaced, **counts)
                progress.update(scores)
        best_taker, _ = answerers.best
        weights = torch.cat([takers.vectors, best_taker[None]])
        table = {task.split: dict(zip([*takers.names, FOUND], arena.accuracy(weights, task.examples).tolist(),
                                      strict=True)) for task in (dev, test)}
    finally:
        arena.shutdown()
    plot_objectives(run_dir)
    rounds = {row["iteration"]: row for row in run_dir.read_log() if row.get("event") == "iteration"}
    return {"method": "adversarial_swarms", "objective": "difficulty", "iterations": writers.iteration,
            "particles": writers.particles, "takers": takers.names, "best_dev_utility": writers.g_score,
            "systems": systems_by_split(table, takers.names), "counts": dict(totals),
            "taker_test_best": [rounds[i]["taker_test_best"] for i in sorted(rounds)],
            "dataset": str(write_dataset(run_dir.path / "dataset.jsonl", pool, "adversarial pool")),
            "adapter": str(generators.save_adapter(writers.best[0], run_dir.path / "best_adapter")),
            "taker_adapter": str(takers.save_adapter(best_taker, run_dir.path / "best_taker_adapter")),
            "g_history": writers.g_history}
