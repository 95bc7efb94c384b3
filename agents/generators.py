"""Generator experts for Data Swarms: LoRAs on one base, each fine-tuned on one cluster of dev inputs.

The paper's generators are LoRA experts fine-tuned on clusters of a task's data (algorithms.md §3,
"Setup"). A model that was only ever trained to answer (the toy zoo's) writes no questions, so a
swarm over such experts would have nothing to move. This derives generators the same way: the dev
inputs are split into as many clusters as there are generators (by length: contiguous quantiles
of the inputs sorted by length, the feature that separates the toy sort task's items), and each
generator is a fresh LoRA trained for a few hundred steps on its cluster in the generation format
itself: the prompt shows `shots` examples of the cluster, the target lists `items` others.

Only dev is read. Each adapter is cached by content hash (base, cluster, format, settings) under
`$RAYSWARM_CACHE/generators/`, built in a temporary folder and renamed into place, like the zoo.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from pydantic import Field

from rayswarm.agents.cache import cache_dir, content_hash
from rayswarm.agents.datagen import PromptFormat
from rayswarm.agents.sources import resolve_source
from rayswarm.agents.toydata import TrainItem
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.schema import StrictModel
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tasks import Example

FORMAT_VERSION = 1  # bump when the training data or loop changes meaning


class ClusterSFT(StrictModel):
    """How each generator's LoRA is trained on its cluster (defaults: the toy zoo's expert layout)."""

    steps: int = Field(300, ge=1, description="optimizer steps per generator")
    batch_size: int = Field(8, ge=1, description="sequences per step")
    lr: float = Field(3e-3, gt=0, description="peak learning rate (warm-up, then cosine decay)")
    r: int = Field(16, ge=1, description="LoRA rank (16 with alpha 64 matches the zoo's experts, so "
                   "generators and zoo test takers share one evaluator pool)")
    alpha: int = Field(64, ge=1, description="LoRA alpha")
    seed: int = Field(0, description="LoRA init and data order")


def length_clusters(examples: list[Example], count: int) -> list[list[Example]]:
    """`count` clusters of near-equal size: the examples sorted by input length, cut into quantiles."""
    if len(examples) < count:
        raise ConfigError(f"{count} generators need at least {count} dev examples to cluster, got {len(examples)}")
    ordered = sorted(examples, key=lambda ex: (len(ex.input), ex.input))
    bounds = [round(i * len(ordered) / count) for i in range(count + 1)]
    return [ordered[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def sft_items(cluster: list[Example], fmt: PromptFormat, count: int, seed: int) -> list[TrainItem]:
    """`count` (prompt, target) pairs: `shots` examples of the cluster in, `items` others out."""
    rng = random.Random(f"rayswarm-generator-sft-{seed}")
    need = fmt.shots + fmt.items
    out = []
    for _ in range(count):
        drawn = rng.sample(cluster, need) if len(cluster) >= need else rng.choices(cluster, k=need)
        out.append(TrainItem(fmt.prompt(drawn[:fmt.shots]), fmt.listing(drawn[fmt.shots:])))
    return out


def train_generator(model: str, cluster: list[Example], fmt: PromptFormat, sft: ClusterSFT) -> Path:
    """The adapter folder of a generator trained on `cluster` (cached; trained on first use)."""
    base = resolve_source(model).path
    key = content_hash({"version": FORMAT_VERSION, "base": str(base), "format": asdict(fmt),
                        "sft": sft.model_dump(), "cluster": [(ex.input, ex.target) for ex in cluster]})
    target = cache_dir("generators") / f"generator-{key}"
    if (target / "adapter_config.json").is_file():
        return target
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _train(base, sft_items(cluster, fmt, sft.steps * sft.batch_size, sft.seed), sft, scratch)
        try:
            os.replace(scratch, target)
        except OSError:  # another process finished the same generator first
            if not (target / "adapter_config.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _train(base, items: list[TrainItem], sft: ClusterSFT, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rayswarm.agents.toytrain import TrainConfig, train
    from rayswarm.agents.weights import add_lora, save_adapter

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = add_lora(AutoModelForCausalLM.from_pretrained(base), r=sft.r, alpha=sft.alpha, seed=sft.seed)
    config = TrainConfig(steps=sft.steps, batch_size=sft.batch_size, lr=sft.lr, warmup=min(30, sft.steps // 10),
                         seed=sft.seed)
    train(model, tokenizer, items, config, desc="generator", progress=False)
    save_adapter(model, folder)


def cluster_generators(experts: dict[str, AgentSpec], dev: list[Example], fmt: PromptFormat,
                       sft: ClusterSFT) -> dict[str, AgentSpec]:
    """The experts as generators: expert i gets a fresh LoRA trained on cluster i (shortest inputs first)."""
    for name, spec in experts.items():
        if spec.adapter or resolve_source(spec.model).adapter:
            raise ConfigError(f"generator '{name}': cluster_sft trains a fresh LoRA on a base model; give a base "
                              f"without an adapter (e.g. tiny:base), or drop cluster_sft to use its adapter as is")
    clusters = length_clusters(dev, len(experts))
    return {name: spec.model_copy(update={"adapter": str(train_generator(spec.model, cluster, fmt, sft))})
            for (name, spec), cluster in zip(experts.items(), clusters, strict=True)}
