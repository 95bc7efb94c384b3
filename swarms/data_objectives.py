"""Data Swarms' objectives (algorithms.md §3): what makes a generator's data good, from test takers' scores.

Everything is a pure function of score matrices. S[g, t] is test taker t's mean score (in [0, 1])
on generator g's items; `sets` stacks R such matrices, one per independent set each generator
wrote (R × G × T), and S is their mean (the sets are equally large, so it is the mean over all
items). Every objective returns one utility per generator, higher is better:

| objective   | utility of generator g                                                        |
|-------------|-------------------------------------------------------------------------------|
| difficulty  | 1 − max_t S[g, t]: even the best taker fails                                  |
| separation  | (max_t S[g, t] − min_t S[g, t]) / (T − 1): the mean gap between adjacent takers |
| novelty     | KL(p_ref ‖ p_g): p_ref the takers' profile on the original dev data, p_g on g's |
| consistency | 1 − mean_t std_r sets[r, g, t]: the takers score alike on every set g writes     |
| mixed       | Σ_k w_k · objective_k (the reference: 0.6 difficulty + 0.2 separation + 0.2 novelty) |

Profiles are the takers' scores smoothed by SMOOTHING and normalised to sum to one: the reference
normalises 1-10 judge ratings, which are never 0, while exact-match scores often are, and one zero
would make the divergence infinite. The standard deviation is the population one (numpy's).
"""

from __future__ import annotations

import numpy as np

OBJECTIVES = ("difficulty", "separation", "novelty", "consistency")
MIXED = {"difficulty": 0.6, "separation": 0.2, "novelty": 0.2}  # the reference's `mixed`
SMOOTHING = 0.01  # added to every taker's mean score before a profile is normalised


def difficulty(scores: np.ndarray) -> np.ndarray:
    """1 − the best taker's score on each generator's items (G × T → G)."""
    return 1.0 - np.asarray(scores, dtype=float).max(axis=1)


def separation(scores: np.ndarray) -> np.ndarray:
    """The spread of the takers' scores per generator: the mean of the T − 1 gaps of the sorted row."""
    scores = np.asarray(scores, dtype=float)
    takers = scores.shape[1]
    return (scores.max(axis=1) - scores.min(axis=1)) / (takers - 1) if takers > 1 else np.zeros(len(scores))


def profile(scores: np.ndarray) -> np.ndarray:
    """Scores (… × T) as distributions over the takers: smoothed, then normalised along the last axis."""
    smoothed = np.asarray(scores, dtype=float) + SMOOTHING
    return smoothed / smoothed.sum(axis=-1, keepdims=True)


def novelty(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """KL(p_ref ‖ p_g) per generator: how far its data moves the takers' ranking from the original data's."""
    p, q = profile(reference), profile(scores)
    return (p * np.log(p / q)).sum(axis=-1)


def consistency(sets: np.ndarray) -> np.ndarray:
    """1 − the takers' mean standard deviation across a generator's R sets (R × G × T → G)."""
    return 1.0 - np.asarray(sets, dtype=float).std(axis=0).mean(axis=-1)


def objective_values(sets: np.ndarray, reference: np.ndarray | None) -> dict[str, np.ndarray]:
    """Every objective the inputs allow: novelty needs a reference profile, consistency two sets or more."""
    sets = np.asarray(sets, dtype=float)
    scores = sets.mean(axis=0)
    values = {"difficulty": difficulty(scores), "separation": separation(scores)}
    if reference is not None:
        values["novelty"] = novelty(scores, reference)
    if sets.shape[0] > 1:
        values["consistency"] = consistency(sets)
    return values


def utility(weights: dict[str, float], values: dict[str, np.ndarray]) -> np.ndarray:
    """Σ_k weights[k] · values[k]: one objective is the weight 1 on it, `mixed` several."""
    return sum(weight * values[name] for name, weight in weights.items() if weight)
