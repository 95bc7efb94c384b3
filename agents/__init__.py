"""rayswarm.agents: one model + tokenizer as an Agent; model sources; weights as a vector.

Importing this package stays light (no torch): the main names resolve lazily on first use.
"""

from __future__ import annotations

import importlib

# public name -> module that defines it
_LAZY = {
    "Agent": "rayswarm.agents.agent",
    "BudgetResult": "rayswarm.agents.budget",
    "Completion": "rayswarm.agents.decoding",
    "ResolvedSource": "rayswarm.agents.sources",
    "check_source": "rayswarm.agents.sources",
    "resolve_source": "rayswarm.agents.sources",
    "ParameterVector": "rayswarm.agents.weights",
    "VectorSpec": "rayswarm.agents.weights",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rayswarm.agents' has no attribute {name!r}")
