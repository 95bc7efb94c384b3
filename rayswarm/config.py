"""The run config: a graph, a task and a seed, validated in full before anything loads.

    name: chain
    seed: 0
    task: toy:mixed                    # or {name: ..., split: dev, metric: exact_match, limit: 200}
    graph:
      agents: {codes: {model: "tiny:codes"}, capitals: {model: "tiny:capitals"}}
      nodes: [{name: first, agent: codes}, {name: second, agent: capitals}]
      edges: ["first -> second"]

`load_config` reads and validates it: the YAML itself, every key (with a did-you-mean), the
graph (cycles, unknown agents, template fields), every model source and adapter path, and the
task's data. Only then may a caller load a model or create a run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from rayswarm.agents.sources import check_source
from rayswarm.agents.tasksource import load_task_source
from rayswarm.graphs.errors import ConfigError, SourceError
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.schema import StrictModel, parse, read_yaml
from rayswarm.graphs.tasks import Task, get_metric


class TaskConfig(StrictModel):
    """Which data a run scores on."""

    name: str = Field(description="'toy:<task>' (the toy world), a folder with dev/test.jsonl, or a .jsonl file")
    split: Literal["dev", "test"] = "dev"
    metric: str = Field("exact_match", description="exact_match, choice or token_f1")
    limit: int | None = Field(None, gt=0, description="score only the first N examples")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        get_metric(metric)
        return metric


class RunConfig(StrictModel):
    """One graph run over one task."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$", description="names the run directory")
    seed: int = Field(0, description="every random draw of the run derives from it")
    task: TaskConfig
    graph: Graph

    @field_validator("task", mode="before")
    @classmethod
    def _task_shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    def load_task(self, split: str | None = None, limit: int | None = None) -> Task:
        t = self.task
        return load_task_source(t.name, split or t.split, t.metric, limit or t.limit)


def check_agents(graph: Graph, source: str) -> None:
    """Every agent's model source and adapter path, checked without loading anything."""
    for name, spec in graph.agents.items():
        try:
            check_source(spec.model)
        except SourceError as err:
            raise SourceError(f"{source}: agent '{name}': {err}") from None
        if spec.adapter is not None and not (Path(spec.adapter) / "adapter_config.json").is_file():
            raise SourceError(f"{source}: agent '{name}': no PEFT adapter at '{spec.adapter}'")


def load_config(path: str | Path) -> RunConfig:
    """Read and fully validate a run config (data included), loading no model."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such config file")
    data, source = read_yaml(Path(path))
    config = parse(RunConfig, data, source=source)
    check_agents(config.graph, str(path))
    config.load_task()  # fails now on a missing, malformed or empty dataset
    return config
