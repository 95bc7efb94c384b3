import pytest

from rayswarm.graphs.errors import GraphError
from rayswarm.graphs.execute import FunctionBackend, run_graph
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.patterns import (
    chain,
    debate,
    knowledge_cards,
    majority_vote,
    mixture_of_agents,
    rank_and_fuse,
    refine,
)
from rayswarm.graphs.spec import AgentSpec

AGENTS = {name: AgentSpec(model=f"tiny:{name}") for name in ("a", "b", "c")}


def test_chain():
    graph = chain(["a", "b", "a"], agents=AGENTS)
    assert [(n.name, n.agent) for n in graph.nodes] == [("step0", "a"), ("step1", "b"), ("step2", "a")]
    assert graph.edges == [("step0", "step1"), ("step1", "step2")]
    assert graph.output_node == "step2"


def test_mixture_of_agents_connects_each_layer_fully_to_the_next():
    graph = mixture_of_agents([["a", "b", "c"], ["a", "b"]], "c", agents=AGENTS)
    assert graph.levels() == [["layer0_0", "layer0_1", "layer0_2"], ["layer1_0", "layer1_1"], ["aggregator"]]
    assert graph.predecessors("layer1_1") == ["layer0_0", "layer0_1", "layer0_2"]
    assert graph.predecessors("aggregator") == ["layer1_0", "layer1_1"]
    assert len(graph.edges) == 3 * 2 + 2
    assert graph.node("aggregator").agent == "c" and graph.output_node == "aggregator"


def test_debate_unrolls_rounds_and_votes_at_the_end():
    graph = debate(["a", "b", "c"], rounds=3, agents=AGENTS)
    assert len(graph.levels()) == 4
    assert graph.predecessors("round2_1") == ["round1_0", "round1_1", "round1_2"]
    assert graph.node("round2_1").agent == "b"
    assert graph.predecessors("round0_0") == []
    assert graph.node("vote").fan_in == "vote"
    assert graph.predecessors("vote") == ["round2_0", "round2_1", "round2_2"]
    assert graph.output_node == "vote"


def test_refine_alternates_critique_and_revision():
    graph = refine("a", "b", rounds=2, agents=AGENTS)
    assert graph.topological_order() == ["answer", "critique1", "revise1", "critique2", "revise2"]
    assert graph.predecessors("critique2") == ["revise1"]
    assert graph.predecessors("revise2") == ["revise1", "critique2"]
    assert [n.agent for n in graph.nodes] == ["a", "b", "a", "b", "a"]
    # The critique of round 2 reads the revision of round 1, by name.
    echo = FunctionBackend(lambda agent, prompts: [f"{agent}:{len(p)}" for p in prompts])
    result = run_graph(graph, ["q"], echo)
    assert result.prompts["critique2"][0].endswith(f"Answer: {result.outputs['revise1'][0]}")
    assert f"Critique: {result.outputs['critique2'][0]}\n" in result.prompts["revise2"][0]


def test_majority_vote():
    graph = majority_vote(["a", "b", "a"], agents=AGENTS)
    assert graph.levels() == [["voter0", "voter1", "voter2"], ["vote"]]
    backend = FunctionBackend(lambda agent, prompts: ["yes" if agent == "a" else "no" for _ in prompts])
    assert run_graph(graph, ["q1", "q2"], backend).final == ["yes", "yes"]


def test_patterns_survive_yaml():
    for graph in (refine("a", "b", 1, agents=AGENTS), debate(["a", "b"], 2, agents=AGENTS)):
        assert Graph.from_yaml(graph.to_yaml()) == graph


@pytest.mark.parametrize("build, message", [
    (lambda: chain([], agents=AGENTS), "chain needs at least one agent"),
    (lambda: debate(["a"], 0, agents=AGENTS), "debate needs at least 1 round"),
    (lambda: refine("a", "b", 0, agents=AGENTS), "refine needs at least 1 round"),
    (lambda: mixture_of_agents([["a"], []], "a", agents=AGENTS),
     "mixture_of_agents layer 1 needs at least one agent"),
    (lambda: majority_vote(["a", "d"], agents=AGENTS), "node 'voter1': unknown agent 'd'"),
])
def test_pattern_mistakes(build, message):
    with pytest.raises(GraphError, match=message):
        build()


def test_rank_and_fuse_gives_the_fuser_the_top_k_candidates_best_first():
    graph = rank_and_fuse(["a", "b", "c"], "c", top_k=2, agents=AGENTS)
    answers = {"a": "Bokia Tamon", "b": "Ruvia", "c": "Bokia, Tamon"}
    backend = FunctionBackend(lambda agent, prompts: [answers[agent] if "fusing" not in p else p for p in prompts])
    fused = run_graph(graph, ["q"], backend).final[0]
    assert "Previous response 1: Bokia Tamon\nPrevious response 2: Bokia, Tamon\nQuestion: q" in fused
    assert "Ruvia" not in fused


def test_knowledge_cards_feed_every_card_to_the_answerer():
    graph = knowledge_cards(["a", "b"], "c", agents=AGENTS)
    result = run_graph(graph, ["q"], FunctionBackend(lambda agent, prompts: [f"card of {agent}"] * len(prompts)))
    assert result.prompts["card0"][0].startswith("Please write down what you know")
    assert "Previous response 1: card of a\nPrevious response 2: card of b\nQuestion: q" in result.prompts["answer"][0]


def test_a_pattern_is_a_graph_in_yaml():
    data = {"pattern": "debate", "agent_names": ["a", "b"], "rounds": 2, "agents": {"a": {"model": "x"},
                                                                                     "b": {"model": "y"}}}
    graph = Graph.from_dict(data)
    assert graph.output_node == "vote" and len(graph.levels()) == 3
    with pytest.raises(GraphError, match="unknown pattern 'debat' \\(did you mean \"debate\"\\?\\)"):
        Graph.from_dict({**data, "pattern": "debat"})
    with pytest.raises(GraphError, match="pattern 'debate': .*unexpected keyword argument 'round'"):
        Graph.from_dict({**{k: v for k, v in data.items() if k != "rounds"}, "round": 2})
