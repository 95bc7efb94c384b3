"""Batched decoding for Agent: left padding, per-row token caps, stop strings, finish reasons.

`decode_rows` runs one `model.generate` call over a batch of token rows and reports, per row, how
many tokens the model generated and why it stopped. Knowing *why* matters to budget forcing: a
thinking round that ended on its own delimiter is extended with "Wait", one that hit its cap is not.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.stopping_criteria import StopStringCriteria

from rayswarm.graphs.spec import GenerationOptions


@dataclass(frozen=True)
class Completion:
    """One row's new text (special tokens dropped, cut before the first stop string) and its accounting."""

    text: str
    num_tokens: int  # tokens generated, up to and including the one that finished the row
    finish: str  # "stop" (a stop string), "eos" (an end-of-sequence token) or "length" (its cap)


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows → (ids, attention mask), right-aligned so that every row's next token is at the end."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that start at 0 on each row's first real token, so padding does not shift RoPE."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def length_sorted_batches(lengths: list[int], size: int) -> list[list[int]]:
    """Row indices grouped into batches of similar length (less padding); callers restore the order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[start : start + size] for start in range(0, len(order), size)]


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device):
    """Fix torch's RNG for one call and restore it afterwards; no-op without a seed."""
    if seed is None:
        yield
        return
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def eos_token_ids(model, tokenizer) -> list[int]:
    """Every id that ends a turn: the model's generation config may list several (e.g. <|eot_id|>)."""
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return sorted(set(ids))


class FinishTracker(StoppingCriteria):
    """Stops each row at its own cap, a stop string or EOS, and records when and why it stopped.

    Stop strings are matched on the generated tokens only, so a prompt that happens to end like a
    stop string cannot stop a row before it has generated anything.
    """

    def __init__(
        self, prompt_width: int, caps: list[int], eos_ids: list[int], stop: StopStringCriteria | None
    ):
        self.prompt_width = prompt_width
        self.caps = torch.tensor(caps)
        self.eos_ids = torch.tensor(eos_ids, dtype=torch.long)
        self.stop = stop
        self.lengths = torch.zeros(len(caps), dtype=torch.long)  # 0 = still running
        self.finish = ["length"] * len(caps)

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_width :].cpu()
        eos = torch.isin(new[:, -1], self.eos_ids)
        stop = self.stop(new, scores) if self.stop is not None else torch.zeros_like(eos)
        done = eos | stop | (new.shape[1] >= self.caps)
        for row in (done & (self.lengths == 0)).nonzero().flatten().tolist():
            self.lengths[row] = new.shape[1]
            self.finish[row] = "eos" if eos[row] else "stop" if stop[row] else "length"
        return (self.lengths > 0).to(input_ids.device)


def sampling_kwargs(options: GenerationOptions) -> dict:
    """generate() kwargs for the options' decoding; explicit, so a model's own defaults cannot leak in."""
    if options.temperature == 0:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": options.temperature, "top_p": options.top_p, "top_k": 0}


def decode_rows(
    model,
    tokenizer,
    rows: list[list[int]],
    caps: list[int],
    options: GenerationOptions,
    stop: list[str],
    min_one_token: bool = False,
    adapter_names: list[str] | None = None,
    streamer=None,
) -> list[Completion]:
    """Generate after each token row, row i for at most caps[i] tokens, stopping early on stop/EOS.

    min_one_token bans EOS and single-token stop strings at the first step (s1's `min_tokens=1`), so
    a thinking round always makes progress. adapter_names (a PEFT model only) runs row i with LoRA
    adapter adapter_names[i]: many adapters in one batch ("__base__" = none). streamer (one row
    only): a transformers streamer that receives the tokens as they come (agents/streaming.py).
    """
    ids, mask = left_pad(rows, tokenizer.pad_token_id)
    eos_ids = eos_token_ids(model, tokenizer)
    stop_criterion = StopStringCriteria(tokenizer, stop) if stop else None
    tracker = FinishTracker(ids.shape[1], caps, eos_ids, stop_criterion)
    bans = eos_ids + _single_token_ids(tokenizer, stop) if min_one_token else None
    out = model.generate(
        input_ids=ids.to(model.device),
        attention_mask=mask.to(model.device),
        max_new_tokens=max(caps),
        stopping_criteria=StoppingCriteriaList([tracker]),
        begin_suppress_tokens=bans,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
        **({"adapter_names": adapter_names} if adapter_names is not None else {}),
        **({"streamer": streamer} if streamer is not None else {}),
        **sampling_kwargs(options),
    )
    new = out[:, ids.shape[1] :].cpu()
    completions = []
    for row, length, finish in zip(new, tracker.lengths.tolist(), tracker.finish, strict=True):
        tokens = row[:length]
        text = cut_at_stop(tokenizer.decode(tokens, skip_special_tokens=True), stop)
        completions.append(Completion(text, len(tokens), finish))
    return completions


def cut_at_stop(text: str, stop: list[str]) -> str:
    """The text before the earliest stop string (the whole text when none occurs)."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut]


def _single_token_ids(tokenizer, strings: list[str]) -> list[int]:
    ids = [tokenizer.encode(s, add_special_tokens=False) for s in strings]
    return [only[0] for only in ids if len(only) == 1]
