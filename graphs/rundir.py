"""The run directory: everything a run leaves behind, in one folder a script can read.

    <root>/<name>-<YYYYmmdd-HHMMSS>/
        config.yaml        the validated config, enough to rebuild the run
        log.jsonl          one JSON record per step (time-stamped)
        predictions.jsonl  one row per example
        summary.json       the final scores
        checkpoints/       what a resumed run starts from

It is created only after the config validated and the models loaded, so a bad input writes nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml


class RunDir:
    def __init__(self, root: str | Path, name: str):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(root) / f"{name}-{stamp}"
        suffix = 1
        while path.exists():  # two runs in the same second get distinct folders
            suffix += 1
            path = Path(root) / f"{name}-{stamp}-{suffix}"
        path.mkdir(parents=True)
        self.path = path

    @classmethod
    def existing(cls, path: str | Path) -> RunDir:
        """An existing run directory, to resume into; ConfigError if it is not one."""
        from rayswarm.graphs.errors import ConfigError

        path = Path(path)
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"{path}: not a run directory (no config.yaml)")
        run_dir = cls.__new__(cls)
        run_dir.path = path
        return run_dir

    def write_config(self, config: dict) -> Path:
        target = self.path / "config.yaml"
        target.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return target

    def log(self, **record) -> None:
        with (self.path / "log.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")

    def read_log(self) -> list[dict]:
        path = self.path / "log.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def write_jsonl(self, filename: str, rows) -> Path:
        return write_jsonl(self.path / filename, rows)

    def write_summary(self, summary: dict) -> Path:
        target = self.path / "summary.json"
        target.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return target

    @property
    def checkpoints(self) -> Path:
        path = self.path / "checkpoints"
        path.mkdir(exist_ok=True)
        return path


def write_jsonl(path: str | Path, rows) -> Path:
    """One JSON object per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
