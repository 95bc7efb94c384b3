"""AgentActor: a Ray actor holding a ModelHost (one base model, one or more agents on it).

Its state is rebuilt from its specs alone, so Ray can restart it (`max_restarts`) and retry the
call that was running (`max_task_retries`). Calls that move weights pass them with the call
(`weights=`, an ObjectRef resolved by Ray), never as earlier state, so a retried call on a fresh
actor computes exactly what the lost one would have.
"""

from __future__ import annotations

import os

import ray
import torch

from rayswarm.actors.host import ModelHost
from rayswarm.agents.decoding import Completion
from rayswarm.graphs.spec import AgentSpec, GenerationOptions


@ray.remote
class AgentActor:
    def __init__(self, specs: dict[str, AgentSpec], threads: int = 1):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # one "Loading weights" bar per actor start floods the driver
        # One math thread per actor unless it was given more CPUs: processes sharing cores each
        # spawning a thread per core is the slow case on small machines.
        torch.set_num_threads(max(1, threads))
        self.host = ModelHost(specs)

    def ready(self) -> list[str]:
        """The agents it hosts; awaiting it surfaces a load error as soon as it happens."""
        return sorted(self.host.specs)

    def pid(self) -> int:
        return os.getpid()

    def generate(self, name: str, prompts: list[str], options: GenerationOptions | None = None,
                 system: str | None = None, weights: torch.Tensor | None = None) -> list[str]:
        return self.host.generate(name, prompts, options, system, weights)

    def score(self, name: str, prompts: list[str], continuations: list[str], reduction: str = "sum",
              system: str | None = None, weights: torch.Tensor | None = None) -> list:
        return self.host.score(name, prompts, continuations, reduction, system, weights)

    def continue_answers(self, name: str, prompts: list[str], answers: list[str], options: GenerationOptions,
                         system: str | None = None) -> list[Completion]:
        return self.host.continue_answers(name, prompts, answers, options, system)

    def tokens_generated(self) -> int:
        return self.host.tokens_generated()

    def vocabulary(self) -> tuple:
        return self.host.vocabulary()

    def start_decoding(self, name: str, prompts: list[str], session: str, system: str | None = None) -> torch.Tensor:
        return self.host.start_decoding(name, prompts, session, system)

    def step_decoding(self, name: str, tokens: list[int], session: str) -> torch.Tensor:
        return self.host.step_decoding(name, tokens, session)

    def end_decoding(self, name: str, generated: list[int], session: str) -> None:
        self.host.end_decoding(name, generated, session)

    def get_vector(self, name: str) -> torch.Tensor:
        return self.host.get_vector(name)

    def set_vector(self, name: str, vector: torch.Tensor) -> None:
        self.host.set_vector(name, vector)


def start_actor(specs: dict[str, AgentSpec], num_cpus: float, num_gpus: float = 0.0, threads: int = 1,
                max_restarts: int = 3):
    """An AgentActor with its Ray resources, restarted (and its call retried) up to max_restarts times."""
    return AgentActor.options(
        num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=max_restarts, max_task_retries=max_restarts,
    ).remote(specs, threads=threads)
