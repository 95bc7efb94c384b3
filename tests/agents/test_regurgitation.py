"""Regurgitation metrics on hand-made cases, and mining on a tiny model that memorized the toy passages."""

import random

import numpy as np
import pytest

from rayswarm.agents import regurgitation as rg
from rayswarm.agents.agent import Agent
from rayswarm.agents.tiny import build_tiny_model
from rayswarm.agents.tokenizer import build_char_tokenizer
from rayswarm.agents.toydata import TrainItem
from rayswarm.agents.toytrain import TrainConfig, train
from rayswarm.agents.toyworld import passage
from rayswarm.agents.zoo import memorized_passages
from rayswarm.graphs.errors import DataError


def test_lcs_is_a_subsequence_not_a_substring():
    assert rg.lcs_length("ABCBDAB", "BDCABA") == 4  # the textbook case
    assert rg.lcs_length("axbxc", "abc") == 3  # a substring measure would say 1
    assert rg.lcs_length("", "abc") == rg.lcs_length("abc", "") == 0
    assert rg.lcs_length([1, 2, 3], [1, 2, 3]) == 3


def test_lcs_ratio_truncates_the_generation_to_the_reference():
    assert rg.lcs_ratio("abcd" + "zzzz", "abcd") == 1.0
    assert rg.lcs_ratio("zzzz" + "abcd", "abcd") == 0.0  # the match lies beyond the reference's length
    assert rg.lcs_ratio("", "abcd") == 0.0  # empty output
    assert rg.lcs_ratio("abcd", "") == 0.0  # empty reference


def test_granularities_on_a_hand_made_case():
    scores = rg.regurgitation("The old, OLD river!", "the old river sang", build_char_tokenizer())
    # characters: "theoldoldriver" vs "theoldriversang", truncated to 15 chars each → LCS "theoldriver" = 11
    assert scores["char_lcs"] == pytest.approx(11 / 15)
    # words: [the, old, ",", old, river, !] truncated to 4 → [the, old, ",", old] vs [the, old, river, sang]
    assert scores["word_lcs"] == pytest.approx(2 / 4)
    assert scores["rouge_l"] == pytest.approx(0.5)  # P = R = 2/4
    assert 0 < scores["token_lcs"] < 1  # case differs, so not every character token matches


def test_rouge_l_and_empty_output():
    assert rg.rouge_l(["a", "b"], ["a", "b", "c", "d"]) == pytest.approx(2 * 1 * 0.5 / 1.5)
    empty = rg.regurgitation("", "some reference text")
    assert empty == {"char_lcs": 0.0, "word_lcs": 0.0, "rouge_l": 0.0}


def test_percentiles_match_numpy_and_summary_needs_rows():
    values = [0.1, 0.9, 0.4, 0.4, 1.0, 0.0, 0.25]
    for q in rg.PERCENTILES:
        assert rg.percentile(values, q) == pytest.approx(np.percentile(values, q))
    summary = rg.summarize([{"char_lcs": 0.0}, {"char_lcs": 1.0}])
    assert summary["char_lcs"]["mean"] == 0.5 and summary["char_lcs"]["p50"] == 0.5
    with pytest.raises(DataError):
        rg.summarize([])


@pytest.fixture(scope="module")
def memorizer():
    """A tiny model trained on the toy zoo's passages until it recites them (~5 s on one thread)."""
    tokenizer = build_char_tokenizer()
    model = build_tiny_model("llama", seed=0, hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                             initializer_range=0.08)
    items = [TrainItem(None, "<s>" + p) for p in memorized_passages("quick")] * 40
    train(model, tokenizer, items, TrainConfig(steps=100, batch_size=8, lr=3e-3, warmup=10), progress=False)
    return Agent(model, tokenizer, name="memorizer")


def unseen_passages(n: int) -> list[str]:
    return [passage(random.Random(f"unseen-{i}"), 100) for i in range(n)]


def test_mining_finds_the_memorized_passages(memorizer):
    memorized = memorized_passages("quick")
    corpus = unseen_passages(3) + memorized + ["too short"]
    mined = rg.mine(memorizer, corpus, top=3)
    assert sorted(w.source for w in mined) == [3, 4, 5]  # the memorized documents, nothing else
    assert all(w.score == 1.0 and w.generation == w.reference for w in mined)
    assert mined[0].text == memorized[0][:96]  # prefix + continuation, 64 + 32 characters
    everything = rg.mine(memorizer, corpus)
    assert len(everything) == 6 and max(w.score for w in everything[3:]) < 0.9  # the short one is skipped
    assert rg.mine(memorizer, corpus, min_score=0.99) == mined


def test_mining_needs_long_enough_documents(memorizer):
    with pytest.raises(DataError, match="96 tokens"):
        rg.mine(memorizer, ["short", "also short"])


def test_evaluate_and_perplexity_separate_memorized_from_unseen(memorizer):
    tokenizer = memorizer.tokenizer
    seen = rg.windows(memorized_passages("quick"), tokenizer)
    unseen = rg.windows(unseen_passages(3), tokenizer)
    _, seen_summary = rg.evaluate(memorizer, seen)
    _, unseen_summary = rg.evaluate(memorizer, unseen)
    for metric in ("char_lcs", "word_lcs", "token_lcs", "rouge_l"):
        assert seen_summary[metric]["mean"] == 1.0 > unseen_summary[metric]["mean"]
    assert rg.perplexity(memorizer, memorized_passages("quick")) < 1.5 < rg.perplexity(memorizer, unseen_passages(3))
