"""rayswarm: many LLMs collaborating as one system, optimized by swarms, on Ray.

The layers install as subpackages: rayswarm.graphs, rayswarm.agents, rayswarm.actors,
rayswarm.swarms, rayswarm.clusters. Importing any of them imports this file first, so it stays
light: public names resolve lazily on first use (no torch or Ray at `import rayswarm`).
"""

from __future__ import annotations

import importlib
import os

__version__ = "0.1.0"

# In a source checkout the layers sit beside this folder (graphs/, agents/, ...), not inside it: only
# an install maps them under rayswarm. So that the checkout also runs as it is (`ray job submit
# --working-dir .` onto nodes that have only the dependencies), search its root for subpackages too.
# An installed rayswarm holds graphs/ itself and is left alone.
_checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.path.isdir(os.path.join(__path__[0], "graphs")) and os.path.isfile(
        os.path.join(_checkout, "graphs", "__init__.py")):
    __path__.append(_checkout)

# public name -> module that defines it
_LAZY = {
    "RayswarmError": "rayswarm.graphs.errors",
    "ConfigError": "rayswarm.graphs.errors",
    "AgentSpec": "rayswarm.graphs.spec",
    "GenerationOptions": "rayswarm.graphs.spec",
    "BudgetForcing": "rayswarm.graphs.spec",
    "Task": "rayswarm.graphs.tasks",
    "load_task": "rayswarm.graphs.tasks",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rayswarm' has no attribute {name!r}")
