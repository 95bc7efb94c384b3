"""DPO as a Ray Train job: TRL's DPOTrainer on each worker of a TorchTrainer.

    result = train_dpo(model_path, pairs, DPOSettings(loss_type="sigmoid_norm", beta=2.0),
                       storage=run_dir / "train", name="dpo")
    export(result, run_dir / "adapter")   # a PEFT folder: PeftModel.from_pretrained(base, that folder)

Each worker builds DPOTrainer → `prepare_trainer(trainer)` → `add_callback(RayTrainReportCallback())`
→ `train()`, so every Trainer checkpoint is reported to Ray Train and lands under
`<storage>/<name>/checkpoint_<timestamp>/checkpoint/`. Calling `train_dpo` again with the same
storage and name resumes: Ray Train restores its checkpoint list, `ray.train.get_checkpoint()`
hands the worker the latest one, and the Trainer continues from its optimizer and step.
Progress: the Trainer prints each logging step's metrics (loss, rewards/…) through Ray's log
forwarding, and every checkpoint's metrics are reported to Ray Train.

The reference model is always loaded explicitly (a second copy of the starting weights): TRL
would otherwise reload it by name, and a model built in memory has none. On a multi-node cluster
the model folder must be readable by the workers (shared storage), as the run's storage must be.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from rayswarm.graphs.errors import DataError
from rayswarm.graphs.schema import StrictModel

CHECKPOINT = "checkpoint"  # RayTrainReportCallback's folder inside each Ray checkpoint
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# Ray Train's defaults are wrong for small CPU jobs: the print patch duplicates every worker line
# (~1,000 lines while TRL maps the dataset), and ray.train.report waits on a 2 s health check.
RAY_TRAIN_ENV = {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0", "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1"}


class LoraSettings(StrictModel):
    r: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: str | list[str] = Field("all-linear", description="PEFT's target_modules")


class DPOSettings(StrictModel):
    """What a DPO job trains and how. Every TRL default that is wrong on a CPU is set here explicitly."""

    loss_type: Literal["sigmoid", "sigmoid_norm"] = Field(
        "sigmoid", description="sigmoid: DPO (ParaPO); sigmoid_norm: length-normalised DPO (PIC, needs a large β)")
    beta: float = Field(0.1, gt=0.0)
    learning_rate: float = Field(5e-4, gt=0.0, description="TRL's 1e-6 is for full fine-tuning of 8B models")
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int | None = Field(None, gt=0, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = Field(4, gt=0, description="pairs per worker per step")
    gradient_accumulation: int = Field(1, gt=0)
    lr_scheduler: Literal["linear", "cosine", "constant"] = "linear"
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_length: int = Field(512, gt=0, description="tokens of prompt + completion")
    save_steps: int = Field(10, gt=0, description="a resumable checkpoint every this many steps (and at the end)")
    logging_steps: int = Field(1, gt=0)
    seed: int = 0
    lora: LoraSettings | None = Field(default_factory=LoraSettings, description="null: full fine-tuning")
    num_workers: int = Field(1, gt=0, description="Ray Train workers (data parallel)")
    cpus_per_worker: float = Field(1.0, gt=0.0)
    use_gpu: bool = False


@dataclass(frozen=True)
class DPOResult:
    path: Path  # the Ray Train run folder (<storage>/<name>)
    checkpoint: Path  # the last Trainer checkpoint: adapter (or full model), optimizer, trainer_state.json
    history: list[dict]  # the Trainer's log history: loss, rewards/chosen (β·chosen log-ratio), …

    def metric(self, key: str) -> list[float]:
        return [row[key] for row in self.history if key in row]


def trl_config(settings: DPOSettings, output_dir: str):
    """TRL's DPOConfig for these settings, with explicit CPU-safe values (TRL defaults bf16 and checkpointing on)."""
    from trl import DPOConfig

    return DPOConfig(
        output_dir=output_dir,
        loss_type=[settings.loss_type],
        beta=settings.beta,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps or -1,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,  # a float below 1 is a ratio in transformers 5
        weight_decay=settings.weight_decay,
        max_length=settings.max_length,
        logging_steps=settings.logging_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        seed=settings.seed,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=not settings.use_gpu,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,  # LoRA leaves no parameter unused; the search costs a pass per step
    )


def _train_loop(config: dict) -> None:
    """One Ray Train worker: load policy and reference, train with TRL, report every checkpoint to Ray."""
    import tempfile

    import datasets
    import ray.train
    import torch
    from peft import LoraConfig, PeftModel
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer

    torch.set_num_threads(config["threads"])
    settings = DPOSettings.model_validate(config["settings"])

    def load():
        model = AutoModelForCausalLM.from_pretrained(config["model"], dtype=torch.float32)
        if config["adapter"]:  # start from an expert: its adapter folds into the weights both models share
            model = PeftModel.from_pretrained(model, config["adapter"]).merge_and_unload()
        return model

    lora = settings.lora
    peft_config = None if lora is None else LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
        task_type="CAUSAL_LM")
    trainer = DPOTrainer(
        model=load(),
        ref_model=load(),
        args=trl_config(settings, tempfile.mkdtemp(prefix="rayswarm-dpo-")),
        train_dataset=datasets.Dataset.from_list(config["pairs"]),
        processing_class=AutoTokenizer.from_pretrained(config["model"]),
        peft_config=peft_config,
    )
    trainer = prepare_trainer(trainer)
    trainer.add_callback(RayTrainReportCallback())
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        trainer.train()
        return
    with checkpoint.as_directory() as folder:
        trainer.train(resume_from_checkpoint=str(Path(folder) / CHECKPOINT))


def train_dpo(model: str | Path, pairs: list[dict], settings: DPOSettings, storage: str | Path,
              name: str = "dpo", adapter: str | Path | None = None) -> DPOResult:
    """Train `model` (an HF folder, optionally with an `adapter` to start from) on preference pairs.

    Same `storage` and `name` as an interrupted call: resumes from its last checkpoint.
    Needs Ray to be up (clusters.connect); returns once training ended.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if not pairs:
        raise DataError("DPO needs at least one preference pair")
    for key, value in RAY_TRAIN_ENV.items():
        os.environ.setdefault(key, value)  # Ray Train hands these on to its controller and workers
    threads = max(1, int(settings.cpus_per_worker))
    trainer = TorchTrainer(
        _train_loop,
        train_loop_config={"model": str(model), "adapter": str(adapter) if adapter else None, "pairs": pairs,
                           "settings": settings.model_dump(), "threads": threads},
        scaling_config=ScalingConfig(num_workers=settings.num_workers, use_gpu=settings.use_gpu,
                                     resources_per_worker={"CPU": settings.cpus_per_worker}),
        run_config=RunConfig(name=name, storage_path=str(Path(storage).resolve()),
                             checkpoint_config=CheckpointConfig(num_to_keep=2),
                             failure_config=FailureConfig(max_failures=0)),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"DPO run {result.path} ended without a checkpoint")
    checkpoint = Path(result.checkpoint.path) / CHECKPOINT
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return DPOResult(Path(result.path), checkpoint, state["log_history"])


def export(result: DPOResult, target: str | Path) -> Path:
    """Copy the trained weights out of the checkpoint: a PEFT adapter folder, or a full model folder."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    source = result.checkpoint
    is_adapter = (source / ADAPTER_FILES[0]).is_file()
    for item in source.iterdir():
        # Optimizer, scheduler, RNG and trainer state are for resuming; the weights need none of them.
        if item.is_file() and (item.name in ADAPTER_FILES if is_adapter else not item.name.startswith(
                ("optimizer", "scheduler", "rng_state", "trainer_state", "training_args"))):
            shutil.copy2(item, target / item.name)
    return target
