"""The toy zoo's training loop: causal-LM training with label masks, for full models and LoRA.

Chat items are rendered with the tokenizer's own chat template, the very text `Agent` produces at
inference, and only the assistant's target carries loss (its end-of-sequence token too when the
item is complete). Raw items (passages) carry loss on every token. Training runs a fixed number of
steps, never a time budget, so a build is reproducible; with a checkpoint file it also resumes, after
an interruption, to the very weights of an uninterrupted run (hours count on a CPU with a real base).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from rayswarm.agents.toydata import TrainItem

IGNORE = -100


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 30
    final_lr: float = 0.1  # cosine decay to this share of lr
    weight_decay: float = 0.0
    seed: int = 0


def encode(items: Sequence[TrainItem], tokenizer) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per item; the prompt part of a chat item is masked out of the loss."""
    chats = [item for item in items if item.prompt is not None]
    prompts = tokenizer.apply_chat_template(
        [[{"role": "user", "content": item.prompt}] for item in chats], tokenize=False, add_generation_prompt=True
    ) if chats else []
    if chats:
        # The training text is exactly the template's text for the full conversation.
        first = next((i for i, item in enumerate(chats) if item.complete), None)
        if first is not None:
            full = tokenizer.apply_chat_template(
                [{"role": "user", "content": chats[first].prompt},
                 {"role": "assistant", "content": chats[first].target}], tokenize=False)
            # Some templates add text after the end-of-sequence token (SmolLM2: a newline); the model
            # stops at that token, so training ends there too.
            head = prompts[first] + chats[first].target + tokenizer.eos_token
            assert full.startswith(head), f"chat template mismatch: {full!r} does not start with {head!r}"
    prompt_ids = iter(tokenizer(prompts, add_special_tokens=False)["input_ids"]) if prompts else iter(())
    target_ids = tokenizer([item.target for item in items], add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    rows = []
    for item, target in zip(items, target_ids, strict=True):
        head = next(prompt_ids) if item.prompt is not None else []
        tail = target + ([eos] if item.complete else [])
        rows.append((head + tail, [IGNORE] * len(head) + tail))
    return rows


def batches(rows: list, batch_size: int, steps: int, rng: random.Random) -> list[list[int]]:
    """`steps` batches of row indices; rows of similar length go together, in a shuffled order."""
    out: list[list[int]] = []
    while len(out) < steps:
        order = list(range(len(rows)))
        rng.shuffle(order)
        group = batch_size * 16
        epoch = []
        for start in range(0, len(order), group):
            chunk = sorted(order[start : start + group], key=lambda i: len(rows[i][0]))
            epoch += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
        rng.shuffle(epoch)
        out += [b for b in epoch if len(b) == batch_size] or epoch
    return out[:steps]


def collate(rows: list, indices: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(rows[i][0]) for i in indices)
    ids = torch.full((len(indices), width), pad_id, dtype=torch.long)
    labels = torch.full((len(indices), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(indices), width), dtype=torch.long)
    for row, i in enumerate(indices):
        tokens, targets = rows[i]
        ids[row, : len(tokens)] = torch.tensor(tokens)
        labels[row, : len(tokens)] = torch.tensor(targets)
        mask[row, : len(tokens)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def lr_at(step: int, config: TrainConfig) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (config.final_lr + (1 - config.final_lr) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model, tokenizer, items: Sequence[TrainItem], config: TrainConfig, desc: str = "train",
          progress: bool = True, checkpoint: Path | None = None, every: int = 100) -> list[float]:
    """Train the model's trainable parameters in place; returns the loss of every step.

    checkpoint: a file the loop writes every `every` steps (trainable weights, optimizer state,
    losses so far) and resumes from when it exists; the caller deletes it once the result is saved.
    The data order follows from the seed and training draws no random numbers, so a resumed run ends
    with the same weights as an uninterrupted one.
    """
    rows = encode(items, tokenizer)
    plan = batches(rows, config.batch_size, config.steps, random.Random(f"rayswarm-batches-{config.seed}"))
    named = {name: p for name, p in model.named_parameters() if p.requires_grad}
    params = list(named.values())
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=(0.9, 0.98), weight_decay=config.weight_decay)
    device = next(model.parameters()).device
    losses: list[float] = []
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device)
        with torch.no_grad():
            for name, param in named.items():
                param.copy_(state["weights"][name])
        optimizer.load_state_dict(state["optimizer"])
        losses = state["losses"]
    model.train()
    start = len(losses)
    bar = tqdm(plan[start:], desc=desc, disable=not progress, leave=False, mininterval=2.0, initial=start,
               total=len(plan))
    for step, indices in enumerate(bar, start):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        batch = collate(rows, indices, tokenizer.pad_token_id)
        loss = model(**{key: value.to(device) for key, value in batch.items()}).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
        if checkpoint is not None and (step + 1) % every == 0 and step + 1 < len(plan):
            _save(checkpoint, {"weights": {name: p.detach() for name, p in named.items()},
                               "optimizer": optimizer.state_dict(), "losses": losses})
    model.eval()
    return losses


def _save(path: Path, state: dict) -> None:
    """Written beside, then renamed: an interruption mid-write leaves the previous checkpoint whole."""
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)

