"""The particle swarm at the heart of every swarm method: one (particles × dims) tensor, ask/tell.

Two update rules (algorithms.md §0):

- "model_swarms" (default): the rule shared by Model Swarms, Heterogeneous Swarms and Data
  Swarms. Four scalar random weights per particle (not per dimension) for inertia, the personal
  best, the global best and a repel from the global worst, normalised to sum to one (the
  C-normalisation), so the velocity is a convex combination of directions and stays on the scale
  of the distances between particles. x ← x + λ·v, with λ decayed once per iteration to a floor.
- "global_best": textbook global-best PSO (inertia w, c1, c2, per-dimension randomness), the
  baseline the benchmark compares against pyswarms with.

Utilities are maximised ("higher is better"), as in the papers. One iteration of the reference loop
is: stop on patience, restart stray particles, update, evaluate, keep bests, decay λ. Here `ask()`
does the first three (the very first ask returns the starting positions untouched) and `tell()`
the last two, so evaluation (the expensive part, on Ray actors) stays outside this file.

Everything is a pure function of the seed: `state_dict()` holds the positions, bests, histories
and the random generator's state, so a resumed swarm continues exactly where it stopped.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from pydantic import Field

from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.schema import StrictModel


class PSOConfig(StrictModel):
    """The swarm's hyperparameters. Defaults follow the reference argparse defaults (algorithms.md §0)."""

    rule: Literal["model_swarms", "global_best"] = Field(
        "model_swarms", description="model_swarms: the papers' C-normalised rule; global_best: textbook PSO")
    inertia: float = Field(0.4, ge=0, description="φ_v (model_swarms) or w (global_best)")
    cognitive: float = Field(0.3, ge=0, description="φ_p, pull towards the particle's own best (c1)")
    social: float = Field(0.3, ge=0, description="φ_g, pull towards the global best (c2)")
    repel: float = Field(0.3, ge=0, description="φ_w, push away from the global worst (model_swarms only)")
    repel_term: bool = Field(True, description="use the repel term at all")
    weight_randomness: bool = Field(True, description="draw r ~ U(0,1) per weight; False: all r = 1")
    step_length: float = Field(1.0, gt=0, description="λ, the initial step length")
    step_length_factor: float = Field(0.95, gt=0, le=1, description="λ decay per iteration (1 = none)")
    minimum_step_length: float = Field(0.1, ge=0, description="floor of λ")
    initial_velocity: Literal["random", "zero"] = Field(
        "random", description="random: towards a random other particle (v_i = x_j - x_i); zero: v = 0")
    patience: int = Field(10, ge=1, description="stop when the last `patience` global-best values are equal")
    restart_patience: float = Field(
        0.5, ge=0, description="restart a particle (x ← its best, v ← 0) after restart_patience·patience "
        "iterations without a new personal best; 0 = never")
    restart_cooldown: int = Field(
        0, ge=0, description="iterations before a restarted particle may restart again (Model Swarms: 0; "
        "Heterogeneous Swarms: int(restart_patience·patience))")
    max_iterations: int = Field(200, ge=0, description="iterations after the initial evaluation")
    seed: int = 0


class PSO:
    """A swarm over `positions` (P × D). Call `ask()` for positions to score, then `tell(utilities)`."""

    def __init__(self, positions: torch.Tensor, config: PSOConfig | None = None):
        if positions.dim() != 2 or positions.shape[0] < 2:
            raise ConfigError(f"a swarm needs a (particles × dims) tensor with ≥ 2 particles, got "
                              f"{tuple(positions.shape)}")
        self.config = config or PSOConfig()
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.x = positions.detach().to(torch.float32).clone()
        count = self.x.shape[0]
        if self.config.initial_velocity == "random":
            # v_i = x_j − x_i for a random j ≠ i: shift each index by 1..P-1.
            shift = torch.randint(1, count, (count,), generator=self.generator)
            self.v = self.x[(torch.arange(count) + shift) % count] - self.x
        else:
            self.v = torch.zeros_like(self.x)
        self.step = self.config.step_length
        self.iteration = 0  # completed iterations (the initial evaluation is iteration 0)
        self.evaluated = False  # whether the positions were scored since the last update
        self.p = self.x.clone()
        self.p_score = torch.full((count,), -torch.inf, dtype=torch.float64)
        self.g = self.g_w = None
        self.g_score, self.g_w_score = -torch.inf, torch.inf
        self.history: list[list[float]] = [[] for _ in range(count)]  # each particle's utilities
        self.g_history: list[float] = []
        self.cooldown = torch.zeros(count, dtype=torch.long)

    @property
    def particles(self) -> int:
        return self.x.shape[0]

    @property
    def done(self) -> bool:
        """Out of iterations, or the global best unchanged for `patience` iterations."""
        if self.iteration >= self.config.max_iterations and self.g_history:
            return True
        # As the reference: the last `patience` entries of the global-best history are all equal.
        recent = self.g_history[-self.config.patience:]
        return len(recent) == self.config.patience and len(set(recent)) == 1

    def ask(self) -> torch.Tensor:
        """The positions to evaluate next (a view: do not modify)."""
        if self.evaluated:
            self._restart_strays()
            self._update()
            self.evaluated = False
        return self.x

    def tell(self, utilities) -> None:
        """Record the utilities of the positions `ask()` returned; keep bests; decay λ."""
        scores = torch.as_tensor(utilities, dtype=torch.float64).reshape(-1)  # utilities stay exact
        if scores.shape[0] != self.particles:
            raise ConfigError(f"tell: {scores.shape[0]} utilities for {self.particles} particles")
        if self.evaluated:
            raise ConfigError("tell called twice without ask: every ask gets exactly one tell")
        if torch.isnan(scores).any():
            raise ConfigError("tell: a utility is NaN")
        improved = scores > self.p_score  # strictly greater, as in the reference
        self.p[improved] = self.x[improved]
        self.p_score = torch.where(improved, scores, self.p_score)
        best, worst = int(scores.argmax()), int(scores.argmin())
        if scores[best] > self.g_score:
            self.g, self.g_score = self.x[best].clone(), float(scores[best])
        if scores[worst] < self.g_w_score:
            self.g_w, self.g_w_score = self.x[worst].clone(), float(scores[worst])
        for i, score in enumerate(scores.tolist()):
            self.history[i].append(score)
        self.g_history.append(self.g_score)
        if self.g_history[:-1]:  # the initial evaluation is not an iteration
            self.iteration += 1
            self.step = max(self.step * self.config.step_length_factor, self.config.minimum_step_length)
        self.evaluated = True

    @property
    def best(self) -> tuple[torch.Tensor, float]:
        """The best position ever evaluated and its utility."""
        if self.g is None:
            raise ConfigError("no position has been evaluated yet")
        return self.g, self.g_score

    # ---- the update ----------------------------------------------------------------------------

    def _restart_strays(self) -> None:
        """x ← p, v ← 0 for particles whose personal best is `restart_patience·patience` iterations old."""
        limit = self.config.restart_patience * self.config.patience
        if limit <= 0:
            return
        for i, scores in enumerate(self.history):
            first_best = scores.index(max(scores))  # when the particle first reached its best
            if len(scores) - first_best >= limit and self.cooldown[i] == 0:
                self.x[i], self.v[i] = self.p[i], 0.0
                self.cooldown[i] = self.config.restart_cooldown
            elif self.cooldown[i] > 0:
                self.cooldown[i] -= 1

    def _update(self) -> None:
        if self.config.rule == "global_best":
            self._update_global_best()
        else:
            self._update_model_swarms()

    def _update_model_swarms(self) -> None:
        c = self.config
        coefficients = torch.tensor([c.inertia, c.cognitive, c.social, c.repel if c.repel_term else 0.0])
        r = torch.rand(self.particles, 4, generator=self.generator) if c.weight_randomness else torch.ones(
            self.particles, 4)
        a = r * coefficients
        a = (a / a.sum(dim=1, keepdim=True).clamp_min(1e-12)).to(self.x.device)  # the C-normalisation
        a_v, a_p, a_g, a_w = (a[:, k : k + 1] for k in range(4))
        # v ← a_v·v + a_p·(p − x) + a_g·(g − x) + a_w·(x − g_w), regrouped per vector and done in
        # place: at a million dimensions, (P × D) temporaries cost more than the arithmetic.
        v = self.v.mul_(a_v)
        v.addcmul_(self.p, a_p).addcmul_(self.g[None], a_g).addcmul_(self.g_w[None], -a_w)
        v.addcmul_(self.x, a_w - a_p - a_g)
        self.x.add_(v, alpha=self.step)

    def _update_global_best(self) -> None:
        c = self.config
        # Per-dimension randomness, as textbook PSO: two (P × D) draws, reused as scratch space.
        r1 = torch.rand(self.x.shape, generator=self.generator).to(self.x.device)
        r2 = torch.rand(self.x.shape, generator=self.generator).to(self.x.device)
        self.v.mul_(c.inertia)
        self.v.addcmul_(r1, self.p, value=c.cognitive).addcmul_(r1, self.x, value=-c.cognitive)
        self.v.addcmul_(r2, self.g[None].expand_as(r2), value=c.social).addcmul_(r2, self.x, value=-c.social)
        self.x.add_(self.v, alpha=self.step)

    # ---- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue bit for bit (torch.save it; `load_state_dict` restores it)."""
        names = ("x", "v", "p", "p_score", "g", "g_w", "g_score", "g_w_score", "step", "iteration",
                 "evaluated", "history", "g_history", "cooldown")
        state = copy.deepcopy({name: getattr(self, name) for name in names})  # the swarm mutates in place
        return {**state, "config": self.config.model_dump(), "generator": self.generator.get_state()}

    @classmethod
    def from_state_dict(cls, state: dict) -> PSO:
        swarm = cls(state["x"], PSOConfig(**state["config"]))
        for name, value in state.items():
            if name not in ("config", "generator"):
                setattr(swarm, name, value)
        swarm.generator.set_state(state["generator"])
        return swarm


def populate(experts: torch.Tensor, count: int, seed: int = 0) -> torch.Tensor:
    """Top up a pool of experts (E × D) to `count` particles by pairwise crossover (algorithms.md §0).

    Each child is w·a + (1 − w)·b for two distinct parents and w ~ U(0, 2): half interpolation,
    half extrapolation. The experts themselves come first, unchanged.
    """
    pool = experts.shape[0]
    if pool < 2 and count > pool:
        raise ConfigError("crossover needs at least two experts")
    generator = torch.Generator().manual_seed(seed)
    children = []
    for _ in range(max(0, count - pool)):
        a, b = torch.randperm(pool, generator=generator)[:2].tolist()
        w = float(torch.rand((), generator=generator)) * 2
        children.append(w * experts[a] + (1 - w) * experts[b])
    return torch.cat([experts, *(child[None] for child in children)]) if children else experts.clone()
