"""Run a graph over a whole dataset: one batch per node, one backend call per wavefront.

The executor knows nothing of models, torch or Ray. It renders prompts, hands each wavefront of
independent nodes to a `Backend` in one call (so a Ray backend can run them at the same time, and an
in-process one just loops), and computes agent-less nodes itself.

Outputs are kept as the models wrote them; what travels along an edge is `flatten`ed to one line,
as in the reference (algorithms.md §2). So the final answers keep their newlines, and every prompt
matches the reference's byte for byte.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rayswarm.graphs.fanin import combine
from rayswarm.graphs.graph import Graph, Node
from rayswarm.graphs.messages import default_template, flatten, render_prompt
from rayswarm.graphs.spec import GenerationOptions


@dataclass(frozen=True)
class NodeRequest:
    """One node's batch: `prompts[i]` answers question i.

    `system` and `generation` are already resolved (the node's settings over its agent's), so a backend
    applies them as they are.
    """

    node: str
    agent: str
    prompts: list[str]
    system: str | None
    generation: GenerationOptions

    def call_settings(self, run_seed: int) -> tuple[GenerationOptions, str]:
        """(options, system) as a backend passes them to the model.

        Sampling without a seed gets the run's seed, so a run is reproducible; the system prompt is
        "" rather than None, so agents sharing weights never fall back to another agent's prompt.
        """
        options = self.generation
        if options.seed is None and options.temperature > 0:
            options = options.model_copy(update={"seed": run_seed})
        return options, self.system if self.system is not None else ""


class Backend(Protocol):
    def generate(self, requests: list[NodeRequest]) -> list[list[str]]:
        """One list of outputs per request, aligned with its prompts."""
        ...


@dataclass
class GraphResult:
    output_node: str
    outputs: dict[str, list[str]]  # every node's outputs, aligned with the questions
    prompts: dict[str, list[str]]  # the prompts of the nodes that have an agent

    @property
    def final(self) -> list[str]:
        """The graph's answers: the output node's outputs."""
        return self.outputs[self.output_node]


@dataclass
class FunctionBackend:
    """An in-memory backend from a function (agent name, prompts) -> outputs; records every call.

    For tests and toy runs: e.g. an echo function makes each output show who read what.
    """

    function: Callable[[str, list[str]], list[str]]
    calls: list[list[NodeRequest]] = field(default_factory=list)

    def generate(self, requests: list[NodeRequest]) -> list[list[str]]:
        self.calls.append(list(requests))
        return [list(self.function(request.agent, request.prompts)) for request in requests]


def resolve_generation(graph: Graph, node: Node) -> GenerationOptions:
    """The agent's options with the fields the node sets on top."""
    base = graph.spec_of(node.agent).generation
    if node.generation is None:
        return base
    overrides = {name: getattr(node.generation, name) for name in node.generation.model_fields_set}
    return base.model_copy(update=overrides)


class _Stepper:
    """One graph's run, a level at a time: `requests()` for the next level, then `accept(replies)`."""

    def __init__(self, graph: Graph, questions: Sequence[str]):
        self.graph, self.questions = graph, list(questions)
        self.preds = graph.predecessor_map()
        self.levels = list(graph.levels())
        self.outputs: dict[str, list[str]] = {}
        self.messages: dict[str, list[str]] = {}  # outputs as they travel along edges
        self.prompts: dict[str, list[str]] = {}

    @property
    def done(self) -> bool:
        return not self.levels

    def requests(self) -> list[NodeRequest]:
        """The next level's model calls; agent-less nodes of the level are computed here."""
        graph, questions, requests = self.graph, self.questions, []
        for name in self.levels[0]:
            node = graph.node(name)
            inbox = [{p: self.messages[p][i] for p in self.preds[name]} for i in range(len(questions))]
            kept = [combine(list(m.values()), node.fan_in, node.aggregator, node.top_k or 2) for m in inbox]
            if node.agent is None:
                self.outputs[name] = ["\n".join(k) for k in kept]
                continue
            template = node.template or default_template(bool(self.preds[name]))
            self.prompts[name] = [render_prompt(template, question, previous, named)
                                  for question, previous, named in zip(questions, kept, inbox, strict=True)]
            system = node.system if node.system is not None else graph.spec_of(node.agent).system
            requests.append(NodeRequest(name, node.agent, self.prompts[name], system,
                                        resolve_generation(graph, node)))
        return requests

    def accept(self, requests: list[NodeRequest], replies: list[list[str]]) -> None:
        for request, reply in zip(requests, replies, strict=True):
            if len(reply) != len(self.questions):
                raise RuntimeError(f"backend gave {len(reply)} outputs for {len(self.questions)} prompts "
                                   f"at node '{request.node}'")
            self.outputs[request.node] = list(reply)
        for name in self.levels.pop(0):
            self.messages[name] = [flatten(output) for output in self.outputs[name]]

    def result(self) -> GraphResult:
        return GraphResult(self.graph.output_node, self.outputs, self.prompts)


@dataclass
class PendingOutput:
    """A graph run up to its output node: `request` is the output node's model call, not yet made
    (None when the output node has no agent: then the run is complete). `finish` takes its outputs."""

    request: NodeRequest | None
    _stepper: _Stepper
    _level: list[NodeRequest]
    _replies: list[list[str]]

    def finish(self, outputs: list[str] | None = None) -> GraphResult:
        if self.request is not None:
            self._stepper.accept([*self._level, self.request], [*self._replies, list(outputs)])
        return self._stepper.result()


def run_to_output(graph: Graph, questions: Sequence[str], backend: Backend) -> PendingOutput:
    """Run every node the output node may read, and hand back the output node's call instead of making it,
    so a server can stream that last call's tokens. Nodes of later levels never run: none feeds the output."""
    stepper, output = _Stepper(graph, questions), graph.output_node
    while True:
        requests = stepper.requests()
        last = next((request for request in requests if request.node == output), None)
        others = [request for request in requests if request is not last]
        replies = backend.generate(others) if others else []
        if last is not None:
            return PendingOutput(last, stepper, others, replies)
        stepper.accept(others, replies)
        if output in stepper.outputs:
            return PendingOutput(None, stepper, [], [])


def run_graph(graph: Graph, questions: Sequence[str], backend: Backend) -> GraphResult:
    """Answer every question with the graph, wavefront by wavefront."""
    return run_graphs([graph], questions, backend)[0]


async def arun_graph(graph: Graph, questions: Sequence[str],
                     generate: Callable[[list[NodeRequest]], Awaitable[list[list[str]]]]) -> GraphResult:
    """run_graph on an event loop: `generate` is an async Backend.generate. A server awaits each
    wavefront where its calls live, with no thread to hand the run to and back at every hop."""
    stepper = _Stepper(graph, questions)
    while not stepper.done:
        requests = stepper.requests()
        stepper.accept(requests, await generate(requests) if requests else [])
    return stepper.result()


def run_graphs(graphs: Sequence[Graph], questions: Sequence[str], backend: Backend) -> list[GraphResult]:
    """Answer every question with each graph, all graphs in lockstep: one backend call per level.

    The call holds the requests of every graph's next level, so a backend can serve a whole swarm
    of graphs (different DAGs, different agents per node) as one batch per level.
    """
    steppers = [_Stepper(graph, questions) for graph in graphs]
    while not all(stepper.done for stepper in steppers):
        live = [stepper for stepper in steppers if not stepper.done]
        batches = [stepper.requests() for stepper in live]
        flat = [request for batch in batches for request in batch]
        replies = backend.generate(flat) if flat else []
        if len(replies) != len(flat):
            raise RuntimeError(f"backend answered {len(replies)} of {len(flat)} requests")
        offset = 0
        for stepper, batch in zip(live, batches, strict=True):
            stepper.accept(batch, replies[offset : offset + len(batch)])
            offset += len(batch)
    return [stepper.result() for stepper in steppers]
