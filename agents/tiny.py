"""Tiny model configs in transformers' own Llama and Olmo2 architectures.

Sized for 2 CPU cores: ~0.86M parameters, trained in minutes with one torch thread. These are
ordinary HF models; nothing here is a rayswarm-specific architecture.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, Olmo2Config, PreTrainedModel

from rayswarm.agents.tokenizer import build_char_tokenizer
from rayswarm.graphs.errors import SourceError

ARCHITECTURES = {"llama": LlamaConfig, "olmo2": Olmo2Config}

# hidden 128 × 4 layers × SwiGLU 384 ≈ 0.86M parameters with a ~110-token vocabulary.
TINY_SHAPE = dict(
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=4,
    max_position_embeddings=512,
    tie_word_embeddings=True,
)


def tiny_config(architecture: str = "llama", **overrides):
    """A tiny config of the named architecture, matched to the offline character tokenizer."""
    if architecture not in ARCHITECTURES:
        raise SourceError(f"unknown tiny architecture '{architecture}'; known: {', '.join(ARCHITECTURES)}")
    tokenizer = build_char_tokenizer()
    shape = {**TINY_SHAPE, **overrides}
    return ARCHITECTURES[architecture](
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **shape,
    )


def build_tiny_model(architecture: str = "llama", seed: int = 0, **overrides) -> PreTrainedModel:
    """A freshly initialised tiny causal LM; the seed fixes its weights."""
    from transformers import AutoModelForCausalLM

    config = tiny_config(architecture, **overrides)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(config)


def save_tiny(model: PreTrainedModel, path: str | Path) -> Path:
    """Save a tiny model with its tokenizer as an ordinary HF folder."""
    path = Path(path)
    model.save_pretrained(path)
    build_char_tokenizer().save_pretrained(path)
    return path
