"""Token streaming joins to exactly what generate() returns, stop strings and sampling included."""

import pytest

from rayswarm.agents.agent import Agent
from rayswarm.agents.streaming import settled, stream_answer
from rayswarm.graphs.spec import BudgetForcing, GenerationOptions


def test_settled_holds_back_what_may_begin_a_stop_string():
    assert settled("abc END more", ["END"]) == "abc "
    assert settled("abc EN", ["END"]) == "abc "
    assert settled("abc E", ["END", "Eh"]) == "abc "
    assert settled("abc", ["END"]) == "abc"
    assert settled("abc", []) == "abc"


@pytest.fixture(scope="module")
def chatty(chatty_folder):
    return Agent.load(str(chatty_folder))


@pytest.mark.parametrize("options", [
    GenerationOptions(max_new_tokens=24),
    GenerationOptions(max_new_tokens=24, temperature=0.9, seed=3),
    GenerationOptions(max_new_tokens=24, stop=["e", "ab"]),
], ids=["greedy", "sampled", "stop strings"])
def test_the_pieces_join_to_the_generated_answer(chatty, options):
    for prompt in ("Tell me about Bokia.", "Sort: dcba"):
        pieces = list(stream_answer(chatty, prompt, options, system="Be brief."))
        assert "".join(pieces) == chatty.generate([prompt], options, system="Be brief.")[0]
        if options.stop == []:
            assert len(pieces) > 1  # it streams: more than one piece for 24 varied tokens


def test_streaming_counts_its_tokens_and_budget_forcing_comes_in_one_piece(chatty):
    before = chatty.tokens_generated
    list(stream_answer(chatty, "hi", GenerationOptions(max_new_tokens=5)))
    assert chatty.tokens_generated - before == 5
    budget = GenerationOptions(max_new_tokens=5, budget=BudgetForcing(max_thinking_tokens=4, max_answer_tokens=4))
    assert list(stream_answer(chatty, "hi", budget)) == chatty.generate(["hi"], budget)
