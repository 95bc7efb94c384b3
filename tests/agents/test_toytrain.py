"""The zoo's training loop: an interrupted run resumes from its checkpoint to the same weights."""

import pytest
import torch

from rayswarm.agents import toytrain
from rayswarm.agents.tiny import build_tiny_model
from rayswarm.agents.tokenizer import build_char_tokenizer
from rayswarm.agents.toydata import expert_items
from rayswarm.agents.toytrain import TrainConfig, train
from rayswarm.agents.toyworld import WorldConfig, make_world
from rayswarm.agents.weights import add_lora

CONFIG = TrainConfig(steps=6, batch_size=4, warmup=1)
SHAPE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2)


def fresh():
    return add_lora(build_tiny_model("llama", seed=0, **SHAPE), r=4, alpha=8, seed=0)


def trained(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def test_an_interrupted_training_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    tokenizer = build_char_tokenizer()
    items = expert_items(make_world(WorldConfig(seed=0, countries=8)), "codes", 24, 0)
    straight = fresh()
    straight_losses = train(straight, tokenizer, items, CONFIG, progress=False)

    real, calls = toytrain.collate, []

    def interrupted(*args):  # Ctrl-C while the fifth batch is built: steps 0-3 done, a checkpoint at 4
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args)

    checkpoint = tmp_path / "train.ckpt"
    monkeypatch.setattr(toytrain, "collate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(fresh(), tokenizer, items, CONFIG, progress=False, checkpoint=checkpoint, every=2)
    monkeypatch.setattr(toytrain, "collate", real)
    assert len(torch.load(checkpoint)["losses"]) == 4

    resumed = fresh()
    calls.clear()
    monkeypatch.setattr(toytrain, "collate", lambda *args: calls.append(1) or real(*args))
    losses = train(resumed, tokenizer, items, CONFIG, progress=False, checkpoint=checkpoint, every=2)
    assert len(calls) == 2, "only the two steps left ran"
    assert losses == straight_losses
    want, got = trained(straight), trained(resumed)
    assert want.keys() == got.keys() and all(torch.equal(want[name], got[name]) for name in want)
