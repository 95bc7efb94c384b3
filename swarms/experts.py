"""What every weight swarm starts from and leaves behind: the experts as vectors, and checkpoints."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from rayswarm.actors.host import ModelHost
from rayswarm.agents.agent import Agent
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.rundir import RunDir
from rayswarm.graphs.spec import AgentSpec

CHECKPOINT = "swarm.pt"


@dataclass
class Experts:
    """The initial experts as one (E × D) matrix, and a spec to rebuild an adapter from a vector."""

    names: list[str]
    vectors: torch.Tensor
    template: AgentSpec

    @classmethod
    def load(cls, experts: dict[str, AgentSpec]) -> Experts:
        if len(experts) < 2:
            raise ConfigError("a weight swarm needs at least two experts")
        host = ModelHost(experts)  # one base for all: a ConfigError names the misfits otherwise
        vectors = [host.get_vector(name) for name in experts]
        sizes = {v.numel() for v in vectors}
        if len(sizes) > 1:
            raise ConfigError(f"the experts' LoRA adapters differ in shape (sizes {sorted(sizes)}): "
                              "a swarm moves them as vectors of one layout")
        return cls(list(experts), torch.stack(vectors), next(iter(experts.values())))

    def save_adapter(self, vector: torch.Tensor, path: Path) -> Path:
        agent = Agent.from_spec(self.template)
        agent.set_vector(vector)
        return agent.save_adapter(path)


def save_checkpoint(run_dir: RunDir, state: dict) -> None:
    """Atomically: a run killed while writing keeps its previous checkpoint."""
    target = run_dir.checkpoints / CHECKPOINT
    torch.save(state, target.with_suffix(".tmp"))
    os.replace(target.with_suffix(".tmp"), target)


def load_checkpoint(run_dir: RunDir) -> dict | None:
    """The last checkpoint's state, or None for a fresh run."""
    path = run_dir.path / "checkpoints" / CHECKPOINT
    return torch.load(path, weights_only=False) if path.is_file() else None




def systems_by_split(table: dict[str, dict[str, float]], expert_names: list[str]) -> dict[str, dict[str, float]]:
    """{split: {system: score}} → {system: {split: score}}, plus the best single expert picked on dev."""
    best_single = max(expert_names, key=lambda name: table["dev"][name])
    systems = {name: {split: table[split][name] for split in table} for name in table["dev"]}
    systems[f"best single expert ({best_single})"] = systems[best_single]
    return systems
