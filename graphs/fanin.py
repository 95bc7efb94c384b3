"""Fan-in: how a node combines the messages of its predecessors, declared per node and typed.

Implicit merging at joins is the most reported bug of graph frameworks (docs: peers.md (c).3), so
every node says what it does with several inputs:
  concat   keep every message, in predecessor order (the Heterogeneous Swarms prompt)
  vote     keep the majority message; a tie goes to the earliest predecessor
  rank     keep the `top_k` messages the others agree with most, best first (the ranking half of
           rank-and-fuse: an agent reading them fuses the survivors)
  custom   keep what `aggregator: "module:function"` (list[str] -> str) returns
A node with an agent reads what its fan-in keeps as {previous}; a node without one outputs it.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from typing import Literal

from rayswarm.graphs.errors import GraphError

FanIn = Literal["concat", "vote", "rank", "custom"]


def _vote_key(message: str) -> str:
    """Answers that differ only in case or spacing are the same vote."""
    return " ".join(message.lower().split())


def majority_vote(messages: Sequence[str]) -> str:
    """The most frequent message (compared by `_vote_key`); ties go to the one seen first."""
    counts: dict[str, int] = {}
    first_seen: dict[str, str] = {}
    for message in messages:
        key = _vote_key(message)
        counts[key] = counts.get(key, 0) + 1
        first_seen.setdefault(key, message)
    # max() keeps the first of equal counts, and dicts keep insertion order: the earliest wins.
    return first_seen[max(counts, key=counts.__getitem__)]


def _overlap(a: str, b: str) -> float:
    """Bag-of-words F1 of two messages (1 when both are empty)."""
    x, y = Counter(_vote_key(a).split()), Counter(_vote_key(b).split())
    common = sum((x & y).values())
    if not x or not y:
        return float(x == y)
    return 2 * common / (sum(x.values()) + sum(y.values()))


def consensus_rank(messages: Sequence[str], top_k: int) -> list[str]:
    """The `top_k` messages with the highest mean overlap with the others, best first.

    An unsupervised ranker (minimum Bayes risk over the candidates): with no reference answer, the
    candidate most others agree with is the likeliest right. Ties keep predecessor order.
    """
    if len(messages) < 2:
        return list(messages)[:top_k]
    agreement = [sum(_overlap(m, other) for j, other in enumerate(messages) if j != i) / (len(messages) - 1)
                 for i, m in enumerate(messages)]
    order = sorted(range(len(messages)), key=lambda i: -agreement[i])  # stable: ties keep their order
    return [messages[i] for i in order[:top_k]]


@cache
def load_aggregator(path: str) -> Callable[[list[str]], str]:
    """Import "module:function"; a GraphError when it cannot be imported or is not callable."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise GraphError(f"aggregator '{path}' must look like 'module:function'")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        raise GraphError(f"cannot import aggregator '{path}' ({type(err).__name__}: {err})") from None
    if not callable(function):
        raise GraphError(f"aggregator '{path}' is not callable")
    return function


def combine(messages: Sequence[str], fan_in: FanIn, aggregator: str | None = None, top_k: int = 2) -> list[str]:
    """What a node keeps of its predecessors' messages (one question's worth)."""
    if fan_in == "concat":
        return list(messages)
    if fan_in == "vote":
        return [majority_vote(messages)]
    if fan_in == "rank":
        return consensus_rank(messages, top_k)
    result = load_aggregator(aggregator)(list(messages))
    if not isinstance(result, str):
        raise GraphError(f"aggregator '{aggregator}' returned {type(result).__name__}, expected str")
    return [result]
