"""The FlexOlmo config (`rayswarm flexolmo ...`): public model, owners, expert training, router, merge.

    name: flexolmo
    world: quick                        # the toy world whose corpora `toy:<domain>` data come from
    public: {model: toy, steps: 500}    # toy: train a tiny dense Olmo2; or an HF Olmo2 folder + corpus
    owners:
      codes: {data: "toy:codes"}        # or a JSONL corpus path (+ eval: a task, as in run configs)
    expert: {steps: 300, batch_size: 8}
    router: {embedder: minilm, samples: 200, tune_steps: 0}
    top_k: 2

Everything is validated by `load_flexolmo` before any model loads or any job starts. The config
also fixes the layout of its work folder (default runs/<name>/), so every verb finds what the
previous one wrote and an interrupted `train` resumes:

    public/           the toy public model (HF Olmo2);  router-public-<embedder>.pt  its router row
    data/<owner>.jsonl, data/public.jsonl   toy corpora, written once
    train/            Ray Train storage (each owner's checkpoints and run state)
    experts/<owner>/  trained 2-expert models;  merged/  the FlexOlmo checkpoint
    eval-<time>/      `eval`'s run directories (summary.json)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from rayswarm.agents.toyworld import DOMAINS
from rayswarm.agents.zoo import PRESETS
from rayswarm.clusters.flexolmo_train import ExpertJob
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.schema import StrictModel, did_you_mean, parse, read_yaml

TOY = "toy:"
NAME = r"^[A-Za-z0-9_.-]+$"


class PublicSpec(StrictModel):
    """The dense public model."""

    model: str = Field("toy", description="'toy' (train a tiny Olmo2 on the toy public corpus) or an Olmo2 folder")
    corpus: str | None = Field(None, description="public corpus (JSONL) for its router row; required unless toy")
    steps: int = Field(500, ge=1, description="toy: training steps")
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3e-3, gt=0)
    warmup: int = Field(20, ge=0)

    @model_validator(mode="after")
    def _corpus(self):
        if self.model != "toy" and self.corpus is None:
            raise ConfigError("public.corpus: required for a public model that is not 'toy'")
        return self


class OwnerSpec(StrictModel):
    data: str = Field(description="'toy:<domain>' or the owner's corpus file (JSONL)")
    eval: str | None = Field(None, description="task scored by `eval` (default for toy data: its domain's)")

    @field_validator("data")
    @classmethod
    def _toy_domain(cls, data: str) -> str:
        if data.startswith(TOY) and data[len(TOY):] not in DOMAINS:
            domain = data[len(TOY):]
            raise ConfigError(f"unknown toy domain '{domain}'{did_you_mean(domain, DOMAINS)}; known: {', '.join(DOMAINS)}")
        return data


class ExpertSpec(StrictModel):
    """Each owner's job (clusters/flexolmo_train.py)."""

    steps: int = Field(300, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(3e-3, gt=0)
    warmup: int = Field(10, ge=0)
    checkpoint_every: int = Field(100, ge=1)
    workers: int = Field(1, ge=1, description="data-parallel Ray Train workers per job; each takes a slice of "
                         "every batch (batch_size must be at least this) and gradients are averaged")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs each Ray Train worker reserves")

    @model_validator(mode="after")
    def _batch_splits(self):
        if self.workers > self.batch_size:
            raise ValueError(f"{self.workers} workers cannot split a batch of {self.batch_size}")
        return self


class RouterSpec(StrictModel):
    embedder: Literal["minilm", "public"] = "minilm"
    samples: int = Field(200, ge=1, description="documents embedded per domain")
    tune_steps: int = Field(0, ge=0, description="router tuning on proxy data after the merge (0: none)")
    tune_lr: float = Field(1e-3, gt=0)
    proxy_items: int = Field(64, ge=1, description="proxy items per owner (and public) for router tuning")


class EvalSpec(StrictModel):
    limit: int | None = Field(None, gt=0, description="score only the first N test examples per domain")


class FlexOlmoRun(StrictModel):
    name: str = Field(pattern=NAME)
    seed: int = 0
    world: str = Field("quick", description="toy world preset (agents/zoo.py) of toy corpora and tasks")
    workdir: str | None = Field(None, description="work folder (default runs/<name>)")
    items: int | None = Field(None, ge=1, description="items per toy corpus (default: steps × batch size)")
    public: PublicSpec = PublicSpec()
    owners: dict[str, OwnerSpec] = Field(min_length=1)
    expert: ExpertSpec = ExpertSpec()
    router: RouterSpec = RouterSpec()
    top_k: int = Field(2, ge=1, description="active experts per token in the merged model")
    eval: EvalSpec = EvalSpec()

    @field_validator("world")
    @classmethod
    def _world(cls, world: str) -> str:
        if world not in PRESETS:
            raise ConfigError(f"unknown toy world '{world}'{did_you_mean(world, PRESETS)}; known: {', '.join(PRESETS)}")
        return world

    @field_validator("owners")
    @classmethod
    def _owner_names(cls, owners: dict) -> dict:
        for owner in owners:
            if owner == "public" or not re.match(NAME, owner):
                raise ConfigError(f"owner name '{owner}' is reserved or not a plain name")
        return owners

    # -- the work folder
    @property
    def root(self) -> Path:
        return Path(self.workdir or Path("runs") / self.name)

    @property
    def public_dir(self) -> Path:
        """The toy public model is trained into the work folder; a given one stays where it is."""
        return self.root / "public" if self.public.model == "toy" else Path(self.public.model)

    @property
    def public_row(self) -> Path:
        return self.root / f"router-public-{self.router.embedder}.pt"

    @property
    def merged_dir(self) -> Path:
        return self.root / "merged"

    def expert_dir(self, owner: str) -> Path:
        return self.root / "experts" / owner

    def data_path(self, owner: str) -> Path:
        """The corpus file of an owner ('public' for the public corpus)."""
        if owner == "public":
            corpus = self.public.corpus
            return Path(corpus) if corpus and not corpus.startswith(TOY) else self.root / "data" / "public.jsonl"
        data = self.owners[owner].data
        return self.root / "data" / f"{owner}.jsonl" if data.startswith(TOY) else Path(data)

    def eval_task(self, owner: str) -> str | None:
        spec = self.owners[owner]
        if spec.eval:
            return spec.eval
        return f"toy:{self.world}/{spec.data[len(TOY):]}" if spec.data.startswith(TOY) else None

    def job(self, owner: str) -> ExpertJob:
        e = self.expert
        return ExpertJob(owner=owner, data=str(self.data_path(owner)), public=str(self.public_dir),
                         public_row=str(self.public_row),
                         output=str(self.expert_dir(owner)), storage=str(self.root / "train"),
                         embedder=self.router.embedder, router_samples=self.router.samples, steps=e.steps,
                         batch_size=e.batch_size, lr=e.lr, warmup=e.warmup, seed=self.seed,
                         checkpoint_every=e.checkpoint_every, workers=e.workers, cpus_per_worker=e.cpus_per_worker)

    def owners_named(self, names: list[str] | None) -> list[str]:
        """The owners a command names (default all); ConfigError for an unknown one."""
        for name in names or ():
            if name not in self.owners:
                raise ConfigError(f"unknown owner '{name}'{did_you_mean(name, self.owners)}; "
                                  f"known: {', '.join(self.owners)}")
        return list(names or self.owners)


def load_flexolmo(path: str) -> FlexOlmoRun:
    data, source = read_yaml(path)
    return parse(FlexOlmoRun, data, source=source)
