"""Run graph nodes in this process: the backend for a laptop, and the baseline for actor overhead.

One Agent is loaded per distinct (model, adapter, dtype), so nodes and agent names that share a
model share its weights. Nodes of a wavefront run one after another; the Ray backend in actors/
runs them at the same time.
"""

from __future__ import annotations

import torch

from rayswarm.agents.agent import Agent
from rayswarm.agents.decoding import Completion
from rayswarm.agents.ensemble import run_ensemble
from rayswarm.agents.stepping import Stepper, vocabulary
from rayswarm.graphs.ensembles import EnsembleSpec
from rayswarm.graphs.execute import NodeRequest
from rayswarm.graphs.spec import AgentSpec, GenerationOptions


def _weights_key(spec: AgentSpec) -> tuple:
    return (spec.model, spec.adapter, spec.dtype)


class LocalBackend:
    def __init__(self, agents: dict[str, AgentSpec], seed: int = 0,
                 ensembles: dict[str, EnsembleSpec] | None = None):
        self.specs = dict(agents)
        self.ensembles = dict(ensembles or {})
        self.seed = seed
        self._loaded: dict[tuple, Agent] = {}

    def agent(self, name: str) -> Agent:
        spec = self.specs[name]
        key = _weights_key(spec)
        if key not in self._loaded:
            self._loaded[key] = Agent.from_spec(spec)
        return self._loaded[key]

    def load_all(self) -> None:
        """Load every agent now, so that a bad model fails before any output is written."""
        for name in self.specs:
            self.agent(name)

    def tokens_generated(self) -> int:
        return sum(agent.tokens_generated for agent in self._loaded.values())

    def generate(self, requests: list[NodeRequest]) -> list[list[str]]:
        replies = []
        for request in requests:
            options, system = request.call_settings(self.seed)
            if request.agent in self.ensembles:
                # None, not "": each member keeps its own system prompt unless the node sets one.
                replies.append(run_ensemble(self.ensembles[request.agent], LocalMembers(self), request.prompts,
                                            options, request.system))
            else:
                replies.append(self.agent(request.agent).generate(request.prompts, options=options, system=system))
        return replies


class LocalMembers:
    """An ensemble's members as the Agents of a LocalBackend (agents/ensemble.py Members)."""

    def __init__(self, backend: LocalBackend):
        self.backend = backend
        self.sessions: dict[tuple[str, str], Stepper] = {}  # (session id, agent) -> its open decoding

    def _system(self, agent: str, system: str | None) -> str:
        # Agents sharing weights share one Agent, whose own spec may be another agent's: resolve here.
        return system if system is not None else (self.backend.specs[agent].system or "")

    def generate(self, agent: str, prompts: list[str], options: GenerationOptions, system: str | None) -> list[str]:
        return self.backend.agent(agent).generate(prompts, options=options, system=self._system(agent, system))

    def score(self, agent: str, prompts: list[str], continuations: list[str],
              system: str | None) -> list[list[float]]:
        return self.backend.agent(agent).score(prompts, continuations, reduction="none",
                                               system=self._system(agent, system),
                                               options=self.backend.specs[agent].generation)

    def continue_answers(self, agent: str, prompts: list[str], answers: list[str], options: GenerationOptions,
                         system: str | None) -> list[Completion]:
        return self.backend.agent(agent).continue_answers(prompts, answers, options, self._system(agent, system))

    def spec(self, agent: str) -> AgentSpec:
        return self.backend.specs[agent]

    def vocabulary(self, agent: str) -> tuple:
        return vocabulary(self.backend.agent(agent))

    def start_decoding(self, session: str, agents: list[str], prompts: list[str],
                       system: str | None) -> list[torch.Tensor]:
        logprobs = []
        for agent in agents:  # a Stepper each, even on a shared Agent: each needs its own cache
            stepper = self.sessions[(session, agent)] = Stepper(self.backend.agent(agent))
            logprobs.append(stepper.start(prompts, self._system(agent, system), self.backend.specs[agent].generation))
        return logprobs

    def step_decoding(self, session: str, agents: list[str], tokens: list[int]) -> list[torch.Tensor]:
        return [self.sessions[(session, agent)].step(tokens) for agent in agents]

    def end_decoding(self, session: str, generated: dict[str, list[int]]) -> None:
        for agent, counts in generated.items():
            self.sessions.pop((session, agent), None)
            self.backend.agent(agent).tokens_generated += sum(counts)
