"""Running an ensemble (graphs/ensembles.py) over whatever hosts its members.

The algorithms only ever talk to `Members`: "agent X, generate these" and "agent X, how likely are
these continuations", and for the logit level "agents X and Y, read these prompts, then take these
tokens one at a time" (agents/stepping.py). The in-process backend answers with Agents
(agents/backend.py), the Ray backend with actors (actors/pool.py), so a cascade, a router or a
logit fusion is written once and runs on both.
"""

from __future__ import annotations

from typing import Protocol

import torch

from rayswarm.agents.decoding import Completion
from rayswarm.graphs.ensembles import EnsembleSpec
from rayswarm.graphs.spec import AgentSpec, GenerationOptions


class Members(Protocol):
    """The member agents of an ensemble, by name. `system=None` means the member's own prompt."""

    def generate(self, agent: str, prompts: list[str], options: GenerationOptions,
                 system: str | None) -> list[str]:
        ...

    def score(self, agent: str, prompts: list[str], continuations: list[str],
              system: str | None) -> list[list[float]]:
        """Per-token log-probabilities of each continuation after its prompt."""
        ...

    def continue_answers(self, agent: str, prompts: list[str], answers: list[str], options: GenerationOptions,
                         system: str | None) -> list[Completion]:
        """Continue answers already begun (Agent.continue_answers): the new text, its length and why it ended."""
        ...

    def spec(self, agent: str) -> AgentSpec:
        """What the member is, so that what was learned about it (a trained router) can be cached."""
        ...

    def vocabulary(self, agent: str) -> tuple:
        """(tokenizer, token ids that end its turn): a logit-level ensemble decodes with them."""
        ...

    def start_decoding(self, session: str, agents: list[str], prompts: list[str],
                       system: str | None) -> list[torch.Tensor]:
        """Open decoding `session` of the prompts on every agent, each with its own KV cache: each
        agent's log-probabilities of the first new token, [rows, vocab]."""
        ...

    def step_decoding(self, session: str, agents: list[str], tokens: list[int]) -> list[torch.Tensor]:
        """Append tokens[i] to row i on every agent, all at once: each agent's next log-probabilities."""
        ...

    def end_decoding(self, session: str, generated: dict[str, list[int]]) -> None:
        """Free the session on every agent named; generated[agent][i] tokens of row i count as its output."""
        ...


def run_ensemble(spec: EnsembleSpec, members: Members, prompts: list[str], options: GenerationOptions,
                 system: str | None) -> list[str]:
    """The ensemble's answer to each prompt."""
    from rayswarm.agents import logit_fusion, routing

    runners = {"router": routing.route, "cascade": routing.cascade, "switch": routing.switch,
               "fusion": logit_fusion.fuse, "contrastive": logit_fusion.contrast}
    return runners[spec.kind](spec, members, prompts, options, system)
