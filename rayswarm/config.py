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

from pydantic import Field, field_validator, model_validator

from rayswarm.agents.sources import check_source
from rayswarm.agents.tasksource import load_task_source
from rayswarm.graphs.errors import ConfigError, RayswarmError, SourceError
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.schema import StrictModel, parse, read_yaml
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tasks import Task, get_metric
from rayswarm.swarms.data_swarms import DataSwarmsSettings
from rayswarm.swarms.heterogeneous_swarms import HeterogeneousSwarmsSettings
from rayswarm.swarms.model_swarms import ModelSwarmsSettings
from rayswarm.swarms.weight_merging import WeightMergingSettings


class TaskConfig(StrictModel):
    """Which data a run scores on."""

    name: str = Field(description="'toy:<task>' (the toy world), a folder with dev/test.jsonl, or a .jsonl file")
    split: Literal["dev", "test"] = "dev"
    metric: str = Field("exact_match", description="exact_match, choice or token_f1")
    limit: int | None = Field(None, gt=0, description="score only the first N examples")
    test_limit: int | None = Field(None, gt=0, description="a swarm's final test table scores the first N test "
                                   "examples (default: `limit`); a large test set tells systems apart")

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

    @field_validator("task")
    @classmethod
    def _one_limit(cls, task: TaskConfig) -> TaskConfig:
        if task.test_limit is not None:
            raise ValueError("`test_limit` is for swarm runs (their final test table); a graph run scores "
                             "`split` with `limit`")
        return task

    def load_task(self, split: str | None = None, limit: int | None = None) -> Task:
        t = self.task
        return load_task_source(t.name, split or t.split, t.metric, limit or t.limit)


class SwarmConfig(StrictModel):
    """One swarm run: experts, a task (searched on dev, reported on dev and test) and the method's settings."""

    name: str = Field("swarm", pattern=r"^[A-Za-z0-9_.-]+$", description="names the run directory")
    seed: int = Field(0, description="seeds the swarm (crossover, PSO draws)")
    method: Literal["model_swarms", "heterogeneous_swarms", "weight_merging", "data_swarms"] = "model_swarms"
    task: TaskConfig
    experts: dict[str, AgentSpec] = Field(min_length=2, description="LoRA experts on one base model")
    model_swarms: ModelSwarmsSettings = Field(default_factory=ModelSwarmsSettings)
    heterogeneous_swarms: HeterogeneousSwarmsSettings = Field(default_factory=HeterogeneousSwarmsSettings)
    weight_merging: WeightMergingSettings = Field(default_factory=WeightMergingSettings)
    data_swarms: DataSwarmsSettings | None = Field(
        None, description="method data_swarms: the experts are the generators; takers, judge, objective here")

    _task_shorthand = field_validator("task", mode="before")(RunConfig._task_shorthand.__func__)

    @field_validator("task")
    @classmethod
    def _search_on_dev(cls, task: TaskConfig) -> TaskConfig:
        if task.split != "dev":
            raise ValueError("a swarm searches on dev and reports test at the end: leave `split` at dev")
        return task

    @field_validator("weight_merging")
    @classmethod
    def _merge_names_experts(cls, settings: WeightMergingSettings, info) -> WeightMergingSettings:
        if "experts" in info.data:
            settings.check_experts(list(info.data["experts"]))
        return settings

    @model_validator(mode="after")
    def _data_swarms_ready(self):
        if self.method == "data_swarms" and self.data_swarms is None:
            raise ValueError("method data_swarms needs a `data_swarms:` section (its takers at least)")
        if self.method == "data_swarms" and self.task.metric == "choice":
            raise ValueError("generated items have no choices: data swarms score with exact_match or token_f1")
        return self

    def settings(self) -> ModelSwarmsSettings | HeterogeneousSwarmsSettings | WeightMergingSettings | DataSwarmsSettings:
        """The chosen method's settings, every PSO seeded from the run's seed."""
        settings = getattr(self, self.method)
        seeded = {name: getattr(settings, name).model_copy(update={"seed": self.seed + k})
                  for k, name in enumerate(("pso", "graph_pso", "model_pso")) if hasattr(settings, name)}
        return settings.model_copy(update=seeded)

    def load_task(self, split: str) -> Task:
        t = self.task
        limit = t.test_limit if split == "test" and t.test_limit else t.limit
        return load_task_source(t.name, split, t.metric, limit)


def check_agents(agents: dict[str, AgentSpec], source: str) -> None:
    """Every agent's model source and adapter path, checked without loading anything."""
    for name, spec in agents.items():
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
    check_agents(config.graph.agents, str(path))
    config.load_task()  # fails now on a missing, malformed or empty dataset
    for name, ensemble in config.graph.ensembles.items():
        if getattr(ensemble, "train_task", None):  # a trained router reads its dev split once models are up
            try:
                load_task_source(ensemble.train_task, "dev", config.task.metric, ensemble.train_limit)
            except RayswarmError as err:
                raise ConfigError(f"{path}: ensemble '{name}': train_task: {err}") from None
    return config


def load_swarm_config(path: str | Path) -> SwarmConfig:
    """Read and fully validate a swarm config (both splits' data included), loading no model."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such config file")
    data, source = read_yaml(Path(path))
    config = parse(SwarmConfig, data, source=source)
    check_agents(config.experts, str(path))
    if config.method == "data_swarms":  # the test takers and the judge are agents too
        check_agents(config.data_swarms.agents(), str(path))
    for split in ("dev", "test"):
        config.load_task(split)
    return config


def config_kind(data: Any) -> str:
    """Which command a config YAML is for: the key only that kind has decides."""
    if isinstance(data, dict):
        for key, kind in (("experts", "swarm"), ("recipe", "train"), ("owners", "flexolmo")):
            if key in data:
                return kind
    return "run"


def load_any_config(path: str | Path, kinds: tuple[str, ...] = ("run", "swarm")):
    """(kind, validated config) for a run, swarm, train (ParaPO/PIC) or FlexOlmo config."""
    kind = config_kind(read_yaml(Path(path))[0]) if Path(path).is_file() else "run"
    if kind not in kinds:
        raise ConfigError(f"{path}: a {kind} config; this command takes {' or '.join(kinds)} configs")
    if kind == "swarm":
        return kind, load_swarm_config(path)
    if kind == "train":
        from rayswarm.train_config import load_train_config  # it imports this module

        return kind, load_train_config(path)
    if kind == "flexolmo":
        from rayswarm.flexolmo_config import load_flexolmo

        return kind, load_flexolmo(str(path))
    return kind, load_config(path)
