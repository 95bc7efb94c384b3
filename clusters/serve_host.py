"""The model side of a served graph: one deployment per shared base model, with dynamic batching.

Each replica holds a ModelHost (actors/host.py) for every agent on that base. Node requests that
arrive while the model is busy queue up; the next batch takes them all (up to max_batch_size) and
decodes those with the same agent, options and system prompt as one call, prompts flattened.

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
from dataclasses import dataclass

from ray import serve

from rayswarm.graphs.execute import NodeRequest
from rayswarm.graphs.spec import AgentSpec


@dataclass(frozen=True)
class NodeReply:
    """A node request's outputs, and its token counts for the response's `usage`."""

    texts: list[str]
    prompt_tokens: int
    completion_tokens: int


@serve.deployment
class HostDeployment:
    def __init__(self, specs: dict[str, AgentSpec], max_batch_size: int, batch_wait_timeout_s: float,
                 threads: int = 1):
        import torch
        from transformers.utils import logging as hf_logging

        from rayswarm.actors.host import ModelHost

        hf_logging.disable_progress_bar()
        # One math thread per whole CPU the replica holds: replicas sharing cores each spawning a
        # thread per core is the slow case on small machines.
        torch.set_num_threads(threads)
        self.host = ModelHost(specs)
        self.decode.set_max_batch_size(max_batch_size)
        self.wait_s = batch_wait_timeout_s
        self.in_flight = 0  # requests inside generate(): batched, queued or decoding
        # Decoding runs off the event loop, so new requests keep queueing for the next batch meanwhile;
        # one thread, because a ModelHost switches adapters and must run one batch at a time.
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")

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
                for piece in self.host.stream(request.agent, request.prompts[0], request.generation, request.system):
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
                texts = self.host.generate(first.agent, prompts, first.generation, first.system)
            except Exception as err:  # handed to this group's callers only, not the whole batch's
                for i in members:
                    replies[i] = err
                continue
            start = 0
            for i in members:
                count = len(requests[i].prompts)
                replies[i] = self._reply(requests[i].prompts, texts[start:start + count])
                start += count
        return replies

    def _reply(self, prompts: list[str], texts: list[str]) -> NodeReply:
        return NodeReply(texts, self._count_tokens(prompts), self._count_tokens(texts))

    def _count_tokens(self, texts: list[str]) -> int:
        # Re-encoding costs microseconds; the counts leave out chat-template and system-prompt tokens.
        tokenizer = self.host.agent.tokenizer
        return sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)
