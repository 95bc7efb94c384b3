"""Data Swarms (algorithms.md §3): PSO over generators' LoRA vectors, for data that meets an objective.

The run's `experts` are the generators (with `cluster_sft`, fresh LoRAs first trained on clusters
of the dev inputs: agents/generators.py). Each round every generator particle writes
`prompts × items` items from few-shot prompts of dev examples, the test takers answer them, the
judge scores the answers, and the (generator × taker) score matrix gives each particle its utility
(swarms/data_objectives.py). The shared PSO core moves the particles; the answer is the global best.

Unlike the reference, the starting generators are scored first (the PSO core's initial round), so
the first row of the log is the initial generators' objective. The final table scores each initial
generator and the global best on fresh draws (new seeds): few-shot examples from dev, and from
test. Test is read only for that table. The run directory gets `dataset.jsonl` (the best
generator's fresh dev draw, graphs/tasks.py rows: a task), `best_adapter/`, `objectives.png` and,
as every swarm, a checkpoint per round (`rayswarm resume` ends exactly where an uninterrupted run
would). With `adversarial: true` the run is Adversarial Swarms instead (swarms/adversarial_swarms.py).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from rayswarm.agents.datagen import ANSWER_KEYS, GENERATION_PROMPT, Item, PromptFormat
from rayswarm.agents.generators import ClusterSFT, cluster_generators
from rayswarm.graphs.rundir import RunDir
from rayswarm.graphs.schema import StrictModel, did_you_mean
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tasks import Example, Task, write_examples
from rayswarm.swarms.data_arena import Arena, load_takers
from rayswarm.swarms.data_objectives import MIXED, OBJECTIVES, objective_values, utility
from rayswarm.swarms.experts import Experts, load_checkpoint, save_checkpoint, systems_by_split
from rayswarm.swarms.progress import SwarmProgress, plot_convergence
from rayswarm.swarms.pso import PSO, PSOConfig, populate

FOUND = "data swarms (global best)"


class DataSwarmsSettings(StrictModel):
    """Generators (the run's experts), test takers, a judge and an objective; the PSO settings."""

    takers: dict[str, AgentSpec] = Field(min_length=1, description="test takers: agents on one base, at least one "
                                         "with a LoRA adapter (one without runs as its base)")
    judge: AgentSpec | None = Field(None, description="a local LLM rating answers to items without a target, 1-10; "
                                    "None: such items are dropped (counted) and padded over")
    answer_key: str | None = Field(None, description="compute each item's target from its question: 'sort' (the "
                                   "toy world's sort questions); None: the answers the generators write, if any")
    objective: Literal["difficulty", "separation", "novelty", "consistency", "mixed"] = Field(
        "difficulty", description="what the generators' data should be (swarms/data_objectives.py)")
    weights: dict[str, float] = Field(default_factory=lambda: dict(MIXED),
                                      description="mixed only: each objective's weight (the reference's 0.6/0.2/0.2)")
    domain: str = Field("the task", description="what the data is about, {domain} in the generation prompt")
    instruction: str = Field(GENERATION_PROMPT, description="the generation prompt, over {domain}, {shots}, "
                             "{items} and {examples}; default the reference's")
    shots: int = Field(5, ge=1, description="dev examples shown per prompt")
    items: int = Field(5, ge=1, description="items asked for per prompt (and kept at most)")
    show_answers: bool = Field(False, description="show the examples' answers, so generators write answers too")
    prompts: int = Field(40, ge=1, description="prompts per generator per round (the reference's 40)")
    sets: int = Field(1, ge=1, description="independent sets per generator per round; consistency needs 2 or more")
    min_usable: float = Field(0.0, ge=0, le=1, description="a generator set with fewer usable items than this share "
                              "of prompts × items scores 0 (0: any usable item counts, padded, as the reference)")
    reference_items: int = Field(200, ge=1, description="dev examples behind the takers' reference profile (novelty)")
    final_prompts: int = Field(40, ge=1, description="prompts per generator and split for the final table")
    population: int = Field(0, ge=0, description="particles: the generators topped up by crossover; 0 = the generators")
    cluster_sft: ClusterSFT | None = Field(None, description="first train each generator, a base without an "
                                           "adapter, as a fresh LoRA on one cluster of dev inputs (cached)")
    adversarial: bool = Field(False, description="Adversarial Swarms: the takers are a swarm too (objective difficulty)")
    pool_items: int = Field(200, ge=1, description="adversarial: the evolving pool, first the first N dev examples")
    replace_probability: float = Field(0.2, ge=0, le=1, description="adversarial: chance a pool item is replaced "
                                       "by a fresh generated one, per round")
    pso: PSOConfig = Field(default_factory=PSOConfig, description="the generators' swarm")
    model_pso: PSOConfig = Field(default_factory=PSOConfig, description="adversarial: the test takers' swarm")
    evaluators: int = Field(1, ge=1, description="ParticleEvaluator actors per pool; rows are split across them")
    evaluator_cpus: float = Field(0.5, gt=0, description="Ray CPUs each evaluator actor holds")

    @model_validator(mode="after")
    def _consistent(self):
        weights = self.objective_weights()
        problems = [
            self.answer_key is not None and self.answer_key not in ANSWER_KEYS
            and f"unknown answer_key '{self.answer_key}'{did_you_mean(self.answer_key, ANSWER_KEYS)}; known: "
                f"{', '.join(ANSWER_KEYS)}",
            not set(weights) <= set(OBJECTIVES) and f"weights: unknown objective(s) "
                f"{sorted(set(weights) - set(OBJECTIVES))}; known: {', '.join(OBJECTIVES)}",
            (any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0)
            and "weights must be ≥ 0 with a positive sum",
            weights.get("consistency") and self.sets < 2 and "consistency compares sets: set `sets` to 2 or more",
            (weights.get("separation") or weights.get("novelty")) and len(self.takers) < 2
            and "separation and novelty compare test takers: give at least two",
            self.adversarial and self.objective != "difficulty" and "adversarial swarms optimise difficulty only",
            self.adversarial and len(self.takers) < 2 and "adversarial swarms need at least two test takers (a swarm)",
            self.answer_key is None and not self.show_answers and self.judge is None
            and "nothing can judge the generated items: set answer_key, show_answers or a judge agent",
            "{examples}" not in self.instruction and "instruction must contain {examples}",
        ]
        for problem in problems:
            if problem:
                raise ValueError(problem)
        return self

    def objective_weights(self) -> dict[str, float]:
        return dict(self.weights) if self.objective == "mixed" else {self.objective: 1.0}

    def prompt_format(self) -> PromptFormat:
        return PromptFormat(self.domain, self.shots, self.items, self.show_answers, self.instruction)

    def agents(self) -> dict[str, AgentSpec]:
        """Every agent besides the generators (to validate with them): the takers and the judge."""
        return {**self.takers, **({"judge": self.judge} if self.judge else {})}


def load_agents(experts: dict[str, AgentSpec], dev: Task, settings: DataSwarmsSettings) -> tuple[Experts, Experts]:
    """(generators, test takers) as weight matrices; the generators trained on their clusters first if asked."""
    if settings.cluster_sft is not None:
        experts = cluster_generators(experts, dev.examples, settings.prompt_format(), settings.cluster_sft)
    return Experts.load(experts), load_takers(settings.takers)


def utilities(settings: DataSwarmsSettings, sets: np.ndarray, reference: np.ndarray | None) -> tuple[list, dict]:
    """Each generator's utility (0, every objective's floor, for one that wrote too few usable items: its
    NaN row) and all objectives' values."""
    values = objective_values(sets, reference)
    scores = np.nan_to_num(utility(settings.objective_weights(), values), nan=0.0)
    return scores.tolist(), {name: np.nan_to_num(v, nan=0.0).tolist() for name, v in values.items()}


def reference_profile(arena: Arena, settings: DataSwarmsSettings, task: Task) -> np.ndarray | None:
    """The takers' mean scores on `reference_items` random examples of `task` (novelty's p_ref), if needed."""
    if not settings.objective_weights().get("novelty"):
        return None
    rng = random.Random(f"rayswarm-reference-{arena.seed}-{task.split}")
    examples = rng.sample(task.examples, min(settings.reference_items, len(task.examples)))
    return arena.accuracy(arena.takers.vectors, examples)


def write_dataset(path: Path, items: list[Item], source: str) -> Path:
    """Distinct items as a graphs/tasks.py JSONL file (target "" where only a judge could score it)."""
    examples = [Example(item.input, item.target or "", meta={"generator": source, "target": item.target is not None})
                for item in dict.fromkeys(items)]
    write_examples(path, examples)
    return path


def run_data_swarms(experts: dict[str, AgentSpec], dev: Task, test: Task, settings: DataSwarmsSettings,
                    run_dir: RunDir, seed: int = 0) -> dict:
    """Search (resuming from the run directory's checkpoint if there is one), then report; returns the summary."""
    if settings.adversarial:
        from rayswarm.swarms.adversarial_swarms import run_adversarial_swarms  # it builds on this module

        return run_adversarial_swarms(experts, dev, test, settings, run_dir, seed)
    generators, takers = load_agents(experts, dev, settings)
    state = load_checkpoint(run_dir)
    if state is not None:
        swarm, totals = PSO.from_state_dict(state["swarm"]), Counter(state["counts"])
        run_dir.log(event="resume", iteration=swarm.iteration)
    else:
        particles = populate(generators.vectors, max(settings.population, len(generators.names)), settings.pso.seed)
        swarm, totals = PSO(particles, settings.pso), Counter()
        run_dir.log(event="start", particles=swarm.particles, dims=particles.shape[1], takers=takers.names)
    slots = max(swarm.particles, len(generators.names) + 1, len(takers.names))  # + 1: the final table's best
    arena = Arena(generators, takers, settings, dev.metric, seed, slots)
    try:
        reference = state["reference"] if state is not None else reference_profile(arena, settings, dev)
        with SwarmProgress(settings.pso.max_iterations, swarm, "data swarms") as progress:
            while not swarm.done:
                tag = f"round{len(swarm.g_history)}"
                sets, counts, _ = arena.sets(swarm.ask(), takers.vectors, dev.examples, tag, settings.prompts)
                scores, values = utilities(settings, sets, reference)
                swarm.tell(scores)
                totals.update(counts)
                save_checkpoint(run_dir, {"swarm": swarm.state_dict(), "counts": dict(totals), "reference": reference})
                run_dir.log(event="iteration", iteration=swarm.iteration, best=swarm.g_score,
                            mean=sum(scores) / len(scores), utilities=scores, objectives=values, **counts)
                progress.update(scores)
        best, _ = swarm.best
        systems, items = final_table(arena, settings, torch.cat([generators.vectors, best[None]]),
                                     [*generators.names, FOUND], dev, test)
    finally:
        arena.shutdown()
    plot_objectives(run_dir)
    return {"method": "data_swarms", "objective": settings.objective, "iterations": swarm.iteration,
            "particles": swarm.particles, "takers": takers.names, "best_dev_utility": swarm.g_score,
            "systems": systems_by_split(systems, generators.names), "counts": dict(totals),
            "dataset": str(write_dataset(run_dir.path / "dataset.jsonl", items, FOUND)),
            "adapter": str(generators.save_adapter(best, run_dir.path / "best_adapter")),
            "g_history": swarm.g_history}


def final_table(arena: Arena, settings: DataSwarmsSettings, generators: torch.Tensor, names: list[str], dev: Task,
                test: Task) -> tuple[dict, list[Item]]:
    """{split: {generator: utility}} on fresh draws (few-shot examples and reference from that split), and
    the last generator's dev items."""
    table = {}
    for task in (dev, test):
        sets, _, written = arena.sets(generators, arena.takers.vectors, task.examples, f"final-{task.split}",
                                      settings.final_prompts)
        table[task.split] = dict(zip(names, utilities(settings, sets, reference_profile(arena, settings, task))[0],
                                     strict=True))
        if task is dev:
            items = written[-1]
    return table, items


def plot_objectives(run_dir: RunDir) -> Path:
    """objectives.png: the swarm's mean of every objective per round (and the takers' best scores when
    adversarial), beside the utility's best and mean."""
    rounds = {row["iteration"]: row for row in run_dir.read_log() if row.get("event") == "iteration"}
    rows = [rounds[i] for i in sorted(rounds)]
    curves = {f"mean {name}": [sum(r["objectives"][name]) / len(r["objectives"][name]) for r in rows]
              for name in rows[0]["objectives"]}
    curves.update({name.replace("_", " "): [r[name] for r in rows] for name in ("taker_pool_best", "taker_test_best")
                   if name in rows[0]})  # adversarial: the takers' best score on the pool and on test
    return plot_convergence(rows, run_dir.path / "objectives.png", "data swarms: objectives per round", curves)
