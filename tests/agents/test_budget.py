"""s1 budget forcing: thinking stays inside its budget, waits are honoured, the forced end appears
exactly when the budget ran out.

An untrained model almost never writes the end delimiter, so most tests steer a real tiny model
with a forward hook that makes it write `</think>` as the n-th token of chosen generate() calls.
"""

import pytest
import torch

from rayswarm.agents.agent import Agent
from rayswarm.agents.budget import closing
from rayswarm.agents.tiny import build_tiny_model
from rayswarm.agents.tokenizer import build_char_tokenizer
from rayswarm.graphs.spec import BudgetForcing

PROMPTS = ["Hi", "What is 2+2?", "Name a colour.", "~ marked row", "Count to three ~"]
MARKER = "~"


class EndThinkingAt:
    """Forward hook: in rows whose context holds `marker` (all rows if None), push the end-of-thinking
    token from the n-th token of every generate() call on. A call starts with a multi-token prefill."""

    def __init__(self, tokenizer, n: int, marker: str | None = None):
        self.end_id = tokenizer.convert_tokens_to_ids("</think>")
        self.marker_id = tokenizer.convert_tokens_to_ids(marker) if marker else None
        self.n = n

    def __call__(self, module, args, kwargs, output):
        ids = kwargs["input_ids"]
        if ids.shape[1] > 1:
            self.step = 0
            self.rows = (
                torch.ones(len(ids), dtype=torch.bool)
                if self.marker_id is None
                else (ids == self.marker_id).any(-1)
            )
        else:
            self.step += 1
        if self.step >= self.n - 1:
            output.logits[self.rows, -1, self.end_id] = 1e4
        return output


@pytest.fixture
def steered(make_agent):
    """An agent plus a function that installs an EndThinkingAt hook on it for one test.

    The model has the plain small init: left alone it never ends thinking (first test below).
    """
    agent = make_agent(initializer_range=0.02)
    handles = []

    def steer(n: int, marker: str | None = None) -> Agent:
        handles.append(
            agent.model.register_forward_hook(EndThinkingAt(agent.tokenizer, n, marker), with_kwargs=True)
        )
        return agent

    yield steer
    for handle in handles:
        handle.remove()


def budget(**fields) -> BudgetForcing:
    return BudgetForcing(**{"max_answer_tokens": 6, **fields})


def check_layout(result, forcing: BudgetForcing):
    """text = think_start + thinking + closing + answer, with the forced suffix iff the budget ran out."""
    assert (
        result.text
        == forcing.think_start
        + result.thinking
        + closing(result.thinking, result.forced, forcing)
        + result.answer
    )
    assert 0 < result.thinking_tokens <= forcing.max_thinking_tokens
    assert 0 < result.answer_tokens <= forcing.max_answer_tokens
    assert result.thinking.count(forcing.wait) >= result.waits_used


def test_untrained_model_hits_the_cap_and_gets_the_forced_end(make_agent):
    agent = make_agent(initializer_range=0.02)  # the plain tiny:random-llama init: it never ends thinking
    forcing = budget(max_thinking_tokens=12, num_waits=2)
    for result in agent.generate_with_budget(PROMPTS, budget=forcing):
        check_layout(result, forcing)
        assert (result.thinking_tokens, result.waits_used, result.forced) == (12, 0, True)
        assert "</think>\nFinal Answer:" in result.text


def test_every_wait_is_used_when_the_model_ends_early(steered):
    agent = steered(n=4)
    forcing = budget(max_thinking_tokens=50, num_waits=2)
    for result in agent.generate_with_budget(PROMPTS, budget=forcing):
        check_layout(result, forcing)
        assert (result.thinking_tokens, result.waits_used, result.forced) == (
            12,
            2,
            False,
        )  # 3 rounds × 4 tokens
        assert result.text.startswith("<think>") and "Final Answer:" not in result.text


def test_cap_hit_in_a_later_round_forces_the_end(steered):
    agent = steered(n=4)
    forcing = budget(max_thinking_tokens=10, num_waits=5)
    for result in agent.generate_with_budget(PROMPTS, budget=forcing):
        check_layout(result, forcing)
        # rounds of 4 + 4, then the 2 tokens left run out before the delimiter
        assert (result.thinking_tokens, result.waits_used, result.forced) == (10, 2, True)


def test_spent_budget_stops_extending_instead_of_going_to_zero(steered):
    agent = steered(n=4)
    forcing = budget(max_thinking_tokens=8, num_waits=5)
    for result in agent.generate_with_budget(PROMPTS, budget=forcing):
        check_layout(result, forcing)
        assert (result.thinking_tokens, result.waits_used, result.forced) == (8, 1, False)


def test_first_token_of_a_round_is_never_the_delimiter(steered):
    agent = steered(n=1)  # pushes </think> from the first step on, which s1's min_tokens=1 forbids
    forcing = budget(max_thinking_tokens=100, num_waits=3)
    for result in agent.generate_with_budget(PROMPTS, budget=forcing):
        assert (result.thinking_tokens, result.waits_used, result.forced) == (
            8,
            3,
            False,
        )  # 4 rounds × (1 + end)


def test_rows_finish_in_different_rounds_as_if_alone(steered):
    agent = steered(n=3, marker=MARKER)  # only rows with the marker end thinking early
    forcing = budget(max_thinking_tokens=20, num_waits=2)
    batched = agent.generate_with_budget(PROMPTS, budget=forcing)
    for prompt, result in zip(PROMPTS, batched, strict=True):
        marked = MARKER in prompt
        expected = (9, 2, False) if marked else (20, 0, True)
        assert (result.thinking_tokens, result.waits_used, result.forced) == expected
        assert agent.generate_with_budget([prompt], budget=forcing)[0] == result


def test_generate_with_a_budget_option_returns_the_full_text(steered):
    agent = steered(n=4)
    forcing = budget(max_thinking_tokens=10, num_waits=1)
    results = agent.generate_with_budget(PROMPTS, budget=forcing)
    assert agent.generate(PROMPTS, budget=forcing) == [result.text for result in results]


def test_forced_end_adds_a_newline_only_when_needed():
    forcing = BudgetForcing()
    assert closing("so 4", forced=True, budget=forcing) == "\n</think>\nFinal Answer:"
    assert closing("so 4\n", forced=True, budget=forcing) == "</think>\nFinal Answer:"
    assert closing("so 4", forced=False, budget=forcing) == "</think>"


def test_budget_works_on_olmo2_with_sampling():
    agent = Agent(build_tiny_model("olmo2", seed=1).eval(), build_char_tokenizer())
    forcing = budget(max_thinking_tokens=7, num_waits=1)
    first = agent.generate_with_budget(PROMPTS, budget=forcing, temperature=1.0, seed=3)
    assert agent.generate_with_budget(PROMPTS, budget=forcing, temperature=1.0, seed=3) == first
    for result in first:
        check_layout(result, forcing)
