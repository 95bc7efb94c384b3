"""Preference pairs on disk: one JSON object per line, `{"prompt", "chosen", "rejected"}`.

This is the format TRL's DPOTrainer reads (an explicit prompt column, plain text, no chat
messages). ParaPO's pairs are prompt-less; their prompt is the BOS token (see `bos_prompt`), so
the first token of each completion is scored too. `read_pairs` validates a whole file before any
training starts and names the file and line of the first problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rayswarm.graphs.errors import DataError
from rayswarm.graphs.jsonl import jsonl_rows
from rayswarm.graphs.rundir import write_jsonl

FIELDS = ("prompt", "chosen", "rejected")


def check_pair(row, where: str) -> dict[str, str]:
    """A valid pair (prompt may be missing → ""), or DataError naming `where`."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object with chosen and rejected, got {type(row).__name__}")
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise DataError(f"{where}: unknown key '{unknown[0]}' (a pair has {', '.join(FIELDS)})")
    for key in FIELDS:
        value = row.get(key, "" if key == "prompt" else None)
        if not isinstance(value, str):
            problem = "missing" if value is None else f"a {type(value).__name__}, not text"
            raise DataError(f"{where}: '{key}' is {problem}")
        if key != "prompt" and not value.strip():
            raise DataError(f"{where}: '{key}' is empty")
    if row["chosen"] == row["rejected"]:
        raise DataError(f"{where}: chosen and rejected are the same text")
    return {"prompt": row.get("prompt", ""), "chosen": row["chosen"], "rejected": row["rejected"]}


def read_pairs(path: str | Path) -> list[dict[str, str]]:
    """Every pair of a JSONL file; DataError '<file>:<line>: …' on the first bad line, or if there are none."""
    return [check_pair(row, where) for where, row in jsonl_rows(path, "pairs")]


def write_pairs(path: str | Path, pairs: Iterable[dict[str, str]]) -> Path:
    return write_jsonl(path, ({key: pair[key] for key in FIELDS} for pair in pairs))


def bos_prompt(tokenizer) -> str:
    """What starts a raw text: "" if the tokenizer adds its own BOS, else its BOS token (else EOS).

    The prompt of a prompt-less pair, and of a mining probe: with an empty prompt and no BOS, the
    first completion token would have nothing to be predicted from and would go unscored.
    """
    if tokenizer("", add_special_tokens=True)["input_ids"]:
        return ""
    return tokenizer.bos_token or tokenizer.eos_token or ""
