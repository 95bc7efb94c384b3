"""Data Swarms' text formats (algorithms.md §3): the generation prompt, parsing what generators write,
answer keys, and the LLM judge's prompt and score. Pure Python: no torch, no Ray.

Generators are shown a few dev examples and asked for more ("You are given a set of 5 examples.
Please follow the pattern and generate 5 more examples."). What comes back is free text, so the
parser takes what it can: numbered lines ("3. ...", "3) ...", "Example 3: ...") anywhere in the
output, stray text ignored, an answer split off where the item carries one ("... Answer: ..." on
the line or on the next). An output with no numbered line is *unparseable* and counted as such.

An item needs a target before the task's exact metric can judge the test takers' answers. It gets
one from an answer key (a question whose answer is computable from the question itself, like the
toy world's "Sort the letters: qxab"), else from the answer its generator wrote. Items with
neither go to a local LLM judge, which rates each answer 1-10 ("Score: <n>", divided by 10); an
unreadable rating counts 5/10, as the reference counts an API error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rayswarm.agents.toyworld import SORT_TEMPLATE
from rayswarm.graphs.tasks import Example

# The reference prompt, with the counts as parameters.
GENERATION_PROMPT = (
    "You are an expert in generating synthetic evaluation data, specifically about {domain}. You are given a "
    "set of {shots} examples. Please follow the pattern and generate {items} more examples.\n\nExamples:\n\n"
    "{examples}"
)
ANSWER_MARK = " Answer: "
_NUMBERED = re.compile(r"^\W*(?:example|question|item|q)?\s*#?\s*\d{1,3}\s*[.):]\s*(.*)$", re.IGNORECASE)
_ANSWER = re.compile(r"\banswer\s*[:=]\s*", re.IGNORECASE)
_WRAPPING = " \t\"'`*"

JUDGE_PROMPT = (
    "Please act as an impartial judge and rate the response to the question below on a scale of 1 to 10, "
    "where 10 is a correct and complete answer and 1 is wrong or irrelevant. End your reply with "
    "\"Score: <number>\".\n\nQuestion: {question}\n\nResponse: {response}"
)
_SCORE = re.compile(r"score\s*[:=]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
JUDGE_FALLBACK = 0.5  # an unreadable rating, as the reference scores an API error


@dataclass(frozen=True)
class Item:
    """One generated evaluation item; `target` None when nothing gave it an answer."""

    input: str
    target: str | None = None


@dataclass(frozen=True)
class PromptFormat:
    """How generators are prompted: `shots` examples in, `items` new ones asked for."""

    domain: str
    shots: int = 5
    items: int = 5
    show_answers: bool = False  # examples carry " Answer: <target>", so generators write answers too
    instruction: str = GENERATION_PROMPT  # over {domain}, {shots}, {items} and {examples}

    def line(self, example: Example | Item) -> str:
        text = " ".join(example.input.split())  # one item per line
        if self.show_answers and example.target:
            return text + ANSWER_MARK + " ".join(example.target.split())
        return text

    def listing(self, examples: Sequence[Example | Item]) -> str:
        return "\n".join(f"{i}. {self.line(ex)}" for i, ex in enumerate(examples, start=1))

    def prompt(self, examples: Sequence[Example]) -> str:
        return self.instruction.format(domain=self.domain, shots=len(examples), items=self.items,
                                       examples=self.listing(examples))


def _clean(text: str) -> str:
    return text.strip(_WRAPPING)


def parse_items(text: str, limit: int) -> list[Item]:
    """The numbered items of a generator's output, at most `limit`, in order (see the module doc)."""
    items: list[Item] = []
    for raw in text.splitlines():
        match = _NUMBERED.match(raw)
        if match is None:
            answer = _ANSWER.match(raw.strip(_WRAPPING))
            if answer and items and items[-1].target is None:  # "Answer: ..." on its own line
                items[-1] = Item(items[-1].input, _clean(raw.strip(_WRAPPING)[answer.end():]) or None)
            continue
        if len(items) == limit:
            break
        question, answer = (_ANSWER.split(match.group(1), maxsplit=1) + [""])[:2]
        question = _clean(question)
        if question:
            items.append(Item(question, _clean(answer) or None))
    return items


def sort_answer(question: str) -> str | None:
    """The toy world's sort questions: the letters sorted; None for anything else."""
    prefix = SORT_TEMPLATE.format(x="")
    letters = question.strip()[len(prefix):] if question.strip().startswith(prefix) else ""
    return "".join(sorted(letters)) if re.fullmatch(r"[a-z]{2,12}", letters) else None


ANSWER_KEYS: dict[str, Callable[[str], str | None]] = {"sort": sort_answer}


def with_targets(items: list[Item], answer_key: str | None) -> list[Item]:
    """Each item with its target: the answer key's when one is set (None where it does not apply),
    else the answer its generator wrote."""
    if answer_key is None:
        return items
    key = ANSWER_KEYS[answer_key]
    return [Item(item.input, key(item.input)) for item in items]


def judge_prompt(question: str, response: str) -> str:
    return JUDGE_PROMPT.format(question=question, response=response)


def judge_score(text: str) -> float:
    """The last "Score: n" of a judge's reply, clamped to 1-10 and divided by 10; 0.5 if there is none."""
    found = _SCORE.findall(text)
    return min(max(float(found[-1]), 1.0), 10.0) / 10 if found else JUDGE_FALLBACK
