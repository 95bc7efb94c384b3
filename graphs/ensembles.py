"""Ensembles: agents made of other agents, the API- and logit-level node types of a graph.

A graph's `agents` are single models. Its `ensembles` combine some of those agents into one more
agent that a node can name like any other; the backend runs the members and combines them:

  API level    router       one member answers each question, picked by a prompted router agent
                            or by a classifier trained on a task's dev split
               cascade      members in order, cheapest first; escalate while the answer's mean
                            token log-probability is below `threshold`
               switch       members take turns by segments: every `segment_tokens` tokens, the
                            member most confident in its own continuation writes the next segment
  logit level  fusion       one decoder over the weighted product of the members' next-token
                            distributions (same tokenizer enforced)
               contrastive  expert minus amateur: log p_expert - beta * log p_amateur over the tokens
                            the expert finds plausible (p >= alpha * max p)

    agents:
      small: {model: "tiny:base"}
      codes: {model: "tiny:codes"}
    ensembles:
      careful: {kind: cascade, members: [small, codes], threshold: -0.5}
    nodes: [{name: answer, agent: careful}]

Plain data like AgentSpec (no models); the algorithms live in agents/, over any backend's members.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rayswarm.graphs.schema import StrictModel
from rayswarm.graphs.spec import GenerationOptions


class EnsembleBase(StrictModel):
    """What every ensemble has: how it decodes and its system prompt, as an agent has."""

    system: str | None = Field(None, description="system prompt given to every member")
    generation: GenerationOptions = Field(default_factory=GenerationOptions)

    def members(self) -> list[str]:
        """The agents this ensemble runs, in order."""
        return list(self.agents)


class Router(EnsembleBase):
    kind: Literal["router"]
    agents: list[str] = Field(min_length=2, description="the candidates; one answers each question")
    mode: Literal["prompted", "trained"] = "prompted"
    router: str | None = Field(None, description="prompted: the agent asked which candidate should answer")
    descriptions: dict[str, str] = Field(default_factory=dict,
                                         description="prompted: what each candidate is good at (default: its name)")
    train_task: str | None = Field(None, description="trained: the task whose dev split teaches the classifier")
    train_limit: int | None = Field(None, gt=0, description="trained: use the first N dev examples")

    @model_validator(mode="after")
    def _mode_fields(self):
        if self.mode == "prompted" and self.router is None:
            raise ValueError("a prompted router needs `router: <agent>`")
        if self.mode == "trained" and self.train_task is None:
            raise ValueError("a trained router needs `train_task: <task>`")
        unknown = sorted(set(self.descriptions) - set(self.agents))
        if unknown:
            raise ValueError(f"descriptions name '{unknown[0]}', which is not among the router's agents")
        return self

    def members(self) -> list[str]:
        extra = [self.router] if self.router and self.router not in self.agents else []
        return [*self.agents, *extra]


class Cascade(EnsembleBase):
    kind: Literal["cascade"]
    agents: list[str] = Field(min_length=2, description="tried in order; the last one always answers")
    threshold: float = Field(-0.5, le=0.0, description="escalate when the answer's mean token log-prob is below")


class Switch(EnsembleBase):
    kind: Literal["switch"]
    agents: list[str] = Field(min_length=2, description="the members that take turns")
    segment_tokens: int = Field(4, gt=0, description="tokens written per turn")


class Fusion(EnsembleBase):
    kind: Literal["fusion"]
    agents: list[str] = Field(min_length=2, description="members; they must share one tokenizer")
    weights: list[float] | None = Field(None, description="one weight per member (default: equal)")

    @model_validator(mode="after")
    def _one_weight_each(self):
        if self.weights is not None and len(self.weights) != len(self.agents):
            raise ValueError(f"{len(self.weights)} weights for {len(self.agents)} agents")
        if self.weights is not None and not any(self.weights):
            raise ValueError("the weights are all zero: no member would have a say")
        return self


class Contrastive(EnsembleBase):
    kind: Literal["contrastive"]
    expert: str
    amateur: str
    alpha: float = Field(0.1, gt=0.0, le=1.0, description="plausibility: keep tokens with p >= alpha * max p")
    beta: float = Field(1.0, ge=0.0, description="how much of the amateur to subtract")

    def members(self) -> list[str]:
        return [self.expert, self.amateur]


EnsembleSpec = Annotated[Router | Cascade | Switch | Fusion | Contrastive, Field(discriminator="kind")]
ENSEMBLE_KINDS = ("router", "cascade", "switch", "fusion", "contrastive")
