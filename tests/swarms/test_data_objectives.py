"""Data Swarms' objectives on small score matrices, computed by hand."""

import math

import numpy as np
import pytest

from rayswarm.swarms.data_objectives import (
    SMOOTHING,
    consistency,
    difficulty,
    novelty,
    objective_values,
    profile,
    separation,
    utility,
)

# Two generators × three takers.
S = np.array([[0.2, 0.9, 0.5],
              [0.0, 0.0, 0.0]])


def test_difficulty_is_one_minus_the_best_taker():
    assert difficulty(S) == pytest.approx([0.1, 1.0])


def test_separation_is_the_mean_gap_between_sorted_takers():
    assert separation(S) == pytest.approx([(0.9 - 0.2) / 2, 0.0])
    assert separation(np.array([[0.0, 0.5, 1.0]])) == pytest.approx([0.5])  # gaps 0.5 and 0.5
    assert separation(np.array([[0.7]])) == pytest.approx([0.0])  # one taker separates nothing


def test_profiles_are_smoothed_then_normalised():
    assert profile(np.array([0.0, 0.0])) == pytest.approx([0.5, 0.5])
    total = 1 + 2 * SMOOTHING
    assert profile(np.array([1.0, 0.0])) == pytest.approx([(1 + SMOOTHING) / total, SMOOTHING / total])


def test_novelty_is_the_kl_divergence_from_the_reference_profile():
    reference = np.array([1.0, 0.0])
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    total = 1 + 2 * SMOOTHING
    p = [(1 + SMOOTHING) / total, SMOOTHING / total]
    flipped = p[0] * math.log(p[0] / p[1]) + p[1] * math.log(p[1] / p[0])
    even = p[0] * math.log(p[0] / 0.5) + p[1] * math.log(p[1] / 0.5)
    assert novelty(scores, reference) == pytest.approx([0.0, flipped, even])
    assert flipped > even > 0  # reversing the takers' ranking is more novel than flattening it


def test_consistency_is_one_minus_the_mean_std_across_sets():
    sets = np.array([[[0.0, 1.0], [0.5, 0.5]],   # set 0: generator 0, generator 1
                     [[1.0, 1.0], [0.5, 0.5]]])  # set 1
    # generator 0: taker 0 std(0, 1) = 0.5, taker 1 std(1, 1) = 0 → mean 0.25; generator 1 never varies.
    assert consistency(sets) == pytest.approx([0.75, 1.0])


def test_objective_values_has_what_the_inputs_allow_and_mixes_weight_them():
    one_set = S[None]
    assert set(objective_values(one_set, None)) == {"difficulty", "separation"}
    values = objective_values(np.stack([S, S]), np.array([0.5, 0.5, 0.5]))
    assert set(values) == {"difficulty", "separation", "novelty", "consistency"}
    assert values["consistency"] == pytest.approx([1.0, 1.0])
    mixed = utility({"difficulty": 0.6, "separation": 0.2, "novelty": 0.2}, values)
    assert mixed == pytest.approx(0.6 * difficulty(S) + 0.2 * separation(S) + 0.2 * values["novelty"])
    assert utility({"difficulty": 1.0, "novelty": 0.0}, values) == pytest.approx(difficulty(S))
