"""s1 budget forcing (algorithms.md §6; docs/budget-forcing.md): bound an agent's thinking from both sides.

Per row: open thinking with `think_start`, generate until the model writes `think_end` or the
remaining thinking budget runs out. An early end is replaced by `wait` (up to `num_waits` times)
and thinking continues with what is left of the budget. When the budget runs out,
`think_end + answer_prefix` is forced; then the answer is generated with `max_answer_tokens`.

Accounting: the budget counts the tokens the model generates while thinking, all rounds together,
including a `think_end` it writes itself; the strings we insert (`think_start`, `wait`, the forced
suffix) are not counted. Each round is capped at the budget still left, which is always ≥ 1: a row
whose budget is spent stops extending (issue #53 of the reference: its demo let the rest reach ≤ 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from rayswarm.graphs.spec import BudgetForcing, GenerationOptions


@dataclass(frozen=True)
class BudgetResult:
    """One row of budget-forced generation; `text` is everything generated or forced after the prompt."""

    text: str  # think_start + thinking + closing delimiter(s) + answer
    thinking: str  # the thinking, wait strings included, delimiters excluded
    answer: str
    thinking_tokens: int  # tokens the model generated while thinking (≤ max_thinking_tokens)
    answer_tokens: int
    waits_used: int
    forced: bool  # the budget ran out, so think_end + answer_prefix was forced


def force_budget(
    agent, texts: list[str], options: GenerationOptions, add_special_tokens: bool
) -> list[BudgetResult]:
    """Budget-forced generation after already-rendered prompts, batched; rows may finish in different rounds."""
    budget = options.budget or BudgetForcing()
    n = len(texts)
    thinking, used, waits, forced = [""] * n, [0] * n, [0] * n, [False] * n
    running = list(range(n))
    while running:
        rounds = agent.complete(
            [texts[i] + budget.think_start + thinking[i] for i in running],
            options,
            add_special_tokens,
            caps=[budget.max_thinking_tokens - used[i] for i in running],
            stop=[budget.think_end],
            min_one_token=True,
        )
        extended = []
        for i, out in zip(running, rounds, strict=True):
            used[i] += out.num_tokens
            thinking[i] += out.text
            forced[i] = out.finish == "length"
            # An end of sequence also ends thinking early: the model is done, so it may be asked to go on.
            if not forced[i] and waits[i] < budget.num_waits and used[i] < budget.max_thinking_tokens:
                thinking[i] += budget.wait
                waits[i] += 1
                extended.append(i)
        running = extended

    heads = [budget.think_start + thinking[i] + closing(thinking[i], forced[i], budget) for i in range(n)]
    answers = agent.complete(
        [text + head for text, head in zip(texts, heads, strict=True)],
        options,
        add_special_tokens,
        caps=[budget.max_answer_tokens] * n,
    )
    return [
        BudgetResult(
            text=heads[i] + answers[i].text,
            thinking=thinking[i],
            answer=answers[i].text,
            thinking_tokens=used[i],
            answer_tokens=answers[i].num_tokens,
            waits_used=waits[i],
            forced=forced[i],
        )
        for i in range(n)
    ]


def closing(thinking: str, forced: bool, budget: BudgetForcing) -> str:
    """What ends the thinking: the model's own delimiter, or (budget spent) the forced end + answer prefix.

    As in the reference, a newline precedes the forced end only if the thinking did not end with one.
    """
    if not forced:
        return budget.think_end
    newline = "" if thinking.endswith("\n") else "\n"
    return newline + budget.think_end + budget.answer_prefix
