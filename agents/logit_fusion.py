"""Logit-level ensembles: one decoding loop over every member's next-token distribution.

  fusion       a weighted product of experts: sum_i w_i log p_i, renormalised (default w_i = 1/n)
  contrastive  expert minus amateur (Li et al. 2023): among the tokens with p_expert >= alpha * max
               p_expert, the argmax of log p_expert - beta * log p_amateur

The loop runs in the caller's process and chooses every token itself; each member keeps its own KV
cache where its model lives (agents/stepping.py) and is asked for one distribution per step, all
members at once (Members.step_decoding: on actors, one round of Ray calls per token). Token ids are
only comparable when the members share one tokenizer, so that is checked before anything decodes.
Stops as Agent.generate does: EOS, a stop string, or max_new_tokens; greedy unless the options
sample (temperature, top_p, seed).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable

import torch

from rayswarm.agents.decoding import cut_at_stop, seeded
from rayswarm.agents.ensemble import Members
from rayswarm.graphs.ensembles import Contrastive, Fusion
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.spec import GenerationOptions

# Equal vocabularies could still split text differently (merges, normalisation): compare on a sample.
PROBE = "The quick brown fox jumps over 13 lazy dogs.\nWhat is the capital of Bokia? K7Q, Tamon!"

Combine = Callable[[list[torch.Tensor]], torch.Tensor]  # members' [rows, vocab] log-probs -> scores


def fuse(spec: Fusion, members: Members, prompts: list[str], options: GenerationOptions,
         system: str | None) -> list[str]:
    weights = spec.weights or [1.0 / len(spec.agents)] * len(spec.agents)

    def product_of_experts(logprobs: list[torch.Tensor]) -> torch.Tensor:
        return torch.log_softmax(sum(w * lp for w, lp in zip(weights, logprobs, strict=True)), dim=-1)

    return decode(members, spec.agents, product_of_experts, prompts, options, system)


def contrast(spec: Contrastive, members: Members, prompts: list[str], options: GenerationOptions,
             system: str | None) -> list[str]:
    def expert_minus_amateur(logprobs: list[torch.Tensor]) -> torch.Tensor:
        return contrastive_scores(*logprobs, spec.alpha, spec.beta)

    return decode(members, [spec.expert, spec.amateur], expert_minus_amateur, prompts, options, system)


def contrastive_scores(expert: torch.Tensor, amateur: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """log p_expert - beta * log p_amateur where the expert finds a token plausible, -inf elsewhere."""
    plausible = expert >= expert.max(dim=-1, keepdim=True).values + math.log(alpha)
    return (expert - beta * amateur).masked_fill(~plausible, -math.inf)


def pick(scores: torch.Tensor, options: GenerationOptions) -> torch.Tensor:
    """One token per row from log-space scores: the argmax when greedy, else sampled as transformers
    does (temperature, then the top_p nucleus) from torch's RNG, which the caller seeds."""
    if options.temperature == 0:
        return scores.argmax(dim=-1)
    probs = torch.softmax(scores / options.temperature, dim=-1)
    if options.top_p < 1:
        ranked, order = probs.sort(dim=-1, descending=True)
        outside = ranked.cumsum(dim=-1) - ranked >= options.top_p  # the mass above it already reaches top_p
        probs = probs.scatter(-1, order, ranked.masked_fill(outside, 0.0))
    return torch.multinomial(probs, 1).squeeze(-1)


def shared_vocabulary(members: Members, agents: list[str]) -> tuple:
    """The first member's (tokenizer, EOS ids), EOS ids of every member merged; ConfigError unless
    every member tokenizes like the first."""
    tokenizer, eos = members.vocabulary(agents[0])
    eos = set(eos)
    for agent in agents[1:]:
        other, other_eos = members.vocabulary(agent)
        if other.get_vocab() != tokenizer.get_vocab() or other(PROBE)["input_ids"] != tokenizer(PROBE)["input_ids"]:
            raise ConfigError(f"agents '{agents[0]}' and '{agent}' have different tokenizers; "
                              "logit-level ensembles need members with one vocabulary")
        eos |= set(other_eos)
    return tokenizer, eos


def decode(members: Members, agents: list[str], combine: Combine, prompts: list[str],
           options: GenerationOptions, system: str | None) -> list[str]:
    """Decode the prompts with one token per step chosen from `combine` of the members' log-probs."""
    if options.budget is not None:
        raise ConfigError("budget forcing does not apply to logit-level ensembles")
    tokenizer, eos = shared_vocabulary(members, agents)
    session = uuid.uuid4().hex
    rows: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    try:
        logprobs = members.start_decoding(session, agents, prompts, system)
        with seeded(options.seed, torch.device("cpu")):
            while True:
                tokens = pick(combine(logprobs), options).tolist()
                for i, token in enumerate(tokens):
                    if not done[i]:
                        rows[i].append(token)
                        done[i] = (token in eos or len(rows[i]) == options.max_new_tokens
                                   or _stopped(tokenizer, rows[i], options.stop))
                if all(done):
                    break
                logprobs = members.step_decoding(session, agents, tokens)
    finally:
        # The ensemble emitted each token once, however many members computed it: count it once,
        # on the first member, as `tokens generated` counts a single agent's output.
        counted = {agent: [len(row) for row in rows] if k == 0 else [0] * len(rows)
                   for k, agent in enumerate(agents)}
        members.end_decoding(session, counted)
    return [cut_at_stop(tokenizer.decode(row, skip_special_tokens=True), options.stop) for row in rows]


def _stopped(tokenizer, row: list[int], stop: list[str]) -> bool:
    return bool(stop) and any(s in tokenizer.decode(row, skip_special_tokens=True) for s in stop)
