"""One cache directory for everything rayswarm builds: toy models, converted checkpoints, datasets.

Keyed by content hash, so it is always safe to delete. RAYSWARM_CACHE overrides the location.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """`$RAYSWARM_CACHE/<parts...>` (default ~/.cache/rayswarm), created on demand."""
    root = Path(os.environ.get("RAYSWARM_CACHE") or Path.home() / ".cache" / "rayswarm")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_hash(obj, length: int = 12) -> str:
    """A short stable hash of any JSON-serialisable object (dict key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
