"""Scoring many weight vectors at once on resident actors: the expensive half of every weight swarm.

Each ParticleEvaluator actor loads the base model once, with one LoRA slot per particle. Scoring a
swarm writes each particle's vector into its slot (in memory) and runs ONE batched generation over
particles × examples, each row with its own particle's adapter (PEFT mixed-adapter batches). No
particle touches disk and no process starts per particle.

The rows (particle, prompt) are split evenly across the actors.
The vectors travel as one ObjectRef with each call, never as actor state: a call retried on a
restarted actor (max_restarts / max_task_retries) computes exactly what the lost one would have.
"""

from __future__ import annotations

import os

import ray
import torch

from rayswarm.actors.host import ModelHost
from rayswarm.actors.pool import even_chunks
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.execute import NodeRequest
from rayswarm.graphs.spec import AgentSpec, GenerationOptions


def slot(i: int) -> str:
    return f"particle{i}"


@ray.remote
class ParticleEvaluator:
    def __init__(self, spec: AgentSpec, slots: int, threads: int = 1):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        torch.set_num_threads(threads)
        self.host = ModelHost({slot(i): spec for i in range(slots)})

    def pid(self) -> int:
        return os.getpid()

    def generate(self, vectors: torch.Tensor, slots: list[int], prompts: list[str], options: GenerationOptions,
                 system: str = "") -> list[str]:
        """Row i answered with the weights vectors[slots[i]]: one mixed-adapter generation for all rows."""
        for i in sorted(set(slots)):
            self.host.set_vector(slot(i), vectors[i])
        return self.host.generate_rows([slot(i) for i in slots], prompts, options, system)


class EvaluatorPool:
    """`actors` ParticleEvaluators over one base model + adapter layout, for up to `slots` particles."""

    def __init__(self, spec: AgentSpec, slots: int, actors: int = 1, num_cpus: float = 0.5,
                 max_restarts: int = 3):
        if actors < 1 or slots < 1:
            raise ConfigError("an evaluator pool needs at least one actor and one slot")
        self.slots = slots
        self.actors = [
            ParticleEvaluator.options(num_cpus=num_cpus, max_restarts=max_restarts,
                                      max_task_retries=max_restarts).remote(spec, slots, max(1, int(num_cpus)))
            for _ in range(actors)
        ]

    def generate(self, vectors: torch.Tensor, slots: list[int], prompts: list[str], options: GenerationOptions,
                 system: str = "") -> list[str]:
        """Row i answered with the weights vectors[slots[i]], the rows spread evenly over the actors."""
        if vectors.shape[0] > self.slots:
            raise ConfigError(f"{vectors.shape[0]} weight vectors but the evaluators have {self.slots} slots")
        ref = ray.put(vectors.contiguous())  # stored once, read by every actor
        chunks = even_chunks(len(prompts), len(self.actors))
        pending = [actor.generate.remote(ref, [slots[j] for j in chunk], [prompts[j] for j in chunk], options,
                                         system) for actor, chunk in zip(self.actors, chunks, strict=False)]
        return [answer for part in ray.get(pending) for answer in part]

    def outputs(self, vectors: torch.Tensor, prompts: list[str], options: GenerationOptions) -> list[list[str]]:
        """outputs[i][j]: the answer of weights vectors[i] to prompt j."""
        count, n = vectors.shape[0], len(prompts)
        flat = self.generate(vectors, [i for i in range(count) for _ in prompts], prompts * count, options)
        return [flat[i * n : (i + 1) * n] for i in range(count)]

    def shutdown(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


class WeightsBackend:
    """A graph-executor Backend over an EvaluatorPool: agent name → a row of `weights`.

    Every request of a call (all nodes of a level, across every graph being scored) goes out as one
    mixed batch per distinct (options, system), so a whole round of systems costs one pass per level.
    """

    def __init__(self, pool: EvaluatorPool, weights: torch.Tensor, index: dict[str, int]):
        self.pool, self.weights, self.index = pool, weights, index

    def generate(self, requests: list[NodeRequest]) -> list[list[str]]:
        groups: dict[str, list[int]] = {}
        for k, request in enumerate(requests):
            options, system = request.call_settings(run_seed=0)
            groups.setdefault(options.model_dump_json() + "\0" + system, []).append(k)
        replies: list[list[str]] = [[] for _ in requests]
        for members in groups.values():
            options, system = requests[members[0]].call_settings(run_seed=0)
            slots = [self.index[requests[k].agent] for k in members for _ in requests[k].prompts]
            prompts = [prompt for k in members for prompt in requests[k].prompts]
            flat = self.pool.generate(self.weights, slots, prompts, options, system)
            for k in members:
                count = len(requests[k].prompts)
                replies[k], flat = flat[:count], flat[count:]
        return replies
