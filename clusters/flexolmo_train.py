"""One data owner's FlexOlmo expert, trained as a Ray Train job (TorchTrainer), resumable.

    folder = run_expert_job(ExpertJob(owner="codes", data="owners/codes.jsonl", public="public/", ...))

The job (algorithms.md §4, "coordinated" training):
- builds the 2-expert MoE (frozen public FFN + the owner's copy of it), its router rows the public
  embedding (computed once, the same file for every owner) and the mean embedding of a sample of the owner's data;
- trains the owner's FFN and router row; attention, embeddings, norms and the public half stay frozen;
- reads one data path, its owner's: the job's config, the only thing its workers receive, names no
  other owner's data, so owners' jobs are independent and run in any order, at any time, anywhere;
- trains data-parallel on `workers` Ray Train workers if asked: each takes its slice of every
  planned batch and the gradients are summed over workers and divided by the batch's tokens
  (torch.distributed, gloo on CPUs), so the job takes the same steps whatever its worker count;
- reports a checkpoint through `ray.train.report` every `checkpoint_every` steps. Running the same
  job again (same storage and owner) restores Ray Train's run state, and `ray.train.get_checkpoint`
  hands the worker the latest checkpoint: it continues from that step with the optimizer's state.

A checkpoint is an ordinary HF folder of the 2-expert model plus train_state.pt (step, optimizer);
the final one, exported to `output` with flexolmo.json, is what `merge` reads.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from pydantic import Field, field_validator

from rayswarm.graphs.errors import DataError
from rayswarm.graphs.schema import StrictModel

TRAIN_STATE = "train_state.pt"


class ExpertJob(StrictModel):
    """Everything one owner's job needs; plain data, sent to its workers as train_loop_config."""

    owner: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    data: str = Field(description="the owner's corpus file (JSONL); the only data this job reads")
    public: str = Field(description="the public model's folder (HF Olmo2)")
    public_row: str = Field(description="the public router row (a torch-saved [H] tensor, same for all owners)")
    output: str = Field(description="folder the trained expert is exported to")
    storage: str = Field(description="Ray Train storage path (checkpoints, run state)")
    embedder: str = "minilm"
    router_samples: int = Field(200, ge=1)
    steps: int = Field(300, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(3e-3, gt=0)
    warmup: int = Field(10, ge=0)
    seed: int = 0
    checkpoint_every: int = Field(100, ge=1)
    stop_after: int | None = Field(None, ge=1, description="end this run after this step; run again to resume")
    workers: int = Field(1, ge=1, description="data-parallel Ray Train workers, each a slice of every batch")
    cpus_per_worker: float = Field(1.0, gt=0)

    @field_validator("workers")
    @classmethod
    def _batch_splits(cls, workers: int, info) -> int:
        if workers > info.data.get("batch_size", workers):
            raise ValueError(f"{workers} workers cannot split a batch of {info.data['batch_size']}")
        return workers

    @field_validator("data", "public", "public_row", "output", "storage")
    @classmethod
    def _absolute(cls, path: str) -> str:
        # Ray Train workers do not run in the driver's working directory.
        return str(Path(path).resolve())

    def check(self) -> None:
        """One-line errors for what would only fail inside the job: called before it starts."""
        if not Path(self.data).is_file():
            raise DataError(f"owner '{self.owner}': no data at {self.data}")
        if not Path(self.public_row).is_file():
            raise DataError(f"owner '{self.owner}': no public router row at {self.public_row}")


def train_config(job: ExpertJob):
    from rayswarm.agents.toytrain import TrainConfig

    return TrainConfig(steps=job.steps, batch_size=job.batch_size, lr=job.lr, warmup=job.warmup, seed=job.seed)


def owner_row(job: ExpertJob, public, tokenizer, items):
    """The owner's router row at step 0: the mean embedding of a sample of its documents."""
    from rayswarm.agents.flexolmo_data import sample_documents
    from rayswarm.agents.router_init import domain_row

    return domain_row(sample_documents(items, job.router_samples, job.seed), job.embedder,
                      public.config.hidden_size, public, tokenizer)


def build_expert(job: ExpertJob, public, tokenizer, items):
    """The owner's 2-expert MoE at step 0: router rows [public embedding, owner's embedding]."""
    import torch

    from rayswarm.agents.flexolmo_model import upcycle

    return upcycle(public, torch.stack([torch.load(job.public_row), owner_row(job, public, tokenizer, items)]))


def train_loop(config: dict) -> None:
    """The worker: build or restore the owner's model, train, report checkpoints."""
    import ray.train
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rayswarm.agents.flexolmo_data import read_corpus
    from rayswarm.agents.flexolmo_loop import StepTrainer, expert_params

    torch.set_num_threads(1)
    job = ExpertJob(**config)
    tokenizer = AutoTokenizer.from_pretrained(job.public)
    items = read_corpus(job.data)
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        model, state = build_expert(job, AutoModelForCausalLM.from_pretrained(job.public), tokenizer, items), None
    else:
        with checkpoint.as_directory() as folder:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
            state = torch.load(Path(folder) / TRAIN_STATE, weights_only=False)
    context = ray.train.get_context()
    rank, workers = context.get_world_rank(), context.get_world_size()
    trainer = StepTrainer(model, tokenizer, items, train_config(job), expert_params(model), shard=(rank, workers),
                          all_sum=sum_across_workers if workers > 1 else None)
    if state is not None:
        trainer.load_state(state)
    losses: list[float] = []
    last = min(job.steps, job.stop_after or job.steps)
    while trainer.step < last:
        losses.append(trainer.train_step())
        if trainer.step % job.checkpoint_every == 0 or trainer.step == last:
            # Every worker reports; the replicas are identical, so rank 0 alone writes the checkpoint.
            with tempfile.TemporaryDirectory() as folder:
                checkpoint = None
                if rank == 0:
                    model.save_pretrained(folder)
                    torch.save(trainer.state(), Path(folder) / TRAIN_STATE)
                    checkpoint = ray.train.Checkpoint.from_directory(folder)
                recent = losses[-job.checkpoint_every:]
                ray.train.report({"owner": job.owner, "step": trainer.step, "loss": sum(recent) / len(recent),
                                  "workers": workers, "runtime_env": ray.get_runtime_context().runtime_env},
                                 checkpoint=checkpoint)


def sum_across_workers(tensors) -> None:
    """Sum tensors over the job's workers, in place (the process group Ray Train set up: gloo on CPUs)."""
    import torch.distributed as dist

    for tensor in tensors:
        dist.all_reduce(tensor)


def run_expert_job(job: ExpertJob):
    """Run (or resume) one owner's job on the connected Ray; returns the Ray Train result.

    When the job reached its last step, the expert is exported to `job.output` as a FlexOlmo
    folder with flexolmo.json (experts [public, owner], the public model's fingerprint).
    """
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    job.check()
    # Ray Train reads these in its controller and workers (it propagates them from the driver):
    # no print() patching (a log flood at toy speed) and a short health-check interval, since
    # report() waits for the controller's next poll.
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=job.model_dump(),
        scaling_config=ScalingConfig(num_workers=job.workers, resources_per_worker={"CPU": job.cpus_per_worker}),
        run_config=RunConfig(name=f"expert-{job.owner}", storage_path=job.storage,
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
    )
    result = trainer.fit()
    if result.metrics and result.metrics.get("step") == job.steps:
        export_expert(job, result.checkpoint)
    return result


def export_expert(job: ExpertJob, checkpoint) -> Path:
    """The final checkpoint as the expert folder `merge` reads (tokenizer and metadata included)."""
    from transformers import AutoTokenizer

    from rayswarm.agents.flexolmo_model import META_FILE, PUBLIC, public_id

    output = Path(job.output)
    tmp = output.with_name(f".tmp-{output.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    with checkpoint.as_directory() as folder:
        shutil.copytree(folder, tmp, ignore=shutil.ignore_patterns(TRAIN_STATE))
    AutoTokenizer.from_pretrained(job.public).save_pretrained(tmp)
    (tmp / META_FILE).write_text(json.dumps({"experts": [PUBLIC, job.owner], "public_id": public_id(job.public),
                                             "embedder": job.embedder, "steps": job.steps}, indent=2))
    shutil.rmtree(output, ignore_errors=True)
    tmp.replace(output)
    return output
