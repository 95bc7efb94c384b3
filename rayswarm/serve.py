"""build_graph_app: the public builder of a Serve application serving whole graphs (OpenAI API).

    from ray import serve
    from rayswarm.serve import build_graph_app
    serve.run(build_graph_app({"graphs": ["examples/chain.yaml", "examples/vote.yaml"]}))

or from a Serve config file (examples/serve.yaml):  import_path: rayswarm.serve:build_graph_app

It validates every input (config files, graphs, model sources) before Serve starts and hands the
graphs to rayswarm.clusters.serve, which builds the deployments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from rayswarm.clusters.serve import Batching, graph_app
from rayswarm.config import RunConfig, check_agents
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.schema import StrictModel, parse, read_yaml


class GraphEntry(StrictModel):
    """A graph given inline: served under `name`."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    graph: Graph


class ServeArgs(Batching):
    """The `args:` of a Serve config file, or the dict given to build_graph_app from Python."""

    graphs: list[str | GraphEntry] = Field(
        min_length=1, description="run-config YAML paths (model = its name), graph-only YAML paths "
        "(model = the file's stem) or inline {name, graph} entries")


def load_graph(path: str) -> tuple[str, Graph]:
    """(model name, graph) of a run config (`graph:` key; its task is not loaded) or of a graph-only YAML."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such graph or config file")
    data, source = read_yaml(Path(path))
    if isinstance(data, dict) and "graph" in data:
        config = parse(RunConfig, data, source=source)
        return config.name, config.graph
    return Path(path).stem, Graph.from_dict(data, source=source)


def load_graphs(args: ServeArgs) -> dict[str, Graph]:
    """Every graph by model name, each agent's model source checked without loading anything."""
    graphs: dict[str, Graph] = {}
    for entry in args.graphs:
        name, graph = load_graph(entry) if isinstance(entry, str) else (entry.name, entry.graph)
        if name in graphs:
            raise ConfigError(f"two graphs are named '{name}': model names must be unique")
        check_agents(graph.agents, f"graph '{name}'")
        graphs[name] = graph
    return graphs


def build_graph_app(args: dict[str, Any]):
    """The Serve application for `args` (see ServeArgs); raises a RayswarmError on any bad input.

    Takes a plain dict (not a pydantic annotation) so that Serve passes `args:` through untouched and
    the validation errors are this project's one-liners.
    """
    parsed = parse(ServeArgs, args, source="serve args")
    return graph_app(load_graphs(parsed), parsed)
