"""Scoring many weight vectors at once on resident actors: the expensive half of every weight swarm.

Each ParticleEvaluator actor loads the base model once, with one LoRA slot per particle. Scoring a
swarm writes each particle's vector into its slot (in memory) and runs ONE batched generation over
particles × examples, each row with its own particle's adapter (PEFT mixed-adapter batches). No
particle touches disk and no process starts per particle.

The examples are split across the actors, so every actor scores every particle on its share.
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

    def outputs(self, vectors: torch.Tensor, prompts: list[str], options: GenerationOptions) -> list[list[str]]:
        """Every particle's (row of `vectors`) answers to `prompts`, in one mixed-adapter generation."""
        count = vectors.shape[0]
        for i in range(count):
            self.host.set_vector(slot(i), vectors[i])
        names = [slot(i) for i in range(count) for _ in prompts]
        flat = self.host.generate_rows(names, prompts * count, options)
        return [flat[i * len(prompts) : (i + 1) * len(prompts)] for i in range(count)]


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

    def outputs(self, vectors: torch.Tensor, prompts: list[str], options: GenerationOptions) -> list[list[str]]:
        """outputs[i][j]: particle i's answer to prompt j, the examples spread over the actors."""
        if vectors.shape[0] > self.slots:
            raise ConfigError(f"{vectors.shape[0]} particles but the evaluators have {self.slots} slots")
        ref = ray.put(vectors.contiguous())
        chunks = even_chunks(len(prompts), len(self.actors))
        pending = [actor.outputs.remote(ref, [prompts[j] for j in chunk], options)
                   for actor, chunk in zip(self.actors, chunks, strict=False)]
        parts = ray.get(pending)
        return [[answer for part in parts for answer in part[i]] for i in range(vectors.shape[0])]

    def shutdown(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
