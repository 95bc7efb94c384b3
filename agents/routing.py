"""The API-level ensembles (graphs/ensembles.py): router, cascade, switch, over any backend's Members.

They only call members as a client calls an API: generate, score, continue an answer. Confidence is
always a member's mean token log-probability of its own text, so no member needs to be trained for
it. A cascade or a router calls each member once per batch (with only the prompts that reach it); a
switch calls every member once per segment.
"""

from __future__ import annotations

import math

from rayswarm.agents.decoding import Completion
from rayswarm.agents.ensemble import Members
from rayswarm.agents.routers import prompted_choices, trained_choices
from rayswarm.graphs.ensembles import Cascade, Router, Switch
from rayswarm.graphs.spec import GenerationOptions


def route(spec: Router, members: Members, prompts: list[str], options: GenerationOptions,
          system: str | None) -> list[str]:
    """One candidate answers each prompt: the one the router agent names, or the trained classifier picks."""
    pick = trained_choices if spec.mode == "trained" else prompted_choices
    choices = pick(spec, members, prompts, options, system)
    answers = [""] * len(prompts)
    for k, agent in enumerate(spec.agents):
        answers_some(members, agent, prompts, [i for i, c in enumerate(choices) if c == k], answers, options, system)
    return answers


def cascade(spec: Cascade, members: Members, prompts: list[str], options: GenerationOptions,
            system: str | None) -> list[str]:
    """Members in order answer what is still open; a confident answer is kept, the rest escalate."""
    answers, open_rows = [""] * len(prompts), list(range(len(prompts)))
    *tried, last = spec.agents
    for agent in tried:
        # Every open row takes this member's answer; the unsure ones are overwritten further down.
        answers_some(members, agent, prompts, open_rows, answers, options, system)
        sure = confidences(members, agent, [prompts[i] for i in open_rows], [answers[i] for i in open_rows], system)
        open_rows = [i for i, confidence in zip(open_rows, sure, strict=True) if confidence < spec.threshold]
    answers_some(members, last, prompts, open_rows, answers, options, system)
    return answers


def switch(spec: Switch, members: Members, prompts: list[str], options: GenerationOptions,
           system: str | None) -> list[str]:
    """Members take turns by segments: each turn, the proposal its writer is surest of is appended."""
    answers, open_rows, written = [""] * len(prompts), list(range(len(prompts))), 0
    while open_rows and written < options.max_new_tokens:
        turn = options.model_copy(update={"max_new_tokens": min(spec.segment_tokens,
                                                                options.max_new_tokens - written)})
        asked, begun = [prompts[i] for i in open_rows], [answers[i] for i in open_rows]
        proposals = [members.continue_answers(agent, asked, begun, turn, system) for agent in spec.agents]
        sure = [segment_confidences(members, agent, asked, begun, rows, system)
                for agent, rows in zip(spec.agents, proposals, strict=True)]
        still_open = []
        for j, i in enumerate(open_rows):
            # max() keeps the first of equals: ties go to the member listed first.
            best = proposals[max(range(len(spec.agents)), key=lambda m: sure[m][j])][j]
            answers[i] += best.text
            if best.text and best.finish == "length":  # it neither ended nor ran dry: the next turn goes on
                still_open.append(i)
        open_rows, written = still_open, written + turn.max_new_tokens
    return answers


def answers_some(members: Members, agent: str, prompts: list[str], rows: list[int], answers: list[str],
                 options: GenerationOptions, system: str | None) -> None:
    """Fill answers[i] for each row i with the agent's answer to prompts[i]: one batched call, none if no row."""
    if rows:
        texts = members.generate(agent, [prompts[i] for i in rows], options, system)
        for i, text in zip(rows, texts, strict=True):
            answers[i] = text


def confidences(members: Members, agent: str, prompts: list[str], texts: list[str],
                system: str | None) -> list[float]:
    """The agent's mean token log-probability of each of its texts; -inf for an empty one (nothing said)."""
    return mean_tail_logprobs(members, agent, prompts, texts, [None] * len(texts), system)


def segment_confidences(members: Members, agent: str, prompts: list[str], begun: list[str],
                        proposals: list[Completion], system: str | None) -> list[float]:
    """The writer's mean log-probability of each proposed segment (the answer so far is context only)."""
    # The segment's tokens are the last ones of begun + text: all it generated but an end-of-sequence
    # token, which has no text (a stop string's tokens count, though they are cut from the text).
    tails = [p.num_tokens - (p.finish == "eos") for p in proposals]
    texts = [b + p.text if p.text else "" for b, p in zip(begun, proposals, strict=True)]
    return mean_tail_logprobs(members, agent, prompts, texts, tails, system)


def mean_tail_logprobs(members: Members, agent: str, prompts: list[str], texts: list[str],
                       tails: list[int | None], system: str | None) -> list[float]:
    """Mean log-probability of the last tails[i] tokens of texts[i] (all when None); -inf for an empty text."""
    rows = [i for i, text in enumerate(texts) if text]
    scores = [-math.inf] * len(texts)
    if rows:
        per_token = members.score(agent, [prompts[i] for i in rows], [texts[i] for i in rows], system)
        for i, logprobs in zip(rows, per_token, strict=True):
            kept = logprobs[-tails[i]:] if tails[i] else logprobs
            scores[i] = sum(kept) / len(kept)
    return scores
