"""Reading JSONL data files with errors that name the file and the line.

Every data file rayswarm reads (tasks, preference pairs, PIC items, corpora) is one JSON value per
line. `jsonl_rows` does the reading and the JSON parsing once, so every reader reports a missing
file, a non-JSON line and an empty file the same way, and only checks its own fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rayswarm.graphs.errors import DataError


def jsonl_rows(path: str | Path, what: str) -> list[tuple[str, Any]]:
    """(location "file:line", value) for every non-blank line; DataError on a missing file, a bad
    line or no rows at all. `what` names the contents in the messages ("task file", "pairs", ...)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such {what} file")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: not valid JSON ({err.msg})") from None
    if not rows:
        raise DataError(f"{path}: the {what} file is empty")
    return rows
