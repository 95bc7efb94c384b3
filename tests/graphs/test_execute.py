import asyncio

import pytest

from rayswarm.graphs.execute import FunctionBackend, arun_graph, run_graph, run_graphs
from rayswarm.graphs.gdecode import graph_from_adjacency
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.spec import AgentSpec

INSTR = ("Please answer the following question with the help of previous responses, "
         "feel free to ignore wrong or unhelpful responses.")
ASK = "Please answer the following question.\nQuestion: "


def echo(agent, prompts):
    """Each output shows who answered and exactly what it read (newlines included)."""
    return [f"<{agent}|{prompt}>" for prompt in prompts]


def answers(table):
    """A backend whose agents always give a fixed answer per question (looked up by the question text)."""
    return FunctionBackend(lambda agent, prompts: [table[agent][p.split("Question: ")[-1]] for p in prompts])


DIAMOND = {
    "agents": {"A": {"model": "a", "system": "You are A."},
               "B": {"model": "b", "generation": {"max_new_tokens": 24, "temperature": 0.5}},
               "C": {"model": "c"}},
    "nodes": [
        {"name": "ask", "agent": "A"},
        {"name": "left", "agent": "B", "system": "Be brief.", "generation": {"max_new_tokens": 5}},
        {"name": "right", "agent": "C"},
        {"name": "join", "agent": "A"},
    ],
    # join's inputs are listed right-first: predecessors still follow the node order (left, right).
    "edges": ["ask -> right", "ask -> left", "right -> join", "left -> join"],
}


def test_diamond_message_passing_is_the_reference_format():
    backend = FunctionBackend(echo)
    result = run_graph(Graph.from_dict(DIAMOND), ["q1", "q {2}"], backend)

    ask_out = f"<A|{ASK}q1>"
    assert result.outputs["ask"][0] == ask_out  # outputs are kept raw ...
    flat_ask = f"<A|{ASK.replace(chr(10), ' ')}q1>"  # ... and flattened when passed on
    assert result.prompts["left"][0] == f"{INSTR}\nPrevious response 1: {flat_ask}\nQuestion: q1"
    left_out = f"<B|{INSTR}\nPrevious response 1: {flat_ask}\nQuestion: q1>"
    right_out = f"<C|{INSTR}\nPrevious response 1: {flat_ask}\nQuestion: q1>"
    assert result.outputs["left"][0] == left_out and result.outputs["right"][0] == right_out
    flat_left, flat_right = left_out.replace("\n", " "), right_out.replace("\n", " ")
    assert result.prompts["join"][0] == (f"{INSTR}\nPrevious response 1: {flat_left}\n"
                                         f"Previous response 2: {flat_right}\nQuestion: q1")
    assert result.output_node == "join" and result.final == result.outputs["join"]
    assert result.final[1].endswith("Question: q {2}>")  # braces in a question are just text


def test_one_backend_call_per_wavefront_with_resolved_settings():
    backend = FunctionBackend(echo)
    run_graph(Graph.from_dict(DIAMOND), ["q1", "q2"], backend)
    assert [[r.node for r in call] for call in backend.calls] == [["ask"], ["left", "right"], ["join"]]
    ask, (left, right), join = backend.calls[0][0], backend.calls[1], backend.calls[2][0]
    assert (ask.agent, ask.system, len(ask.prompts)) == ("A", "You are A.", 2)
    # The node's system and max_new_tokens win; the agent's temperature stays.
    assert (left.system, left.generation.max_new_tokens, left.generation.temperature) == ("Be brief.", 5, 0.5)
    assert (right.system, right.generation.max_new_tokens) == (None, 32)
    assert join.system == "You are A."


def test_the_event_loop_run_is_the_same_run():
    """arun_graph (what a server awaits) makes the same calls and gives the same result as run_graph."""
    sync, looped = FunctionBackend(echo), FunctionBackend(echo)

    async def generate(requests):
        await asyncio.sleep(0)  # a real await between the wavefronts
        return looped.generate(requests)

    graph = Graph.from_dict(DIAMOND)
    assert asyncio.run(arun_graph(graph, ["q1", "q2"], generate)) == run_graph(graph, ["q1", "q2"], sync)
    assert looped.calls == sync.calls


def test_vote_node_is_computed_without_the_backend():
    graph = Graph.from_dict({
        "agents": {a: {"model": a} for a in "abc"},
        "nodes": [{"name": "x", "agent": "a"}, {"name": "y", "agent": "b"}, {"name": "z", "agent": "c"},
                  {"name": "vote", "fan_in": "vote"}],
        "edges": ["x -> vote", "y -> vote", "z -> vote"],
    })
    backend = answers({"a": {"q1": "Paris", "q2": "1"}, "b": {"q1": "Lyon", "q2": "2"},
                       "c": {"q1": "paris\n", "q2": "3"}})
    result = run_graph(graph, ["q1", "q2"], backend)
    assert result.final == ["Paris", "1"]  # majority; a three-way tie goes to the first predecessor
    assert "vote" not in result.prompts
    assert [[r.node for r in call] for call in backend.calls] == [["x", "y", "z"]]


def test_fan_in_of_an_agent_node_shapes_previous_but_named_fields_stay():
    graph = Graph.from_dict({
        "agents": {a: {"model": a} for a in "abj"},
        "nodes": [{"name": "x", "agent": "a"}, {"name": "y", "agent": "b"}, {"name": "z", "agent": "a"},
                  {"name": "judge", "agent": "j", "fan_in": "vote",
                   "template": "{previous}y said {y}\nQuestion: {question}"},
                  {"name": "prefix", "agent": "j", "fan_in": "custom", "aggregator": "os.path:commonprefix"}],
        "edges": ["x -> judge", "y -> judge", "z -> judge", "x -> prefix", "y -> prefix"],
        "output": "judge",
    })
    backend = answers({"a": {"q": "ok yes"}, "b": {"q": "ok no"}, "j": {"q": "-"}})
    result = run_graph(graph, ["q"], backend)
    assert result.prompts["judge"] == ["Previous response 1: ok yes\ny said ok no\nQuestion: q"]
    assert result.prompts["prefix"] == [f"{INSTR}\nPrevious response 1: ok \nQuestion: q"]


def test_custom_and_concat_aggregator_nodes_output_their_fan_in():
    graph = Graph.from_dict({
        "agents": {"m": {"model": "m"}, "n": {"model": "n"}},
        "nodes": [{"name": "x", "agent": "m"}, {"name": "y", "agent": "n"},
                  {"name": "common", "fan_in": "custom", "aggregator": "os.path:commonprefix"},
                  {"name": "all"}],
        "edges": ["x -> common", "y -> common", "x -> all", "y -> all", "common -> all"],
    })
    backend = FunctionBackend(lambda agent, prompts: [f"said\n{agent}" for _ in prompts])
    result = run_graph(graph, ["q"], backend)
    assert result.outputs["common"] == ["said "]  # messages arrive flattened: "said m", "said n"
    assert result.final == ["said m\nsaid n\nsaid "]


def test_graph_from_adjacency_runs_like_the_reference():
    # Hand-decoded in test_gdecode: sink 1, edges 2 -> 1 and 0 -> 1, so node_1 reads node_0 then node_2.
    adjacency = [[0, 0.5, 0.1], [0.2, 0, 0.2], [0.9, 0.6, 0]]
    graph = graph_from_adjacency(adjacency, ["m0", "m1", "m2"])
    result = run_graph(graph, ["q"], FunctionBackend(lambda agent, prompts: [agent.upper() for _ in prompts]))
    expected = f"{INSTR}\nPrevious response 1: M0\nPrevious response 2: M2\nQuestion: q"
    assert result.prompts["node_1"] == [expected]
    assert result.final == ["M1"]


def test_a_backend_giving_the_wrong_shape_is_caught():
    graph = Graph(agents={"m": AgentSpec(model="m")}, nodes=[{"name": "x", "agent": "m"}])
    with pytest.raises(RuntimeError, match="1 outputs for 2 prompts at node 'x'"):
        run_graph(graph, ["q1", "q2"], FunctionBackend(lambda agent, prompts: ["only one"]))


def test_many_graphs_run_in_lockstep_one_backend_call_per_level():
    agents = {name: AgentSpec(model=name) for name in "abc"}
    deep = graph_from_adjacency([[0, 1, 0], [0, 0, 1], [0, 0, 0]], agents)  # a chain: three levels
    wide = graph_from_adjacency([[0, 0, 1], [0, 0, 1], [0, 0, 0]], agents)  # two sources, one sink
    diamond = Graph.from_dict(DIAMOND)
    graphs = [deep, wide, diamond]
    alone = [run_graph(graph, ["q1", "q2"], FunctionBackend(echo)) for graph in graphs]
    backend = FunctionBackend(echo)
    together = run_graphs(graphs, ["q1", "q2"], backend)
    assert [r.outputs for r in together] == [r.outputs for r in alone]
    assert len(backend.calls) == 3  # the deepest graph's levels; the others ride along
    assert [len(call) for call in backend.calls] == [1 + 2 + 1, 1 + 1 + 2, 1 + 1]
