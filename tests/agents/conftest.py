"""Fixtures for the agents tests: tiny models built once per session, one torch thread."""
# ruff: noqa: E402  (the thread setting must precede the torch import)

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

from rayswarm.agents.agent import Agent
from rayswarm.agents.tiny import build_tiny_model
from rayswarm.agents.tokenizer import build_char_tokenizer

torch.set_num_threads(1)

# A larger init than the default makes untrained tiny models write varied text instead of one
# repeated token, so output comparisons in these tests can actually fail.
CHATTY = dict(initializer_range=0.3)


@pytest.fixture(scope="session")
def chatty_models():
    """Seeded, untrained, varied-output tiny models of both architectures (never mutated by tests)."""
    return {arch: build_tiny_model(arch, seed=0, **CHATTY).eval() for arch in ("llama", "olmo2")}


@pytest.fixture
def make_agent():
    """A fresh Agent on a fresh chatty tiny model, for tests that change weights or settings."""

    def make(architecture: str = "llama", seed: int = 0, **overrides) -> Agent:
        model = build_tiny_model(architecture, seed=seed, **{**CHATTY, **overrides}).eval()
        return Agent(model, build_char_tokenizer(), name=f"tiny-{architecture}")

    return make
