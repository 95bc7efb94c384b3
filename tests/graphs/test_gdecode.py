"""G-Decode on hand-made matrices. Reminder of the rules (algorithms.md §2), at top_p = 0:
  out_i = row sum; sink = argmax 1/out_i (smallest positive out-degree);
  next node = argmax out_u among the unplaced; its target = argmax A[u, v] among the placed;
  exactly-zero entries are masked; ties go to the higher index.
"""

import networkx as nx
import numpy as np
import pytest

from rayswarm.graphs.errors import GraphError
from rayswarm.graphs.gdecode import g_decode, graph_from_adjacency, masked_softmax, top_p_select
from rayswarm.graphs.spec import AgentSpec


def test_three_nodes_by_hand():
    a = [[0.0, 0.5, 0.1],
         [0.2, 0.0, 0.2],
         [0.9, 0.6, 0.0]]
    # out = [0.6, 0.4, 1.5] -> sink 1. Unplaced {0, 2}: 2 has the larger out, its only target is 1.
    # Then 0: A[0,1] = 0.5 beats A[0,2] = 0.1 -> 0 -> 1.
    assert g_decode(a) == (1, [(2, 1), (0, 1)])


def test_four_nodes_by_hand_and_the_reference_topological_order():
    a = [[0.0, 0.9, 0.1, 0.3],    # out 1.3
         [0.2, 0.0, 0.1, 0.1],    # out 0.4  -> sink
         [0.5, 0.4, 0.0, 0.8],    # out 1.7  -> placed first, can only go to 1
         [0.3, 0.3, 0.35, 0.0]]   # out 0.95 -> placed last: 0.35 to node 2 beats 0.3, 0.3
    # After 2: node 0 (1.3 > 0.95) picks A[0,1] = 0.9 over A[0,2] = 0.1.
    dag = g_decode(a)
    assert dag == (1, [(2, 1), (0, 1), (3, 2)])
    graph = graph_from_adjacency(a, ["m0", "m1", "m2", "m3"])
    # Passes over 0..3: pass 1 takes 0 and 3 (1 waits on 2, 2 waits on 3), pass 2 takes 2, pass 3 takes 1.
    assert graph.topological_order() == ["node_0", "node_3", "node_2", "node_1"]
    assert graph.levels() == [["node_0", "node_3"], ["node_2"], ["node_1"]]
    assert graph.predecessors("node_1") == ["node_0", "node_2"]
    assert graph.output == "node_1"


def test_ties_go_to_the_higher_index():
    a = [[0, 1, 1],
         [1, 0, 1],
         [1, 1, 0]]
    # All out-degrees are 2: sink 2; then 1 (of 0, 1); 1's only target is 2; 0 ties between 1 and 2 -> 2.
    assert g_decode(a) == (2, [(1, 2), (0, 2)])


def test_exactly_zero_entries_are_masked_and_negative_ones_are_not():
    a = [[0.0, 0.0, -1.0],   # out -1.0
         [0.5, 0.0, 1.0],    # out  1.5
         [0.1, 0.1, 0.0]]    # out  0.2
    # 1/out = [-1, 0.67, 5] -> sink 2 (a negative out-degree is an unlikely sink). Then 1 (1.5 > -1) -> 2.
    # Node 0 chooses between A[0,1] = 0 and A[0,2] = -1: unmasked, exp(0) > exp(-1) would pick 1,
    # but the zero is masked, so 0 -> 2.
    assert g_decode(a) == (2, [(1, 2), (0, 2)])


def test_a_zero_row_is_the_surest_sink():
    a = [[0, 1, 0],
         [0, 0, 0],
         [1, 1, 0]]
    # out = [1, 0, 2]: 1/0 = +inf -> sink 1. Then 2 (out 2) -> 1; then 0: A[0,1] = 1, A[0,2] = 0 masked -> 1.
    assert g_decode(a) == (1, [(2, 1), (0, 1)])


def test_all_zero_matrix_falls_back_to_uniform_then_higher_index():
    # Every candidate is masked at every step, so all are equally likely and ties pick the higher index.
    assert g_decode(np.zeros((3, 3))) == (2, [(1, 2), (0, 2)])


def test_one_by_one_and_two_by_two():
    assert g_decode([[0.0]]) == (0, [])
    assert g_decode([[7.0]]) == (0, [])
    # out = [0.2, 0.5]: 1/out = [5, 2] -> sink 0; node 1 -> 0.
    assert g_decode([[0, 0.2], [0.5, 0]]) == (0, [(1, 0)])
    # All negative: 1/out = [-1, -0.5] -> sink 1, the more negative out-degree.
    assert g_decode([[0, -1], [-2, 0]]) == (1, [(0, 1)])
    graph = graph_from_adjacency([[0.0]], {"solo": AgentSpec(model="x")})
    assert graph.names == ["node_0"] and graph.edges == [] and graph.output_node == "node_0"


def test_the_callers_matrix_is_not_modified():
    a = np.random.default_rng(0).uniform(-1, 1, (6, 6))
    before = a.copy()
    g_decode(a, top_p=0.7, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, before)


@pytest.mark.parametrize("top_p", [0.0, 0.7, 1.0])
def test_always_an_in_tree_with_one_sink(top_p):
    rng = np.random.default_rng(123)
    for n in range(1, 9):
        for _ in range(5):
            a = rng.uniform(-1, 1, (n, n)) * (rng.uniform(size=(n, n)) > 0.3)  # some exact zeros
            np.fill_diagonal(a, 0)
            seed = int(rng.integers(2**31))
            sink, edges = g_decode(a, top_p, np.random.default_rng(seed))
            g = nx.DiGraph(edges)
            g.add_nodes_from(range(n))
            assert len(edges) == n - 1
            assert [v for v in g if g.out_degree(v) == 0] == [sink]
            assert all(g.out_degree(v) == 1 for v in g if v != sink)
            assert nx.is_directed_acyclic_graph(g)
            names = [f"m{i}" for i in range(n)]
            graph = graph_from_adjacency(a, names, top_p=top_p, rng=np.random.default_rng(seed))
            assert graph.topological_order()[-1] == graph.output_node == f"node_{sink}"


def test_top_p_zero_is_deterministic_and_draws_nothing():
    a = np.random.default_rng(5).uniform(0, 1, (7, 7))
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert g_decode(a, 0.0, rng) == g_decode(a, 0.0, rng) == g_decode(a)
    assert rng.bit_generator.state == state


def test_top_p_sampling_is_seeded_and_actually_random():
    a = np.full((5, 5), 0.5) + np.random.default_rng(2).uniform(0, 0.01, (5, 5))  # nearly uniform
    np.fill_diagonal(a, 0)
    assert g_decode(a, 0.7, np.random.default_rng(9)) == g_decode(a, 0.7, np.random.default_rng(9))
    decoded = {str(g_decode(a, 0.7, np.random.default_rng(seed))) for seed in range(20)}
    assert len(decoded) > 1
    with pytest.raises(ValueError, match="needs a numpy Generator"):
        g_decode(a, 0.7)


def test_top_p_select_keeps_the_nucleus_and_resoftmaxes_it():
    probs = np.array([0.5, 0.3, 0.2])
    # Cumulative 0.5, 0.8 > 0.7: keep {0, 1}. Re-softmax of [0.5, 0.3], not renormalisation (0.625):
    expected = np.exp(0.5) / (np.exp(0.5) + np.exp(0.3))  # 0.5498
    rng = np.random.default_rng(0)
    draws = np.array([top_p_select(probs, 0.7, rng) for _ in range(4000)])
    assert set(draws) == {0, 1}
    assert abs((draws == 0).mean() - expected) < 0.03


def test_top_p_zero_is_argmax_with_ties_to_the_higher_index():
    assert top_p_select(np.array([0.25, 0.25, 0.5, 0.0]), 0.0) == 2
    assert top_p_select(np.array([0.4, 0.4, 0.2]), 0.0) == 1
    assert top_p_select(np.array([0.9, 0.1]), 0.5) == 0  # one entry already exceeds p: no draw needed


def test_masked_softmax():
    allowed = np.array([True, True, True, False])
    np.testing.assert_allclose(masked_softmax(np.array([0.0, 1.0, 1.0, 5.0]), allowed), [0, 0.5, 0.5, 0])
    np.testing.assert_allclose(masked_softmax(np.zeros(4), allowed), [1 / 3, 1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(masked_softmax(np.array([1.0, np.inf, 2.0, 0.0]), allowed), [0, 1, 0, 0])
    np.testing.assert_allclose(masked_softmax(np.array([1e6, 1e6 - 1, 3.0, 0.0]), allowed),
                               [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0, 0])


def test_graph_from_adjacency_assignment_and_agents():
    a = [[0, 0.5, 0.1], [0.2, 0, 0.2], [0.9, 0.6, 0]]
    agents = {"x": AgentSpec(model="tiny:x"), "y": AgentSpec(model="tiny:y")}
    graph = graph_from_adjacency(a, agents, assignment=[1, 1, 0])
    assert [n.agent for n in graph.nodes] == ["y", "y", "x"]
    assert graph.edges == [("node_0", "node_1"), ("node_2", "node_1")]
    assert all(n.template is None and n.fan_in == "concat" for n in graph.nodes)  # the H-Swarms prompts
    listed = graph_from_adjacency(a, ["tiny:a", "tiny:b", "tiny:c"])
    assert listed.agents["tiny:b"] == AgentSpec(model="tiny:b") and listed.node("node_1").agent == "tiny:b"


@pytest.mark.parametrize("adjacency, agents, assignment, message", [
    ([[0, 1], [1, 0]], ["a"], None, "a 2x2 adjacency matrix needs 2 agents or an assignment, got 1"),
    ([[0, 1], [1, 0]], ["a"], [0], "assignment has 1 entries for a 2x2 adjacency matrix"),
    ([[0, 1], [1, 0]], ["a"], [0, 1], "assignment [0, 1] names agents outside 0..0"),
    ([[0, 1, 2], [1, 0, 2]], ["a", "b"], None, "must be a non-empty square matrix, got shape (2, 3)"),
    ([[0, np.nan], [1, 0]], ["a", "b"], None, "NaN or infinite"),
])
def test_graph_from_adjacency_errors(adjacency, agents, assignment, message):
    with pytest.raises(GraphError) as info:
        graph_from_adjacency(adjacency, agents, assignment)
    assert message in str(info.value)
