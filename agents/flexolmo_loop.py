"""FlexOlmo's training loops, step by step so that a Ray Train job can checkpoint and resume them.

Two selections of trainable weights (algorithms.md §4):

- `expert_params`: an owner's expert FFN and router row. The whole FFN tensors and router matrix
  require grad, and a gradient hook zeroes the public half (FFN slot 0, router row 0), as FlexOlmo's
  FreezeTransformerTrainModule does; with weight decay 0, AdamW then leaves that half bit-identical,
  which `merge` checks.
- `router_params`: router tuning ("-RT"), every router matrix and nothing else.
- `joint_params`: the unrestricted baseline, an MoE trained on everybody's data at once: every
  expert and router row (the shared attention and embeddings stay the public model's, as for experts).

Batches, masking and the learning-rate schedule are the toy zoo's (agents/toytrain.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch

from rayswarm.agents.toydata import TrainItem
from rayswarm.agents.toytrain import IGNORE, TrainConfig, batches, collate, encode, lr_at


def expert_params(model) -> dict[str, torch.Tensor | None]:
    """name -> gradient mask (1 = train, 0 = frozen) of the owner's half of every MoE layer."""
    masks: dict[str, torch.Tensor | None] = {}
    for name, param in model.named_parameters():
        if ".mlp.experts." in name or name.endswith(".mlp.gate.weight"):
            mask = torch.ones_like(param)
            mask[0] = 0  # slot 0 / row 0: the public FFN and router row, the anchor
            masks[name] = mask
    return masks


def joint_params(model) -> dict[str, torch.Tensor | None]:
    """The jointly trained baseline's weights: every expert FFN and router row, no anchor frozen."""
    return {name: None for name, _ in model.named_parameters()
            if ".mlp.experts." in name or name.endswith(".mlp.gate.weight")}


def router_params(model) -> dict[str, torch.Tensor | None]:
    return {name: None for name, _ in model.named_parameters() if name.endswith(".mlp.gate.weight")}


class StepTrainer:
    """Train the selected parameters of `model` one step at a time; `state()` / `load_state()` resume it."""

    def __init__(self, model, tokenizer, items: Sequence[TrainItem], config: TrainConfig,
                 trainable: dict[str, torch.Tensor | None], shard: tuple[int, int] = (0, 1),
                 all_sum: Callable[[list[torch.Tensor]], None] | None = None):
        """shard = (rank, workers): this worker's rows of every batch, for data-parallel training;
        `all_sum` then sums a list of tensors across the workers, in place (torch.distributed's all-reduce)."""
        self.model, self.config, self.pad_id = model, config, tokenizer.pad_token_id
        self.rank, self.workers = shard
        if config.batch_size < self.workers:
            raise ValueError(f"a batch of {config.batch_size} cannot be split between {self.workers} workers")
        self.all_sum = all_sum
        self.rows = encode(items, tokenizer)
        self.plan = batches(self.rows, config.batch_size, config.steps, random.Random(f"rayswarm-batches-{config.seed}"))
        self.params = []
        for name, param in model.named_parameters():
            param.requires_grad_(name in trainable)
            if name in trainable:
                self.params.append(param)
                if trainable[name] is not None:
                    param.register_hook(lambda grad, mask=trainable[name]: grad * mask)
        # AdamW as in FlexOlmo's expert training: betas (0.9, 0.95), no weight decay (it would move
        # the frozen half too).
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, betas=(0.9, 0.95),
                                           weight_decay=config.weight_decay)
        self.step = 0

    @property
    def done(self) -> bool:
        return self.step >= self.config.steps

    def train_step(self) -> float:
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, self.config)
        # Every worker takes its slice of the one planned batch, so any number of workers trains on the
        # same examples in the same order (and resumes the same way); the gradients are averaged.
        batch = collate(self.rows, self.plan[self.step][self.rank::self.workers], self.pad_id)
        loss = self.model(**batch).loss
        if self.all_sum is None:
            loss.backward()
        else:  # the whole batch's token-mean gradient: each slice's token sum, summed, over all tokens
            tokens = (batch["labels"][:, 1:] != IGNORE).sum().float()
            (loss * tokens).backward()
            totals = torch.stack([tokens, loss.detach() * tokens])
            self.all_sum([param.grad for param in self.params] + [totals])
            for param in self.params:
                param.grad /= totals[0]
            loss = totals[1] / totals[0]
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.model.eval()
        return loss.item()

    def state(self) -> dict:
        return {"step": self.step, "optimizer": self.optimizer.state_dict()}

    def load_state(self, state: dict) -> None:
        self.step = state["step"]
        self.optimizer.load_state_dict(state["optimizer"])


def train_steps(trainer: StepTrainer) -> list[float]:
    """Run a trainer to its last step; the losses of the steps run."""
    losses = []
    while not trainer.done:
        losses.append(trainer.train_step())
    return losses


def tune_router(model, tokenizer, items: Sequence[TrainItem], config: TrainConfig) -> list[float]:
    """Router tuning on proxy data: only the routers move, experts and shared weights stay frozen."""
    return train_steps(StepTrainer(model, tokenizer, items, config, router_params(model)))


def train_public(items: Sequence[TrainItem], config: TrainConfig, **shape):
    """A tiny dense Olmo2 public model (agents/tiny.py), trained from scratch on the public corpus."""
    from rayswarm.agents.tiny import build_tiny_model
    from rayswarm.agents.tokenizer import build_char_tokenizer
    from rayswarm.agents.toytrain import train

    model = build_tiny_model("olmo2", seed=config.seed, **shape)
    losses = train(model, build_char_tokenizer(), items, config, desc="public", progress=False)
    return model, losses
