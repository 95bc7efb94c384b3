"""Ensembles in a graph: validated with the graph, one line per mistake, and round-tripped through YAML."""

import pytest

from rayswarm.graphs.errors import ConfigError, GraphError
from rayswarm.graphs.execute import FunctionBackend, run_graph
from rayswarm.graphs.graph import Graph

AGENTS = {"small": {"model": "tiny:base"}, "codes": {"model": "tiny:codes"}}


def graph_with(ensembles: dict, agent: str = "team") -> Graph:
    return Graph.from_dict({"agents": AGENTS, "ensembles": ensembles, "nodes": [{"name": "n", "agent": agent}]})


def test_a_node_names_an_ensemble_like_an_agent_and_gets_its_options():
    graph = graph_with({"team": {"kind": "cascade", "agents": ["small", "codes"], "threshold": -0.3,
                                 "generation": {"max_new_tokens": 5}, "system": "Be brief."}})
    assert graph.spec_of("team").members() == ["small", "codes"]
    assert Graph.from_yaml(graph.to_yaml()) == graph
    backend = FunctionBackend(lambda agent, prompts: [agent] * len(prompts))
    assert run_graph(graph, ["q"], backend).final == ["team"]
    request = backend.calls[0][0]
    assert (request.agent, request.system, request.generation.max_new_tokens) == ("team", "Be brief.", 5)


def test_members_of_each_kind():
    router = {"kind": "router", "agents": ["small", "codes"], "router": "small"}
    assert graph_with({"team": router}).spec_of("team").members() == ["small", "codes"]
    contrast = {"kind": "contrastive", "expert": "codes", "amateur": "small"}
    assert graph_with({"team": contrast}).spec_of("team").members() == ["codes", "small"]


@pytest.mark.parametrize("ensembles, message", [
    ({"team": {"kind": "cascade", "agents": ["small", "codez"]}},
     "ensemble 'team': unknown agent 'codez' (did you mean \"codes\"?)"),
    ({"small": {"kind": "cascade", "agents": ["small", "codes"]}}, "ensemble 'small' has the name of an agent"),
    ({"team": {"kind": "fusion", "agents": ["small", "small"]}}, "ensemble 'team' lists an agent twice"),
    ({"team": {"kind": "fusion", "agents": ["small", "inner"]}, "inner": {"kind": "fusion", "agents": ["small", "codes"]}},
     "member 'inner' is an ensemble"),
    ({"team": {"kind": "router", "agents": ["small", "codes"]}}, "a prompted router needs `router: <agent>`"),
    ({"team": {"kind": "router", "agents": ["small", "codes"], "mode": "trained"}}, "needs `train_task"),
    ({"team": {"kind": "fusion", "agents": ["small", "codes"], "weights": [1.0]}}, "1 weights for 2 agents"),
    ({"team": {"kind": "cascade", "agents": ["small"]}}, "at least 2 items"),
    ({"team": {"kind": "vote", "agents": ["small", "codes"]}}, "does not match any of the expected tags"),
])
def test_each_mistake_is_one_line(ensembles, message):
    with pytest.raises(ConfigError) as err:
        graph_with(ensembles)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_node_naming_neither_agent_nor_ensemble():
    with pytest.raises(GraphError, match="unknown agent 'tem' \\(did you mean \"team\"\\?\\)"):
        graph_with({"team": {"kind": "cascade", "agents": ["small", "codes"]}}, agent="tem")
