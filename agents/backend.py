"""Run graph nodes in this process: the backend for a laptop, and the baseline for actor overhead.

One Agent is loaded per distinct (model, adapter, dtype), so nodes and agent names that share a
model share its weights. Nodes of a wavefront run one after another; the Ray backend in actors/
runs them at the same time.
"""

from __future__ import annotations

from rayswarm.agents.agent import Agent
from rayswarm.graphs.execute import NodeRequest
from rayswarm.graphs.spec import AgentSpec


def _weights_key(spec: AgentSpec) -> tuple:
    return (spec.model, spec.adapter, spec.dtype)


class LocalBackend:
    def __init__(self, agents: dict[str, AgentSpec], seed: int = 0):
        self.specs = dict(agents)
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

    def generate(self, requests: list[NodeRequest]) -> list[list[str]]:
        replies = []
        for request in requests:
            options, system = request.call_settings(self.seed)
            replies.append(self.agent(request.agent).generate(request.prompts, options=options, system=system))
        return replies
