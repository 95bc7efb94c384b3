"""Whole collaboration graphs as one Ray Serve application with an OpenAI-compatible HTTP API.

    serve.run(graph_app({"chain": graph}, Batching()))   # validated graphs by model name
    # users start from rayswarm.serve.build_graph_app (a Serve config's import_path), which validates

Agents that share a base model (`actors.host.base_key`), across all the graphs served, become one
deployment `host-<i>` holding a ModelHost, with dynamic batching (clusters/serve_host.py) and the
largest num_cpus, num_gpus and replicas of its agents' specs. With `colocate`, each graph's agents
become one host instead, whatever their bases (one ModelHost per base inside): every graph then runs
inside a replica, its hops calls within the process, at the price of scaling its agents together. An ingress deployment takes the
HTTP requests (clusters/openai_api.py): a graph whose agents all share one host runs inside that
host's replica; any other runs in the ingress, every node of a wavefront sent to its host at once.
A graph with ensembles runs whole in a deployment of its own (clusters/serve_graph.py). Inputs are validated by rayswarm.serve.build_graph_app before this
runs, so a mistake is one RayswarmError before Serve starts.
"""

from __future__ import annotations

import math

from pydantic import Field

from rayswarm.actors.host import base_key
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.schema import StrictModel
from rayswarm.graphs.spec import AgentSpec

APP_NAME = "rayswarm"
# Requests one replica admits at once. Serve's default (5) would cap a batch at 5 and queue the rest
# in the proxy; ingress threads mostly wait on hosts, so admitting many costs little.
MAX_ONGOING_REQUESTS = 256


class Batching(StrictModel):
    """How each host replica batches the node requests it receives, and which agents share one."""

    max_batch_size: int = Field(32, ge=1, description="node requests a replica decodes together; 1 = no batching")
    batch_wait_timeout_s: float = Field(
        0.005, ge=0.0, description="how long a batch waits to fill while other requests are in flight; "
        "a request reaching an idle replica never waits")
    colocate: bool = Field(False, description="one host per graph holding all of its agents, whatever their "
                           "bases: no hop leaves a replica (lower latency); agents of a graph scale together")


def agent_key(graph: str, agent: str) -> str:
    """An agent's name on its host: graphs may reuse agent names for different specs."""
    return f"{graph}/{agent}"


def group_hosts(graphs: dict[str, Graph], colocate: bool = False) -> dict[str, dict[str, AgentSpec]]:
    """Deployment name -> the agents (agent_key -> spec) one host serves, in order of appearance:
    grouped by base model, or by graph with `colocate`."""
    groups: dict[tuple | str, dict[str, AgentSpec]] = {}
    for graph_name, graph in graphs.items():
        for agent, spec in graph.agents.items():
            groups.setdefault(graph_name if colocate else base_key(spec), {})[agent_key(graph_name, agent)] = spec
    return {f"host-{i}": specs for i, specs in enumerate(groups.values())}


def home_hosts(graphs: dict[str, Graph], groups: dict[str, dict[str, AgentSpec]]) -> dict[str, str]:
    """Graph name -> the host deployment holding all of its agents, for the graphs that have one."""
    host_of = {key: name for name, specs in groups.items() for key in specs}
    homes = {graph_name: {host_of[agent_key(graph_name, agent)] for agent in graph.agents}
             for graph_name, graph in graphs.items()}
    return {graph_name: hosts.pop() for graph_name, hosts in homes.items() if len(hosts) == 1}


def graph_deployment(graph_name: str) -> str:
    """The name of the deployment that runs a graph with ensembles whole."""
    return f"graph-{graph_name}"


def layout(graphs: dict[str, Graph], colocate: bool = False) -> dict[str, list[str]]:
    """Deployment name -> what it holds: agent keys for a host, the agent keys of its graph for a
    graph with ensembles (what `rayswarm serve` prints)."""
    hosts = group_hosts({name: graph for name, graph in graphs.items() if not graph.ensembles}, colocate)
    whole = {graph_deployment(name): [agent_key(name, agent) for agent in graph.agents]
             for name, graph in graphs.items() if graph.ensembles}
    return {**{name: list(specs) for name, specs in hosts.items()}, **whole}


def resources(specs) -> dict:
    """A deployment's share: the largest num_cpus, num_gpus and replicas of the agents it holds."""
    return {"num_cpus": max(spec.num_cpus for spec in specs), "num_gpus": max(spec.num_gpus for spec in specs),
            "replicas": max(spec.replicas for spec in specs)}


def graph_app(graphs: dict[str, Graph], args: Batching):
    """The application serving already validated graphs: one host deployment per group, one deployment
    per graph with ensembles, one ingress."""
    # Imported here: both modules import this one (and FastAPI need not load to validate args).
    from rayswarm.clusters.openai_api import GraphIngress
    from rayswarm.clusters.serve_graph import GraphDeployment
    from rayswarm.clusters.serve_host import HostDeployment

    # A model that fails to load rarely loads on a retry: fail the deploy after a few tries, not 20.
    common = {"max_ongoing_requests": MAX_ONGOING_REQUESTS, "max_constructor_retry_count": 3}
    hosts, routes = {}, {}
    plain = {name: graph for name, graph in graphs.items() if not graph.ensembles}
    groups = group_hosts(plain, args.colocate)
    homes = home_hosts(plain, groups)
    for name, specs in groups.items():
        share = resources(specs.values())
        hosts[name] = HostDeployment.options(
            name=name, num_replicas=share["replicas"], **common,
            ray_actor_options={"num_cpus": share["num_cpus"], "num_gpus": share["num_gpus"]},
        ).bind(specs, args.max_batch_size, args.batch_wait_timeout_s, threads=max(1, math.floor(share["num_cpus"])),
               graphs={graph: plain[graph] for graph, home in homes.items() if home == name})
        routes.update(dict.fromkeys(specs, name))
    for graph_name, graph in graphs.items():
        if graph.ensembles:  # its members talk many times per answer: the whole graph in one process
            share, name = resources(graph.agents.values()), graph_deployment(graph_name)
            hosts[name] = GraphDeployment.options(
                name=name, num_replicas=share["replicas"], **common,
                ray_actor_options={"num_cpus": share["num_cpus"], "num_gpus": share["num_gpus"]},
            ).bind(graph, threads=max(1, math.floor(share["num_cpus"])))
            homes[graph_name] = name
    return GraphIngress.options(max_ongoing_requests=MAX_ONGOING_REQUESTS).bind(graphs, hosts, routes, homes)


def deploy_failure(message: str) -> str:
    """The cause of a failed deploy, from Serve's message (which ends with the replica's traceback):
    its last line, "ExceptionType: what went wrong"."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    cause = next((line for line in reversed(lines) if ": " in line and not line.startswith("File ")), lines[-1])
    return cause.removeprefix("rayswarm.graphs.errors.")
