"""Merging LoRA experts of one base model into one adapter: the tensor half of the weight level.

Every merge here is one of four combinations of the experts with per-expert weights w, and each can
be done in two spaces, so a merge method (swarms/weight_merging.py) picks a combination and weights
and never cares where it runs:

- `linear`: Σ wᵢ·expertᵢ. Soups (wᵢ = 1/k), LoraHub (searched w) and ExPO (w_strong = 1+α,
  w_weak = −α: strong + α·(strong − weak)) are all linear.
- `ties` (TIES-Merging): trim each expert to its largest-magnitude `density` fraction, elect a sign
  per entry, then the weighted mean over the experts that agree with it (a disjoint mean).
- `dare_linear`, `dare_ties` (DARE): drop each entry with probability p = 1 − density and scale the
  survivors by 1/(1 − p) (unchanged in expectation), then `linear` or TIES's elect-and-mean.

Spaces. `VectorSpace` merges the flat LoRA vectors (agents/weights.py): the space Model Swarms and
LoraHub move in, A and B factors merged entry by entry. `DeltaSpace` merges each module's weight
change ΔW = s·B·A with PEFT's add_weighted_adapter (its `svd`, `ties_svd`, `dare_*_svd` types) and
factors the result back to the experts' rank by SVD: exact for one expert's ΔW scaled (ExPO from
the base), truncated otherwise. Its result is rescaled into the experts' own layout, so both spaces
return a vector that the experts' adapter config scores and saves alike. PEFT's merge functions
draw DARE's drops from torch's global generator, so DeltaSpace seeds it per call (`seeded`), and
VectorSpace, which must take a generator, implements the same formulas on flat vectors (its TIES
is tested against PEFT's `merge_utils.ties`).
"""

from __future__ import annotations

from typing import Literal

import torch

from rayswarm.agents.decoding import seeded
from rayswarm.agents.weights import ParameterVector

Combination = Literal["linear", "ties", "dare_linear", "dare_ties"]
Sign = Literal["total", "frequency"]
MERGED = "merged"  # the PEFT adapter name DeltaSpace merges into (deleted again after each merge)


def trim(vectors: torch.Tensor, density: float) -> torch.Tensor:
    """TIES's trim: each row (expert) keeps its int(density·D) largest-magnitude entries, the rest are 0."""
    keep = torch.zeros_like(vectors, dtype=torch.bool)
    keep.scatter_(1, vectors.abs().topk(int(density * vectors.shape[1]), dim=1).indices, True)
    return vectors * keep


def drop(vectors: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """DARE: each entry zeroed with probability p, the survivors scaled by 1/(1 − p)."""
    return vectors * (torch.rand(vectors.shape, generator=generator) >= p) / (1 - p)


def disjoint_mean(vectors: torch.Tensor, weights: torch.Tensor, sign: Sign = "total") -> torch.Tensor:
    """TIES's elect and disjoint merge of the rows.

    Per entry the elected sign is that of the rows' sum (`total`) or of their sign count
    (`frequency`), + on a tie; the result is the weighted sum over the rows whose entry has that
    sign (a zero has none), divided by how many rows those are.
    """
    mass = vectors.sum(0) if sign == "total" else vectors.sign().sum(0)
    agree = vectors.sign() == torch.where(mass >= 0, 1.0, -1.0)
    return (vectors * weights[:, None] * agree).sum(0) / agree.sum(0).clamp_min(1)


def expo_weights(count: int, strong: int, weak: int | None, alpha: float) -> torch.Tensor:
    """ExPO as linear weights over `count` experts: strong + α·(strong − weak); weak None is the base (0)."""
    weights = torch.zeros(count)
    weights[strong] = 1 + alpha
    if weak is not None:
        weights[weak] -= alpha
    return weights


class VectorSpace:
    """Merges of the experts' flat LoRA vectors (E × D); DARE's drops come from a generator of `seed`."""

    def __init__(self, vectors: torch.Tensor):
        self.vectors = vectors

    def merge(self, combination: Combination, weights, density: float = 1.0, sign: Sign = "total",
              seed: int = 0) -> torch.Tensor:
        weights = torch.as_tensor(weights, dtype=torch.float32)
        vectors = self.vectors
        if combination.startswith("dare"):
            vectors = drop(vectors, 1 - density, torch.Generator().manual_seed(seed))
        elif combination == "ties":
            vectors = trim(vectors, density)
        if combination.endswith("ties"):
            return disjoint_mean(vectors, weights, sign)
        return weights @ vectors


class DeltaSpace:
    """Merges of the experts' ΔW by PEFT, for `adapters` loaded into one PeftModel, as flat vectors.

    The result is in the layout (and LoRA scaling) of `adapters[0]`: the merged adapter PEFT builds
    has lora_alpha = r, so each module's factors are scaled by √(s_merged / s_expert) before reading.
    """

    def __init__(self, model, adapters: list[str]):
        self.model, self.adapters = model, adapters

    def merge(self, combination: Combination, weights, density: float = 1.0, sign: Sign = "total",
              seed: int = 0) -> torch.Tensor:
        from peft.tuners.lora import LoraLayer

        kind = "svd" if combination == "linear" else f"{combination}_svd"
        with seeded(seed, next(self.model.parameters()).device):
            self.model.add_weighted_adapter(self.adapters, [float(w) for w in weights], MERGED, combination_type=kind,
                                            density=density, majority_sign_method=sign)
        try:
            with torch.no_grad():
                for layer in self.model.modules():
                    if isinstance(layer, LoraLayer) and MERGED in layer.lora_A:
                        factor = (layer.scaling[MERGED] / layer.scaling[self.adapters[0]]) ** 0.5
                        layer.lora_A[MERGED].weight.mul_(factor)
                        layer.lora_B[MERGED].weight.mul_(factor)
            return ParameterVector(self.model, lambda name: ".lora_" in name and f".{MERGED}." in name).get()
        finally:
            self.model.delete_adapter(MERGED)
