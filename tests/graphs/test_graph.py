import copy
import pickle
from pathlib import Path

import networkx as nx
import pytest
import yaml

from rayswarm.graphs.errors import ConfigError, GraphError
from rayswarm.graphs.graph import Graph, Node
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BASE = {
    "agents": {"codes": {"model": "tiny:codes"}, "capitals": {"model": "tiny:capitals"}},
    "nodes": [
        {"name": "draft", "agent": "codes"},
        {"name": "critic", "agent": "capitals"},
        {"name": "final", "agent": "codes", "template": "{draft} / {critic}\nQuestion: {question}"},
    ],
    "edges": [["draft", "critic"], ["draft", "final"], ["critic", "final"]],
}


def changed(edit):
    data = copy.deepcopy(BASE)
    edit(data)
    return data


def error_of(data) -> str:
    with pytest.raises(ConfigError) as info:
        Graph.from_dict(data)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def node(data, name):
    return next(n for n in data["nodes"] if n["name"] == name)


def test_base_graph_is_valid():
    graph = Graph.from_dict(BASE)
    assert graph.output_node == "final"
    assert graph.predecessors("final") == ["draft", "critic"]


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["edges"].append(["final", "draft"]), "graph: cycle: draft -> final -> draft"),
    (lambda d: d.update(edges=["draft -> critic", "critic -> final", "final -> draft"]),
     "graph: cycle: draft -> critic -> final -> draft"),
    (lambda d: d["edges"].append(["critic", "critic"]), "cycle: critic -> critic"),
    (lambda d: d["edges"].append(["critic", "finale"]),
     "edge critic -> finale: unknown node 'finale' (did you mean \"final\"?)"),
    (lambda d: d["edges"].append(["draft", "critic"]), "duplicate edge draft -> critic"),
    (lambda d: node(d, "critic").update(agent="capital"),
     "node 'critic': unknown agent 'capital' (did you mean \"capitals\"?)"),
    (lambda d: node(d, "final").update(template="{critc}: {question}"),
     "node 'final': template field {critc} is neither question nor previous nor a predecessor "
     "(did you mean \"critic\"?)"),
    (lambda d: node(d, "critic").update(template="{final}"),
     "node 'critic': template field {final} is neither"),
    (lambda d: node(d, "final").update(template="{question"), "node 'final': bad template"),
    (lambda d: node(d, "final").update(template="{0}"), "template field {0}"),
    (lambda d: d["nodes"].append({"name": "draft", "agent": "codes"}), "duplicate node name 'draft'"),
    (lambda d: d["nodes"].append({"name": "vote", "fan_in": "vote"}),
     "node 'vote' has no agent and no predecessors"),
    (lambda d: node(d, "draft").update(fan_in="vote"), "node 'draft': fan_in 'vote' needs predecessors"),
    (lambda d: node(d, "final").update(fan_in="custom"),
     "node 'final': 'aggregator: module:function' goes with fan_in 'custom'"),
    (lambda d: node(d, "final").update(aggregator="os.path:commonprefix"),
     "goes with fan_in 'custom', and only with it"),
    (lambda d: node(d, "final").update(fan_in="custom", aggregator="no_such_module_xyz:f"),
     "node 'final': cannot import aggregator 'no_such_module_xyz:f' (ModuleNotFoundError"),
    (lambda d: node(d, "final").update(fan_in="custom", aggregator="os.path:no_such_function"),
     "cannot import aggregator 'os.path:no_such_function' (AttributeError"),
    (lambda d: node(d, "final").update(fan_in="custom", aggregator="os.path"),
     "must look like 'module:function'"),
    (lambda d: node(d, "final").update(fan_in="custom", aggregator="os:sep"),
     "aggregator 'os:sep' is not callable"),
    (lambda d: d["nodes"].append({"name": "vote", "template": "x"}),
     "node 'vote' has no agent, so its system/template"),
    (lambda d: d["nodes"].append({"name": "lone", "agent": "codes"}),
     "several sinks (final, lone): name the output node"),
    (lambda d: d.update(output="finl"), "output 'finl' is not a node (did you mean \"final\"?)"),
    (lambda d: node(d, "draft").update(name="1st"), "node name '1st' must start with a letter"),
    (lambda d: node(d, "draft").update(name="a:b"), "node name 'a:b' must start with a letter"),
    (lambda d: node(d, "draft").update(name="question"), "node name 'question' is reserved"),
    (lambda d: d.update(nodes=[], edges=[]), "the graph has no nodes"),
    # unknown keys, at every depth, with a did-you-mean
    (lambda d: d.update(egdes=[]), "unknown key 'egdes' (did you mean \"edges\"?)"),
    (lambda d: d.update(agnts=d.pop("agents")), "unknown key 'agnts' (did you mean \"agents\"?)"),
    (lambda d: node(d, "draft").update(fan_n="vote"),
     "unknown key 'nodes.0.fan_n' (did you mean \"fan_in\"?)"),
    (lambda d: d["agents"]["codes"].update(modle="x"),
     "unknown key 'agents.codes.modle' (did you mean \"model\"?)"),
    (lambda d: node(d, "draft").update(generation={"max_tokens": 3}),
     "unknown key 'nodes.0.generation.max_tokens' (did you mean \"max_new_tokens\"?)"),
    (lambda d: node(d, "draft").update(fan_in="mean"),
     "nodes.0.fan_in: Input should be 'concat', 'vote', 'rank' or 'custom'"),
    (lambda d: d["edges"].append("critic - final"), "edge 'critic - final' must look like 'src -> dst'"),
])
def test_each_mistake_is_one_line_naming_it(edit, expected):
    assert expected in error_of(changed(edit))


def test_python_construction_raises_graph_error_and_assignment_revalidates():
    agents = {"a": AgentSpec(model="x")}
    with pytest.raises(GraphError, match="^cycle: one -> two -> one$"):
        Graph(agents=agents, nodes=[Node(name="one", agent="a"), Node(name="two", agent="a")],
              edges=[("one", "two"), ("two", "one")])
    graph = Graph(agents=agents, nodes=[Node(name="one", agent="a"), Node(name="two", agent="a")],
                  edges=[("one", "two")])
    with pytest.raises(GraphError, match="cycle"):
        graph.edges = [("one", "two"), ("two", "one")]
    with pytest.raises(GraphError, match="unknown node 'three'"):
        graph.node("three")


def test_compact_edges_mean_the_same_as_pairs():
    compact = changed(lambda d: d.update(edges=["draft -> critic", "draft->final", ["critic", "final"]]))
    assert Graph.from_dict(compact) == Graph.from_dict(BASE)


def test_predecessors_follow_node_order_not_edge_order():
    data = {"agents": {"m": {"model": "x"}},
            "nodes": [{"name": n, "agent": "m"} for n in ["a", "b", "c", "d"]],
            "edges": ["c -> d", "a -> d", "b -> d"]}
    assert Graph.from_dict(data).predecessors("d") == ["a", "b", "c"]


def test_topological_order_is_repeated_passes_in_declaration_order():
    # n1 -> n0 only. Pass 1 skips n0 (waiting on n1), takes n1, then n2; pass 2 takes n0.
    # (A smallest-index-first queue would give n1, n0, n2 instead.)
    data = {"agents": {"m": {"model": "x"}},
            "nodes": [{"name": f"n{i}", "agent": "m"} for i in range(3)],
            "edges": ["n1 -> n0"], "output": "n0"}
    assert Graph.from_dict(data).topological_order() == ["n1", "n2", "n0"]


def test_levels_are_longest_path_wavefronts():
    data = {"agents": {"m": {"model": "x"}},
            "nodes": [{"name": n, "agent": "m"} for n in ["e", "d", "c", "b", "a"]],
            "edges": ["a -> b", "b -> c", "a -> d", "c -> e", "d -> e"]}
    graph = Graph.from_dict(data)
    # d needs only a, so it runs with b; e waits for c, the longer branch. Declaration order within a level.
    assert graph.levels() == [["a"], ["d", "b"], ["c"], ["e"]]
    assert graph.topological_order() == ["a", "d", "b", "c", "e"]


def test_sinks_and_named_output():
    data = changed(lambda d: d["nodes"].append({"name": "lone", "agent": "codes"}) or d.update(output="lone"))
    graph = Graph.from_dict(data)
    assert graph.sinks() == ["final", "lone"]
    assert graph.output_node == "lone"


def test_yaml_round_trip_keeps_only_what_was_given(tmp_path):
    data = changed(lambda d: node(d, "critic").update(system="Be harsh.\nVery.",
                                                      generation={"max_new_tokens": 5}))
    graph = Graph.from_dict(data)
    text = graph.to_yaml(tmp_path / "g.yaml")
    assert "draft -> critic" in text and "fan_in" not in text
    for source in (text, str(tmp_path / "g.yaml"), tmp_path / "g.yaml"):
        loaded = Graph.from_yaml(source)
        assert loaded == graph
        assert loaded.node("critic").generation.model_fields_set == {"max_new_tokens"}
    critic = graph.to_dict()["nodes"][1]
    assert critic == {"name": "critic", "agent": "capitals", "system": "Be harsh.\nVery.",
                      "generation": {"max_new_tokens": 5}}


def test_a_graph_pickles_as_plain_data():
    graph = Graph.from_dict(BASE)
    assert pickle.loads(pickle.dumps(graph)) == graph


def test_yaml_errors_name_the_source(tmp_path):
    with pytest.raises(ConfigError, match=r"^missing\.yaml: cannot read"):
        Graph.from_yaml("missing.yaml")
    with pytest.raises(ConfigError, match=r"^graph:3: malformed YAML"):
        Graph.from_yaml("agents: {a: 1}\nnodes: [\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: {m: {model: x}}\nnodes: [{name: a, agent: n}]\n")
    with pytest.raises(GraphError, match=r"bad\.yaml: node 'a': unknown agent 'n'"):
        Graph.from_yaml(bad)


def test_equality_ignores_edge_order_but_not_edges():
    graph = Graph.from_dict(BASE)
    assert Graph.from_dict(changed(lambda d: d["edges"].reverse())) == graph
    assert Graph.from_dict(changed(lambda d: d["edges"].pop(0))) != graph


def test_networkx_round_trip():
    agents = {"a": AgentSpec(model="x", system="sys"), "b": AgentSpec(model="y")}
    graph = Graph(
        agents=agents,
        nodes=[Node(name="p", agent="a", generation=GenerationOptions(temperature=0.5)),
               Node(name="q", agent="b", system="critic", template="{p}? {question}"),
               Node(name="merge", fan_in="custom", aggregator="os.path:commonprefix"),
               Node(name="other", agent="a")],
        edges=[("p", "q"), ("p", "merge"), ("q", "merge"), ("p", "other")],
        output="merge",
    )
    g = graph.to_networkx()
    assert list(g.nodes) == ["p", "q", "merge", "other"]
    assert g.nodes["q"]["agent"] == "b" and g.nodes["q"]["system"] == "critic"
    assert g.nodes["q"]["template"] == "{p}? {question}" and g.nodes["merge"]["fan_in"] == "custom"
    assert g.graph["agents"] == agents and g.graph["output"] == "merge"
    back = Graph.from_networkx(g)
    assert back == graph
    assert back.node("p").generation.model_fields_set == {"temperature"}


def test_from_networkx_takes_agents_and_ignores_foreign_attributes():
    g = nx.DiGraph()
    g.add_node("a", agent="m", pos=(0, 1))
    g.add_node("b", agent="m", weight=3)
    g.add_edge("a", "b", weight=0.5)
    graph = Graph.from_networkx(g, agents={"m": AgentSpec(model="x")})
    assert graph.names == ["a", "b"] and graph.edges == [("a", "b")]
    with pytest.raises(GraphError, match="no agents given"):
        Graph.from_networkx(g)
    g.add_edge("b", "a")
    with pytest.raises(GraphError, match="^networkx graph: cycle: a -> b -> a$"):
        Graph.from_networkx(g, agents={"m": AgentSpec(model="x")})


@pytest.mark.parametrize("path", sorted(p for p in EXAMPLES.glob("*.yaml") if "\ngraph:" in p.read_text()),
                         ids=lambda p: p.stem)
def test_example_graphs_round_trip_through_yaml(path):
    graph = Graph.from_dict(yaml.safe_load(path.read_text())["graph"])
    assert Graph.from_yaml(graph.to_yaml()) == graph
