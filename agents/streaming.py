"""Token streaming: one prompt's answer, piece by piece while it is generated (Serve's `stream: true`).

`model.generate` runs in a thread and pushes decoded text into transformers' TextIteratorStreamer.
What comes out joins to exactly what Agent.generate returns for the same options: text that could
still turn out to be the start of a stop string is held back until it cannot (or is cut there), and
the finished completion has the last word, so a final piece makes up any difference.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import torch
from transformers import TextIteratorStreamer

from rayswarm.agents.agent import Agent
from rayswarm.agents.decoding import decode_rows, seeded
from rayswarm.graphs.spec import GenerationOptions


def settled(text: str, stop: list[str]) -> str:
    """The part of `text` no stop string can change any more: cut at a stop string, or without the
    longest tail that is the beginning of one."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    if cut >= 0:
        return text[:cut]
    held = max((k for s in stop for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
    return text[: len(text) - held]


def stream_answer(agent: Agent, prompt: str, options: GenerationOptions | None = None,
                  system: str | None = None) -> Iterator[str]:
    """The agent's answer to one prompt as it is generated; budget forcing arrives as one piece."""
    options = agent.options(options)
    if options.budget is not None:  # thinking rounds are cut and forced: only the end result is an answer
        yield agent.generate([prompt], options, system)[0]
        return
    texts, chat = agent._render_all([prompt], system, options)
    row = agent._encode(texts, add_special_tokens=not chat)[0]
    streamer = TextIteratorStreamer(agent.tokenizer, skip_prompt=True, skip_special_tokens=True)
    done: dict = {}

    def work() -> None:
        try:
            with torch.no_grad(), seeded(options.seed, agent.device):
                done["completion"] = decode_rows(agent.model_for(options), agent.tokenizer, [row], [options.max_new_tokens],
                                                 options, options.stop, streamer=streamer)[0]
        except BaseException as err:  # re-raised in the caller's thread below
            done["error"] = err
            streamer.end()

    thread = threading.Thread(target=work, name="stream", daemon=True)
    thread.start()
    sent, text = "", ""
    for piece in streamer:
        text += piece
        ready = settled(text, options.stop)
        if len(ready) > len(sent) and ready.startswith(sent):
            yield ready[len(sent):]
            sent = ready
    thread.join()
    if "error" in done:
        raise done["error"]
    completion = done["completion"]
    agent.tokens_generated += completion.num_tokens
    if completion.text.startswith(sent) and len(completion.text) > len(sent):
        yield completion.text[len(sent):]
