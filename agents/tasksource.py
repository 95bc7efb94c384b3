"""Task names as configs write them: `toy:<task>` for the toy world, or a path to JSONL data."""

from __future__ import annotations

from pathlib import Path

from rayswarm.graphs.tasks import Task, load_task

TOY_PREFIX = "toy:"


def task_path(name: str) -> Path:
    """The folder or file holding a task's splits. Toy tasks are generated on demand (no training)."""
    if name.startswith(TOY_PREFIX):
        from rayswarm.agents.zoo import task_dir

        return task_dir(name[len(TOY_PREFIX):])
    return Path(name)


def load_task_source(name: str, split: str = "dev", metric: str = "exact_match", limit: int | None = None) -> Task:
    task = load_task(task_path(name), split=split, metric=metric, limit=limit)
    task.name = name
    return task
