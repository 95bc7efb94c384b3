"""The collaboration graph: which agent answers at which node, and who reads whom.

A `Graph` is plain data (pydantic, picklable, no live models) and is validated in full when it is
built, so a typo or a cycle fails with one line before any model is loaded. Order is always the
order of declaration: predecessors are listed in node order (the "index order" of Heterogeneous
Swarms), and the topological order is Kahn's in node order, so a graph whose nodes are declared by
index runs exactly as the reference does (algorithms.md §2, step 7).

YAML shape:

    agents:
      codes: {model: "tiny:codes"}
      capitals: {model: "tiny:capitals", generation: {max_new_tokens: 24}}
    nodes:
      - {name: first, agent: codes}
      - {name: second, agent: capitals, template: "Check this: {first}\\nQuestion: {question}"}
    edges: ["first -> second"]          # or [[first, second]]
    output: second                      # optional: defaults to the only sink
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import networkx as nx
import yaml
from pydantic import Field, field_validator, model_validator

from rayswarm.graphs.ensembles import EnsembleSpec
from rayswarm.graphs.errors import GraphError
from rayswarm.graphs.fanin import FanIn, load_aggregator
from rayswarm.graphs.messages import RESERVED_FIELDS, template_fields
from rayswarm.graphs.schema import StrictModel, did_you_mean, parse, read_yaml
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

# Node names appear as {name} in templates and in "a -> b" edges, so they must be plain words: a
# leading digit would make str.format read a positional field, and ':', '.', '[' mean something there.
NODE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
ARROW = "->"


class Node(StrictModel):
    """One step of the graph: an agent answering a prompt, or (agent None) a pure aggregator."""

    name: str
    agent: str | None = None
    system: str | None = None
    template: str | None = None
    fan_in: FanIn = "concat"
    aggregator: str | None = None
    top_k: int | None = Field(None, gt=0)  # fan_in "rank": how many messages to keep (default 2)
    # Only the fields given here override the agent's options (pydantic records which were set).
    generation: GenerationOptions | None = None


class Graph(StrictModel):
    """A DAG of nodes over named agents. Built and validated from Python, a dict, YAML or networkx."""

    agents: dict[str, AgentSpec]
    ensembles: dict[str, EnsembleSpec] = {}  # agents made of agents (graphs/ensembles.py)
    nodes: list[Node]
    edges: list[tuple[str, str]] = []
    output: str | None = None

    @field_validator("edges", mode="before")
    @classmethod
    def _parse_arrows(cls, edges: Any) -> Any:
        """Accept the compact "src -> dst" form next to [src, dst]."""
        if not isinstance(edges, list):
            return edges
        return [_split_arrow(edge) if isinstance(edge, str) else edge for edge in edges]

    @model_validator(mode="before")
    @classmethod
    def _pattern_shorthand(cls, data: Any) -> Any:
        """`{pattern: debate, agents: ..., <its arguments>}` is the ready-made graph (graphs/patterns.py)."""
        if isinstance(data, dict) and "pattern" in data:
            from rayswarm.graphs.patterns import from_pattern  # patterns build Graphs: import when used

            return from_pattern(data).model_dump(exclude_unset=True)
        return data

    @model_validator(mode="after")
    def _check(self) -> Graph:
        self.validate()
        return self

    def __eq__(self, other: object) -> bool:
        """Equal as graphs: the order of `edges` carries no meaning (predecessors follow node order)."""
        if not isinstance(other, Graph):
            return NotImplemented
        return (self.agents, self.ensembles, self.nodes, set(self.edges), self.output) == (
            other.agents, other.ensembles, other.nodes, set(other.edges), other.output)

    # ---------------------------------------------------------------- structure

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise GraphError(f"unknown node '{name}'{did_you_mean(name, self.names)}")

    def spec_of(self, agent: str) -> AgentSpec | EnsembleSpec:
        """What a node's `agent` names: a single model or an ensemble."""
        return self.agents[agent] if agent in self.agents else self.ensembles[agent]

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def predecessor_map(self) -> dict[str, list[str]]:
        """Every node's predecessors, in node-declaration order."""
        position = {name: i for i, name in enumerate(self.names)}
        preds: dict[str, list[str]] = {name: [] for name in self.names}
        for src, dst in self.edges:
            preds[dst].append(src)
        return {name: sorted(ps, key=position.__getitem__) for name, ps in preds.items()}

    def predecessors(self, name: str) -> list[str]:
        self.node(name)
        return self.predecessor_map()[name]

    def sinks(self) -> list[str]:
        sources_of_edges = {src for src, _ in self.edges}
        return [name for name in self.names if name not in sources_of_edges]

    @property
    def output_node(self) -> str:
        """The node whose outputs are the graph's answers: `output`, else the only sink."""
        return self.output or self.sinks()[0]

    def topological_order(self) -> list[str]:
        """Repeated passes over the nodes in declaration order, taking each node whose inputs are done.

        This is the reference's Kahn-style sort: with nodes declared by index, sources come first and a
        G-Decode sink last. A pass that takes nothing means the rest contains a cycle.
        """
        preds = self.predecessor_map()
        order: list[str] = []
        done: set[str] = set()
        while len(order) < len(self.nodes):
            before = len(order)
            for name in self.names:
                if name not in done and all(p in done for p in preds[name]):
                    order.append(name)
                    done.add(name)
            if len(order) == before:
                raise GraphError(f"cycle: {_find_cycle([n for n in self.names if n not in done], preds)}")
        return order

    def levels(self) -> list[list[str]]:
        """Wavefronts: a node's level is the longest path to it from a source, so each level only
        reads earlier ones and its nodes can run at the same time. Declaration order within a level."""
        preds = self.predecessor_map()
        level: dict[str, int] = {}
        for name in self.topological_order():
            level[name] = 1 + max((level[p] for p in preds[name]), default=-1)
        waves: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
        for name in self.names:
            waves[level[name]].append(name)
        return waves

    # ---------------------------------------------------------------- validation

    def validate(self) -> None:
        """Raise a one-line GraphError for the first problem found. Runs on construction and assignment;
        call it again after mutating a list in place (graph.nodes.append(...))."""
        if not self.nodes:
            raise GraphError("the graph has no nodes")
        self._check_ensembles()
        self._check_nodes()
        self._check_edges()
        preds = self.predecessor_map()
        self.topological_order()  # raises on a cycle
        for node in self.nodes:
            _check_inputs(node, preds[node.name])
        self._check_output()
        for node in self.nodes:
            if node.fan_in == "custom":
                try:
                    load_aggregator(node.aggregator)
                except GraphError as err:
                    raise GraphError(f"node '{node.name}': {err}") from None

    def _check_nodes(self) -> None:
        seen: set[str] = set()
        for node in self.nodes:
            name = node.name
            if not NODE_NAME.fullmatch(name):
                raise GraphError(f"node name {name!r} must start with a letter or '_' and hold only "
                                 "letters, digits, '_' and '-'")
            if name in RESERVED_FIELDS:
                raise GraphError(f"node name '{name}' is reserved for templates; pick another")
            if name in seen:
                raise GraphError(f"duplicate node name '{name}'")
            seen.add(name)
            if node.agent is not None and node.agent not in self.agents and node.agent not in self.ensembles:
                hint = did_you_mean(node.agent, [*self.agents, *self.ensembles])
                raise GraphError(f"node '{name}': unknown agent '{node.agent}'{hint}")
            if node.agent is None and (node.system, node.template, node.generation) != (None, None, None):
                raise GraphError(f"node '{name}' has no agent, so its system/template/generation "
                                 "would be ignored")
            if node.top_k is not None and node.fan_in != "rank":
                raise GraphError(f"node '{name}': 'top_k' goes with fan_in 'rank', and only with it")
            if (node.fan_in == "custom") != (node.aggregator is not None):
                raise GraphError(f"node '{name}': 'aggregator: module:function' goes with fan_in 'custom', "
                                 "and only with it")

    def _check_ensembles(self) -> None:
        for name, ensemble in self.ensembles.items():
            if name in self.agents:
                raise GraphError(f"ensemble '{name}' has the name of an agent; pick another")
            members = ensemble.members()
            for member in members:
                if member in self.ensembles:
                    raise GraphError(f"ensemble '{name}': member '{member}' is an ensemble; members are agents")
                if member not in self.agents:
                    raise GraphError(f"ensemble '{name}': unknown agent '{member}'{did_you_mean(member, self.agents)}")
            if len(set(members)) < len(members):
                raise GraphError(f"ensemble '{name}' lists an agent twice")

    def _check_edges(self) -> None:
        names, seen = set(self.names), set()
        for src, dst in self.edges:
            for end in (src, dst):
                if end not in names:
                    hint = did_you_mean(end, self.names)
                    raise GraphError(f"edge {src} {ARROW} {dst}: unknown node '{end}'{hint}")
            if (src, dst) in seen:
                raise GraphError(f"duplicate edge {src} {ARROW} {dst}")
            seen.add((src, dst))

    def _check_output(self) -> None:
        if self.output is not None:
            if self.output not in self.names:
                hint = did_you_mean(self.output, self.names)
                raise GraphError(f"output '{self.output}' is not a node{hint}")
            return
        sinks = self.sinks()
        if len(sinks) > 1:
            raise GraphError(f"several sinks ({', '.join(sinks)}): name the output node with 'output:'")

    # ---------------------------------------------------------------- conversions

    def to_dict(self) -> dict:
        """Plain data for YAML/JSON; keys left at their defaults when the graph was built are left out."""
        return self.model_dump(mode="json", exclude_unset=True)

    @classmethod
    def from_dict(cls, data: Any, source: str = "graph") -> Graph:
        """Validate a mapping; every error is one line starting with `source`."""
        return parse(cls, data, source)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The YAML text (edges in the compact "a -> b" form); also written to `path` when given."""
        data = self.to_dict()
        if "edges" in data:
            data["edges"] = [f"{src} {ARROW} {dst}" for src, dst in data["edges"]]
        text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, path_or_text: str | Path) -> Graph:
        """Load from a .yaml/.yml file path or from YAML text."""
        return cls.from_dict(*read_yaml(path_or_text, source="graph"))

    def to_networkx(self) -> nx.DiGraph:
        """A DiGraph with every Node field but the name as node attributes, and the agents and output
        as graph attributes. Nodes are added in declaration order, which networkx keeps."""
        graph = nx.DiGraph(agents=dict(self.agents), output=self.output)
        for node in self.nodes:
            graph.add_node(node.name, **{f: getattr(node, f) for f in Node.model_fields if f != "name"})
        graph.add_edges_from(self.edges)
        return graph

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph, agents: dict[str, AgentSpec] | None = None) -> Graph:
        """Rebuild from a DiGraph. `agents` defaults to graph.graph["agents"]; node attributes that are
        not Node fields (layout positions, weights, ...) are ignored."""
        agents = agents if agents is not None else graph.graph.get("agents")
        if agents is None:
            raise GraphError("networkx graph: no agents given and none in graph.graph['agents']")
        nodes = [{"name": name, **{k: v for k, v in attrs.items() if k in Node.model_fields}}
                 for name, attrs in graph.nodes(data=True)]
        data = {"agents": agents, "nodes": nodes, "edges": list(graph.edges),
                "output": graph.graph.get("output")}
        return cls.from_dict(data, source="networkx graph")


class _Dumper(yaml.SafeDumper):
    """Safe YAML that writes multi-line strings (templates, system prompts) as readable | blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)


def _split_arrow(edge: str) -> list[str]:
    parts = [part.strip() for part in edge.split(ARROW)]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"edge {edge!r} must look like 'src {ARROW} dst'")
    return parts


def _check_inputs(node: Node, preds: list[str]) -> None:
    """What a node reads must exist: an aggregator needs inputs, a template field needs a source."""
    if not preds and node.agent is None:
        raise GraphError(f"node '{node.name}' has no agent and no predecessors: nothing to aggregate")
    if not preds and node.fan_in != "concat":
        raise GraphError(f"node '{node.name}': fan_in '{node.fan_in}' needs predecessors")
    if node.template is None:
        return
    try:
        fields = template_fields(node.template)
    except ValueError as err:
        raise GraphError(f"node '{node.name}': bad template ({err})") from None
    known = [*RESERVED_FIELDS, *preds]
    for field in fields:
        if field not in known:
            raise GraphError(f"node '{node.name}': template field {{{field}}} is neither "
                             f"{' nor '.join(RESERVED_FIELDS)} nor a predecessor{did_you_mean(field, known)}")


def _find_cycle(stuck: list[str], preds: dict[str, list[str]]) -> str:
    """Walk back from a stuck node through stuck predecessors until a node repeats: that loop is a cycle.

    Every stuck node has a stuck predecessor (else a pass would have taken it), so the walk never ends
    early. The loop is read backwards, hence reversed for display.
    """
    stuck_set = set(stuck)
    walk = [stuck[0]]
    while True:
        previous = next(p for p in preds[walk[-1]] if p in stuck_set)
        if previous in walk:
            loop = [*walk[walk.index(previous):], previous]
            return f" {ARROW} ".join(reversed(loop))
        walk.append(previous)
