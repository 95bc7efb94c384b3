"""A FlexOlmo agent: one merged checkpoint, an expert mask per request.

    agent = FlexOlmoAgent.load("runs/flexolmo/merged")
    agent.generate(["What is the code of Bokia?"], experts=["public", "codes"])
    agent.generate(prompts, exclude=["twins"])          # opt out of an owner's expert

A request's mask is checked against the checkpoint's expert names first (one-line ConfigError).
Each distinct mask gets its own model with only those experts (`select_experts`: the others' FFNs
and router rows are absent, so they have exactly zero influence); those models share every
non-expert weight with the full one and are cached, most recent first.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from rayswarm.agents.agent import Agent
from rayswarm.agents.flexolmo_model import load, resolve_mask, select_experts


class FlexOlmoAgent:
    cache_size = 8  # distinct masks kept in memory (each holds a copy of its experts' FFNs)

    def __init__(self, model, tokenizer, names: list[str], name: str = "flexolmo"):
        self.model, self.tokenizer, self.names, self.name = model, tokenizer, list(names), name
        self._agents: OrderedDict[tuple[str, ...], Agent] = OrderedDict()

    @classmethod
    def load(cls, folder: str | Path) -> FlexOlmoAgent:
        from transformers import AutoTokenizer

        model, meta = load(folder)
        return cls(model, AutoTokenizer.from_pretrained(folder), meta["experts"], name=Path(folder).name)

    def agent(self, experts: list[str] | None = None, exclude: list[str] | None = None) -> Agent:
        """The Agent of one mask: all experts by default."""
        chosen = tuple(resolve_mask(self.names, experts, exclude))
        if chosen not in self._agents:
            model = self.model if list(chosen) == self.names else select_experts(self.model, self.names, list(chosen))
            self._agents[chosen] = Agent(model, self.tokenizer, name=f"{self.name}[{','.join(chosen)}]")
            while len(self._agents) > self.cache_size:
                self._agents.popitem(last=False)
        self._agents.move_to_end(chosen)
        return self._agents[chosen]

    def generate(self, prompts: list[str], experts: list[str] | None = None, exclude: list[str] | None = None,
                 **options) -> list[str]:
        return self.agent(experts, exclude).generate(prompts, **options)
