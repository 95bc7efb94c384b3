"""The model side of a served graph: one deployment per shared base model, with dynamic batching.

Each replica holds a ModelHost (actors/host.py) for every agent on that base (for each base, when
the agents of a graph are colocated). Node requests that arrive while the model is busy queue up;
the next batch takes them all (up to max_batch_size) and decodes those with the same agent, options
and system prompt as one call, prompts flattened.

A graph whose agents all live on one host runs inside that host's replicas (`run`): its hops are
calls within the replica, not round trips from the ingress (each ~3 ms on 2 cores), and its node
requests still join the replica's batches with everyone else's.

A batch waits up to batch_wait_timeout_s for more requests only while others are in flight, so a
request reaching an idle replica starts at once. Under load the wait matters: while a batch decodes,
its thread holds the GIL most of the time (a small model's decoding loop is mostly Python), so new
requests trickle into the process; without a wait most batches held one or two requests (measured
with 200 requests in flight, benchmarks/bench_serve.py).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from ray import serve

from rayswarm.clusters.serve import agent_key
from rayswarm.graphs.execute import GraphResult, NodeRequest, arun_graph
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.spec import AgentSpec


@dataclass(frozen=True)
class NodeReply:
    """A node request's outputs, and its token counts for the response's `usage`."""

    texts: list[str]
    prompt_tokens: int
    completion_tokens: int


class GraphBackend:
    """A served request's backend: each node request goes to its agent's host as that host knows it
    (agent_key, the request's generation overrides), a wavefront at once; the tokens are added up for
    `usage`. `agenerate` is for arun_graph on the event loop that owns the calls; `generate` for
    run_graph in a worker thread, handing each wavefront to that loop."""

    def __init__(self, graph: str, overrides: dict[str, Any], loop: asyncio.AbstractEventLoop):
        self.graph, self.overrides, self.loop = graph, overrides, loop
        self.prompt_tokens = self.completion_tokens = 0

    def call(self, request: NodeRequest):
        """An awaitable NodeReply for a request already routed."""
        raise NotImplementedError

    def routed(self, request: NodeRequest) -> NodeRequest:
        generation = request.generation.model_copy(update=self.overrides)
        return replace(request, agent=agent_key(self.graph, request.agent), generation=generation)

    async def agenerate(self, requests: list[NodeRequest]) -> list[list[str]]:
        replies = await asyncio.gather(*(self.call(self.routed(request)) for request in requests))
        self.prompt_tokens += sum(reply.prompt_tokens for reply in replies)
        self.completion_tokens += sum(reply.completion_tokens for reply in replies)
        return [reply.texts for reply in replies]

    def generate(self, requests: list[NodeRequest]) -> list[list[str]]:
        # A blocking wait on the loop's own thread would deadlock: only from a worker thread.
        return asyncio.run_coroutine_threadsafe(self.agenerate(requests), self.loop).result()

    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


class ReplicaBackend(GraphBackend):
    """A graph run inside a host replica: node requests go straight into the replica's batches."""

    def __init__(self, replica: HostDeployment, graph: str, overrides: dict[str, Any],
                 loop: asyncio.AbstractEventLoop):
        super().__init__(graph, overrides, loop)
        self.replica = replica

    def call(self, request: NodeRequest):
        return self.replica.generate(request)


@serve.deployment
class HostDeployment:
    def __init__(self, specs: dict[str, AgentSpec], max_batch_size: int, batch_wait_timeout_s: float,
                 threads: int = 1, graphs: dict[str, Graph] | None = None):
        import torch
        from transformers.utils import logging as hf_logging

        from rayswarm.actors.host import ModelHost, base_key

        hf_logging.disable_progress_bar()
        # One math thread per whole CPU the replica holds: replicas sharing cores each spawning a
        # thread per core is the slow case on small machines.
        torch.set_num_threads(threads)
        by_base: dict[tuple, dict[str, AgentSpec]] = defaultdict(dict)
        for name, spec in specs.items():
            by_base[base_key(spec)][name] = spec
        hosts = [ModelHost(group) for group in by_base.values()]  # one, unless colocated
        self.host_of = {name: host for host in hosts for name in host.specs}
        self.decode.set_max_batch_size(max_batch_size)
        self.wait_s = batch_wait_timeout_s
        self.in_flight = 0  # requests inside generate(): batched, queued or decoding
        # Decoding runs off the event loop, so new requests keep queueing for the next batch meanwhile;
        # one thread, because a ModelHost switches adapters and must run one batch at a time.
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")
        self.graphs = graphs or {}  # the graphs whose every agent lives on this host, by model name

    async def run(self, graph: str, question: str, overrides: dict[str, Any]) -> tuple[GraphResult, dict]:
        """Answer a question with one of this host's graphs: (the result, its token usage)."""
        backend = ReplicaBackend(self, graph, overrides, asyncio.get_running_loop())
        result = await arun_graph(self.graphs[graph], [question], backend.agenerate)
        return result, backend.usage()

    async def generate(self, request: NodeRequest) -> NodeReply:
        self.in_flight += 1
        try:
            reply = await self.decode(request)
        finally:
            self.in_flight -= 1
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def stream(self, request: NodeRequest):
        """One prompt's answer, piece by piece (`stream: true`); not batched: its tokens go out as they come.

        It decodes on the same single compute thread as the batches, so no batch switches the adapter
        under it; the pieces cross to the event loop through a queue.
        """
        loop, pieces = asyncio.get_running_loop(), asyncio.Queue()
        end = object()

        def work() -> None:
            try:
                host = self.host_of[request.agent]
                for piece in host.stream(request.agent, request.prompts[0], request.generation, request.system):
                    loop.call_soon_threadsafe(pieces.put_nowait, piece)
            except Exception as err:  # handed to the caller, after what was already sent
                loop.call_soon_threadsafe(pieces.put_nowait, err)
            loop.call_soon_threadsafe(pieces.put_nowait, end)

        self.compute.submit(work)
        while (piece := await pieces.get()) is not end:
            if isinstance(piece, Exception):
                raise piece
            yield piece

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.0)
    async def decode(self, requests: list[NodeRequest]) -> list[NodeReply | Exception]:
        replies = await asyncio.get_running_loop().run_in_executor(self.compute, self._decode_batch, requests)
        # The next batch waits to fill only if requests came in during this one (see the module doc).
        self.decode.set_batch_wait_timeout_s(self.wait_s if self.in_flight > len(requests) else 0.0)
        return replies

    def _decode_batch(self, requests: list[NodeRequest]) -> list[NodeReply | Exception]:
        """One host call per (agent, options, system); a failing group fails only its own requests."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            groups[(request.agent, request.generation.model_dump_json(), request.system)].append(i)
        replies: list[NodeReply | Exception] = [None] * len(requests)  # type: ignore[list-item]
        for members in groups.values():
            first = requests[members[0]]
            prompts = [prompt for i in members for prompt in requests[i].prompts]
            try:
                texts = self.host_of[first.agent].generate(first.agent, prompts, first.generation, first.system)
            except Exception as err:  # handed to this group's callers only, not the whole batch's
                for i in members:
                    replies[i] = err
                continue
            start = 0
            for i in members:
                count = len(requests[i].prompts)
                replies[i] = self._reply(first.agent, requests[i].prompts, texts[start:start + count])
                start += count
        return replies

    def _reply(self, agent: str, prompts: list[str], texts: list[str]) -> NodeReply:
        return NodeReply(texts, self._count_tokens(agent, prompts), self._count_tokens(agent, texts))

    def _count_tokens(self, agent: str, texts: list[str]) -> int:
        # Re-encoding costs microseconds; the counts leave out chat-template and system-prompt tokens.
        tokenizer = self.host_of[agent].agent.tokenizer
        return sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)
