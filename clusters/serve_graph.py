"""A served graph with ensembles: one deployment runs the whole graph, as `rayswarm run --local` does.

An ensemble node (router, cascade, switch, logit fusion, contrastive: graphs/ensembles.py) talks to
its members many times per answer (a logit fusion once per token), so its members had better live
in one process. This deployment holds every agent of its graph in a LocalBackend (the in-process
backend, ensembles included) and answers a request with run_graph, one request at a time on one
decode thread: the answers are a local run's by construction. Its models are its own copies: it
shares no host deployment with other graphs, and it does not batch across requests.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ray import serve

from rayswarm.graphs.execute import GraphResult, NodeRequest, run_graph
from rayswarm.graphs.graph import Graph


class _Overridden:
    """A backend applying a request's generation options on top of every node's own."""

    def __init__(self, backend, overrides: dict[str, Any]):
        self.backend, self.overrides = backend, overrides

    def generate(self, requests: list[NodeRequest]) -> list[list[str]]:
        return self.backend.generate([replace(r, generation=r.generation.model_copy(update=self.overrides))
                                      for r in requests])


@serve.deployment
class GraphDeployment:
    def __init__(self, graph: Graph, threads: int = 1):
        import torch
        from transformers.utils import logging as hf_logging

        from rayswarm.agents.backend import LocalBackend

        hf_logging.disable_progress_bar()
        torch.set_num_threads(threads)
        self.graph = graph
        self.backend = LocalBackend(graph.agents, ensembles=graph.ensembles)
        self.backend.load_all()
        # One thread: the agents' models run one call at a time, and decoding stays off the event loop.
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph")

    async def run(self, graph: str, question: str, overrides: dict[str, Any]) -> tuple[GraphResult, dict]:
        """Answer a question with the graph: (the result, its token usage), as HostDeployment.run."""
        return await asyncio.get_running_loop().run_in_executor(self.compute, self._run, question, overrides)

    def _run(self, question: str, overrides: dict[str, Any]) -> tuple[GraphResult, dict]:
        before = self.backend.tokens_generated()
        result = run_graph(self.graph, [question], _Overridden(self.backend, overrides))
        # Every member's tokens count: a cascade's or a fusion's cost is all of its members' work.
        completion_tokens = self.backend.tokens_generated() - before
        prompt_tokens = sum(self._count_tokens(node, prompts) for node, prompts in result.prompts.items())
        return result, {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens}

    def _count_tokens(self, node: str, prompts: list[str]) -> int:
        agent = self.graph.node(node).agent
        if agent in self.graph.ensembles:  # an ensemble's prompt, in its first member's tokens
            agent = self.graph.ensembles[agent].members()[0]
        tokenizer = self.backend.agent(agent).tokenizer
        return sum(len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) for prompt in prompts)
