"""FlexOlmo's data: owners' corpora as JSONL files, and the toy world's public and domain corpora.

A corpus file has one JSON object per line, either a chat item {"prompt": ..., "target": ...,
"complete": true} (loss on the target only, as agents/toytrain.py trains) or raw text {"text": ...}.
Each data owner's job reads exactly one such file: its own.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from rayswarm.agents.toydata import TrainItem, base_items, expert_items
from rayswarm.agents.toyworld import DOMAINS, make_world
from rayswarm.graphs.errors import DataError
from rayswarm.graphs.jsonl import jsonl_rows

PUBLIC_CORPUS = "public"


def read_corpus(path: str | Path) -> list[TrainItem]:
    """The items of a corpus file; DataError (one line) when it is missing, empty or malformed."""
    items = []
    for where, row in jsonl_rows(path, "corpus"):
        try:
            items.append(TrainItem(None, row["text"]) if "text" in row
                         else TrainItem(row["prompt"], row["target"], row.get("complete", True)))
        except (KeyError, TypeError):
            raise DataError(f"{where}: expected {{\"text\"}} or {{\"prompt\", \"target\"}}") from None
    return items


def write_corpus(path: str | Path, items: Sequence[TrainItem]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"text": i.target} if i.prompt is None else {"prompt": i.prompt, "target": i.target,
                                                          "complete": i.complete} for i in items]
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    tmp.replace(path)
    return path


def document(item: TrainItem) -> str:
    """An item as one document, for embedding (router rows)."""
    return item.target if item.prompt is None else f"{item.prompt}\n{item.target}"


def sample_documents(items: Sequence[TrainItem], count: int, seed: int = 0) -> list[str]:
    """`count` documents drawn without replacement (all of them when fewer), reproducibly."""
    chosen = random.Random(f"rayswarm-flexolmo-sample-{seed}").sample(list(items), min(count, len(items)))
    return [document(item) for item in chosen]


def toy_corpus(world_config, domain: str, items: int, seed: int = 0) -> list[TrainItem]:
    """The toy world's public corpus (`public`) or one domain's: what the zoo's base / experts train on."""
    world = make_world(world_config)
    if domain == PUBLIC_CORPUS:
        return base_items(world, items, seed)
    if domain not in DOMAINS:
        raise DataError(f"unknown toy domain '{domain}'; known: {', '.join(DOMAINS)}")
    return expert_items(world, domain, items, seed)
