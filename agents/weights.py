"""An agent's weights as one flat float32 vector: what swarms move, and what travels between actors.

A `ParameterVector` fixes an ordered selection of a model's parameters once (by default its LoRA
parameters) and then reads or writes them as a single vector. Writing copies slices of the vector
into the existing parameters: no module is rebuilt and nothing touches disk, so a swarm can swap
thousands of vectors through one model. The order is the model's own parameter order, so two
agents with the same base and adapter config produce vectors that line up entry by entry.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from rayswarm.agents.decoding import seeded
from rayswarm.graphs.errors import ConfigError

# None = the active LoRA adapter; str = a regex searched in parameter names; a list = exact names.
Selection = None | str | Sequence[str] | Callable[[str], bool]


@dataclass(frozen=True)
class VectorSpec:
    """Where each selected parameter lives in the flat vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]  # start of each parameter in the vector
    size: int


class ParameterVector:
    """A fixed selection of a model's parameters, read and written as one flat float32 CPU vector."""

    def __init__(self, model: torch.nn.Module, select: Selection = None):
        named = select_parameters(model, select)
        self.params = [param for _, param in named]
        shapes = tuple(tuple(param.shape) for param in self.params)
        sizes = [math.prod(shape) for shape in shapes]
        offsets = (0, *itertools.accumulate(sizes))[:-1]
        self.spec = VectorSpec(tuple(name for name, _ in named), shapes, offsets, sum(sizes))

    def get(self) -> torch.Tensor:
        """A copy of the selected parameters, flattened in spec order."""
        with torch.no_grad():
            return torch.cat([param.detach().reshape(-1).to("cpu", torch.float32) for param in self.params])

    def set(self, vector: torch.Tensor) -> None:
        """Copy `vector` into the selected parameters in place (cast to each parameter's dtype/device)."""
        if not isinstance(vector, torch.Tensor):
            raise ConfigError(f"weight vector must be a torch tensor, got {type(vector).__name__}")
        if vector.dtype != torch.float32 or vector.shape != (self.spec.size,):
            raise ConfigError(
                f"weight vector must be float32 of shape ({self.spec.size},), "
                f"got {str(vector.dtype).removeprefix('torch.')} of shape {tuple(vector.shape)}"
            )
        with torch.no_grad():
            for param, offset in zip(self.params, self.spec.offsets, strict=True):
                param.copy_(vector[offset : offset + param.numel()].view(param.shape))


def select_parameters(
    model: torch.nn.Module, select: Selection = None
) -> list[tuple[str, torch.nn.Parameter]]:
    """The (name, parameter) pairs a selection picks, in the model's parameter order."""
    named = list(model.named_parameters())
    if select is None:
        adapter = _active_adapter(model)
        picked = [(n, p) for n, p in named if ".lora_" in n and f".{adapter}." in n]
    elif isinstance(select, str):
        pattern = re.compile(select)
        picked = [(n, p) for n, p in named if pattern.search(n)]
    elif callable(select):
        picked = [(n, p) for n, p in named if select(n)]
    else:
        by_name = dict(named)
        missing = [name for name in select if name not in by_name]
        if missing:
            raise ConfigError(f"unknown parameter name '{missing[0]}' (e.g. '{named[0][0]}')")
        picked = [(n, p) for n, p in named if n in set(select)]
    if not picked:
        raise ConfigError(f"parameter selection {select!r} matches no parameter of the model")
    return picked


def _active_adapter(model: torch.nn.Module) -> str:
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        raise ConfigError(
            "the model has no LoRA adapter: add one (add_lora) or load one (adapter=), or pass select="
        )
    return model.active_adapter


def add_lora(
    model: torch.nn.Module,
    r: int = 8,
    alpha: int = 16,
    target_modules: str | list[str] = "all-linear",
    dropout: float = 0.0,
    seed: int = 0,
):
    """Wrap `model` with a fresh LoRA adapter; the seed fixes the random A matrices (B starts at zero)."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if isinstance(model, PeftModel):
        raise ConfigError("the model already has a LoRA adapter")
    config = LoraConfig(
        r=r, lora_alpha=alpha, target_modules=target_modules, lora_dropout=dropout, task_type="CAUSAL_LM"
    )
    with seeded(seed, next(model.parameters()).device):
        return get_peft_model(model, config).eval()


def save_adapter(model: torch.nn.Module, path: str | Path) -> Path:
    """Write the LoRA adapter as a standard PEFT folder (adapter_config.json + adapter_model.safetensors)."""
    _active_adapter(model)
    # Embedding layers are never adapted here; "auto" would probe the hub for the base model's vocab.
    model.save_pretrained(str(path), save_embedding_layers=False)
    return Path(path)
