"""rayswarm.graphs: what talks to what, and in which order. Pure Python: no torch, no Ray.

    from rayswarm.graphs import Graph, run_graph, FunctionBackend
    graph = Graph.from_yaml("graph.yaml")
    result = run_graph(graph, questions, backend)   # result.final: the answers
"""

from rayswarm.graphs.errors import ConfigError, DataError, GraphError, RayswarmError
from rayswarm.graphs.execute import Backend, FunctionBackend, GraphResult, NodeRequest, run_graph, run_graphs
from rayswarm.graphs.gdecode import g_decode, graph_from_adjacency
from rayswarm.graphs.graph import Graph, Node
from rayswarm.graphs.patterns import chain, debate, majority_vote, mixture_of_agents, refine
from rayswarm.graphs.spec import AgentSpec, BudgetForcing, GenerationOptions

__all__ = [
    "AgentSpec", "Backend", "BudgetForcing", "ConfigError", "DataError", "FunctionBackend",
    "GenerationOptions", "Graph", "GraphError", "GraphResult", "Node", "NodeRequest", "RayswarmError",
    "chain", "debate", "g_decode", "graph_from_adjacency", "majority_vote", "mixture_of_agents", "refine",
    "run_graph",
    "run_graphs",
]
