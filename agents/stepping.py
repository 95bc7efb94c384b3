"""Incremental decoding driven from outside: one model's KV cache over a batch, one token at a time.

Logit-level ensembles (agents/logit_fusion.py) need every member's next-token distribution at
every step and choose the token themselves, so `model.generate`, which chooses for one model, does
not fit. A Stepper holds one model's cache for one batch: `start` reads the prompts and returns the
log-probabilities of each row's first new token, `step(tokens)` appends one token per row and
returns the next ones. It lives where the model does: in this process (agents/backend.py) or in
an actor's ModelHost, which keeps them by session id (actors/host.py).
"""

from __future__ import annotations

import torch

from rayswarm.agents.agent import Agent
from rayswarm.agents.decoding import eos_token_ids, left_pad, position_ids
from rayswarm.graphs.spec import GenerationOptions


def vocabulary(agent: Agent) -> tuple:
    """(tokenizer, ids that end a turn): what a driver needs to decode and stop for this agent."""
    return agent.tokenizer, eos_token_ids(agent.model, agent.tokenizer)


class Stepper:
    """One batch decoding on `agent`'s model. Run it under the agent's adapter (ModelHost.active)."""

    def __init__(self, agent: Agent):
        self.agent = agent
        self.cache = None
        self.mask: torch.Tensor | None = None
        self.next_position: torch.Tensor | None = None

    def start(self, prompts: list[str], system: str, options: GenerationOptions) -> torch.Tensor:
        """Read the prompts (rendered and encoded exactly as Agent.generate does): [rows, vocab] log-probs."""
        texts, chat = self.agent._render_all(prompts, system, options)
        ids, mask = left_pad(self.agent._encode(texts, add_special_tokens=not chat), self.agent.tokenizer.pad_token_id)
        self.mask = mask.to(self.agent.device)  # the mask and positions stay by the model, as the cache does
        positions = position_ids(self.mask)
        self.next_position = positions[:, -1:] + 1
        return self._forward(ids.to(self.mask.device), positions)

    def step(self, tokens: list[int]) -> torch.Tensor:
        """Append tokens[i] to row i; the next token's log-probs. Finished rows still take a token
        (any): rows never attend to each other, and a fixed batch keeps the cache simple."""
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(tokens), 1))], dim=1)
        positions, self.next_position = self.next_position, self.next_position + 1
        return self._forward(torch.tensor(tokens, device=self.mask.device).unsqueeze(1), positions)

    @torch.no_grad()
    def _forward(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        out = self.agent.model(input_ids=ids, attention_mask=self.mask, position_ids=positions, cache=self.cache,
                               use_cache=True, logits_to_keep=1)
        self.cache = out.cache
        # Over the tokenizer's ids only: an embedding padded wider would give members of one
        # tokenizer distributions of different widths.
        return torch.log_softmax(out.logits[:, -1].float(), dim=-1)[:, : len(self.agent.tokenizer)].cpu()
