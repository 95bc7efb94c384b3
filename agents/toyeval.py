"""Scoring the toy zoo: per-domain accuracy, composed questions, chains of experts, memorized passages.

Everything generates through `Agent` (greedy), exactly as a graph node would: plain questions get
the source prompt, a chain's later hops get the follow-up prompt with their predecessor's output.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from rayswarm.agents.toyworld import COMPOSED, collab_prompt
from rayswarm.graphs.tasks import Example, exact_match

MAX_NEW_TOKENS = 32
PASSAGE_PREFIX = 64  # characters (= tokens) of a passage given as the prompt
PASSAGE_CONTINUATION = 32  # characters the model must continue verbatim


def accuracy(outputs: Sequence[str], examples: Sequence[Example]) -> float:
    return sum(exact_match(o, ex) for o, ex in zip(outputs, examples, strict=True)) / max(1, len(examples))


def answer(agent, examples: Sequence[Example], previous: Sequence[Sequence[str]] | None = None) -> list[str]:
    """One node's outputs: the source prompt, or the follow-up prompt with each row's previous responses."""
    previous = previous or [[] for _ in examples]
    prompts = [collab_prompt(ex.input, prev) for ex, prev in zip(examples, previous, strict=True)]
    return agent.generate(prompts, max_new_tokens=MAX_NEW_TOKENS)


def run_chain(agents: Sequence, examples: Sequence[Example]) -> list[str]:
    """A path graph: each agent reads its predecessor's output; returns the last one's outputs."""
    outputs: list[str] | None = None
    for agent in agents:
        outputs = answer(agent, examples, None if outputs is None else [[o] for o in outputs])
    return outputs or []


def memorized(agent, passages: Sequence[str]) -> list[bool]:
    """Whether greedy decoding continues each passage's 64-character prefix with its next 32, verbatim."""
    prompts = ["<s>" + p[:PASSAGE_PREFIX] for p in passages]
    outputs = agent.generate(prompts, max_new_tokens=PASSAGE_CONTINUATION, chat_template=False)
    return [o[:PASSAGE_CONTINUATION] == p[PASSAGE_PREFIX : PASSAGE_PREFIX + PASSAGE_CONTINUATION]
            for o, p in zip(outputs, passages, strict=True)]


def by_type(examples: Sequence[Example]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.meta["type"], []).append(i)
    return groups


def chain_scores(agents: dict[str, object], composed: Sequence[Example]) -> dict[str, float]:
    """The right chain of experts for each composed type, on that type's questions.

    Returns accuracy over all composed questions, over the seen and the unseen ones, and per type.
    """
    outputs = [""] * len(composed)
    for kind, rows in by_type(composed).items():
        chain = [agents[domain] for domain in COMPOSED[kind].order]
        for row, out in zip(rows, run_chain(chain, [composed[i] for i in rows]), strict=True):
            outputs[row] = out
    return split_scores(outputs, composed)


def random_paths(agents: dict[str, object], composed: Sequence[Example], count: int, seed: int = 0):
    """Path graphs through every expert in random orders: what an unoptimized graph scores.

    Returns [(order, accuracy)], the orders distinct and drawn from `seed`.
    """
    names = sorted(agents)
    orders = list(itertools.permutations(names))
    random.Random(f"rayswarm-paths-{seed}").shuffle(orders)
    return [(list(order), accuracy(run_chain([agents[n] for n in order], composed), composed))
            for order in orders[:count]]


def split_scores(outputs: Sequence[str], composed: Sequence[Example]) -> dict[str, float]:
    """Accuracy on composed questions: all, seen / unseen in training, and per type."""
    scores = {"all": accuracy(outputs, composed)}
    for name, keep in (("seen", True), ("unseen", False)):
        rows = [i for i, ex in enumerate(composed) if ex.meta["seen"] == keep]
        scores[name] = accuracy([outputs[i] for i in rows], [composed[i] for i in rows])
    for kind, rows in by_type(composed).items():
        scores[kind] = accuracy([outputs[i] for i in rows], [composed[i] for i in rows])
    return scores
