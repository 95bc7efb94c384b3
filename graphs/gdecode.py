"""G-Decode: a continuous n×n adjacency matrix to a DAG (Heterogeneous Swarms, algorithms.md §2).

A[i, j] is the strength of edge i -> j. Decoding picks a sink, then grows an in-tree towards it:
every other node gets exactly one outgoing edge, to a node already placed, so the result is a DAG
with one sink by construction. Node i of the result runs agent `assignment[i]`.

Differences from the reference code, all on purpose:
- the caller's matrix is never modified (the reference zeroes rows of it in place);
- softmaxes subtract their maximum first, so large logits (1/out for a tiny out-degree) do not
  overflow; the distribution is the same;
- where the reference divides by zero (a node with out-degree exactly 0 as sink candidate, or every
  candidate masked), we pick deterministically: out-degree 0 counts as 1/0 = +inf, i.e. the surest
  sink, and when every candidate is masked they are all equally likely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from rayswarm.graphs.errors import GraphError
from rayswarm.graphs.graph import Graph, Node
from rayswarm.graphs.spec import AgentSpec


class DecodedDag(NamedTuple):
    sink: int
    edges: list[tuple[int, int]]  # (u, v) in the order G-Decode added them


def masked_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax over the allowed entries, where exactly-zero logits also get no mass (the reference's mask).

    If that masks every allowed entry, the allowed entries share the mass equally; +inf logits take
    all of it.
    """
    live = allowed & (logits != 0)
    if not live.any():
        live = allowed
    top = logits[live].max()
    if np.isposinf(top):
        weights = (live & np.isposinf(logits)).astype(float)
    else:
        weights = np.zeros(len(logits))
        weights[live] = np.exp(logits[live] - top)
    return weights / weights.sum()


def top_p_select(probs: np.ndarray, top_p: float, rng: np.random.Generator | None = None) -> int:
    """The reference's top-p selection: keep the most likely entries until their mass exceeds top_p,
    re-softmax the kept probabilities and sample. top_p = 0 keeps one: argmax, ties to the higher index."""
    # A stable ascending sort reversed puts the higher index first among equal probabilities.
    ranked = np.argsort(probs, kind="stable")[::-1]
    kept = ranked[: int(np.searchsorted(np.cumsum(probs[ranked]), top_p, side="right")) + 1]
    if len(kept) == 1:
        return int(kept[0])
    if rng is None:
        raise ValueError("stochastic G-Decode (top_p > 0) needs a numpy Generator: pass rng")
    resoftmaxed = masked_softmax(probs[kept], np.ones(len(kept), dtype=bool))
    return int(kept[rng.choice(len(kept), p=resoftmaxed)])


def g_decode(adjacency, top_p: float = 0.0, rng: np.random.Generator | None = None) -> DecodedDag:
    """Decode A into an in-tree rooted at the sink; deterministic at top_p = 0 (the default)."""
    a = _checked_matrix(adjacency)
    n = len(a)
    out = a.sum(axis=1)
    # 1/out favours the smallest positive out-degree as the sink.
    inverse = np.divide(1.0, out, out=np.full(n, np.inf), where=out != 0)
    sink = top_p_select(masked_softmax(inverse, np.ones(n, dtype=bool)), top_p, rng)
    placed = np.zeros(n, dtype=bool)
    placed[sink] = True
    edges = []
    while not placed.all():
        u = top_p_select(masked_softmax(out, ~placed), top_p, rng)  # large out-degree first
        v = top_p_select(masked_softmax(a[u], placed), top_p, rng)  # its strongest edge into the tree
        edges.append((u, v))
        placed[u] = True
    return DecodedDag(sink, edges)


def graph_from_adjacency(adjacency, agents: Mapping[str, AgentSpec] | Sequence[str],
                         assignment: Sequence[int] | None = None, *, top_p: float = 0.0,
                         rng: np.random.Generator | None = None) -> Graph:
    """G-Decode A and build the Graph: node i is `node_i`, runs agent number `assignment[i]` (identity by
    default) and uses the Heterogeneous Swarms prompts.

    `agents` is a mapping name -> AgentSpec, or a list of model sources that become agents of the same
    name with default settings. Agents are numbered in their order.
    """
    specs = dict(agents) if isinstance(agents, Mapping) else {name: AgentSpec(model=name) for name in agents}
    names = list(specs)
    dag = g_decode(adjacency, top_p, rng)
    n = len(dag.edges) + 1
    if assignment is None:
        if n > len(names):
            raise GraphError(f"a {n}x{n} adjacency matrix needs {n} agents or an assignment, "
                             f"got {len(names)} agents")
        assignment = range(n)
    assignment = list(assignment)
    if len(assignment) != n:
        raise GraphError(f"assignment has {len(assignment)} entries for a {n}x{n} adjacency matrix")
    if not all(0 <= int(k) < len(names) for k in assignment):
        raise GraphError(f"assignment {assignment} names agents outside 0..{len(names) - 1}")
    nodes = [Node(name=f"node_{i}", agent=names[k]) for i, k in enumerate(assignment)]
    edges = [(f"node_{u}", f"node_{v}") for u, v in sorted(dag.edges)]
    return Graph(agents=specs, nodes=nodes, edges=edges, output=f"node_{dag.sink}")


def _checked_matrix(adjacency) -> np.ndarray:
    a = np.array(adjacency, dtype=float)  # a copy: the caller's matrix stays as it was
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise GraphError(f"adjacency must be a non-empty square matrix, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise GraphError("adjacency has NaN or infinite entries")
    return a
