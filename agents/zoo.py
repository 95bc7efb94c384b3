"""The toy zoo: a tiny public base model and one LoRA expert per domain, trained on the CPU.

`build_zoo(preset)` trains what is missing and caches every piece by content hash under
`$RAYSWARM_CACHE/zoo/<preset>/`: the base (an HF folder with its tokenizer), each expert (a PEFT
adapter folder) and the measured report. Each piece is built in a temporary folder and renamed
into place, so an interrupted build resumes where it stopped and a reader never sees half a model.
A file lock keeps concurrent builders (two test workers, two actors) from training the same thing.

Names (`resolve_tiny`, `task_dir`): `base`, `<domain>`, `mixed`, `composed` for the `standard`
preset; `quick/<name>` for the small, fast preset the test suite uses; `smollm2/<name>` for experts
LoRA-trained on SmolLM2-135M-Instruct (a preset with an existing base: nothing trained from scratch,
the base's own tokenizer; minutes per expert on a GPU, hours on two CPU cores).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rayswarm.agents.cache import cache_dir, content_hash
from rayswarm.agents.sources import check_source, resolve_source
from rayswarm.agents.toydata import (
    BASE_MIXTURE,
    EXPERT_MIXTURE,
    SORT_EXPERT_MIXTURE,
    base_items,
    expert_items,
)
from rayswarm.agents.toyeval import accuracy, answer, chain_scores, memorized, random_paths, split_scores
from rayswarm.agents.toytrain import TrainConfig
from rayswarm.agents.toyworld import (
    COMPOSED,
    DOMAINS,
    FORMAT_VERSION,
    KNOWLEDGE_DOMAINS,
    SKILL_DOMAINS,
    WorldConfig,
    make_tasks,
    make_world,
    task_names,
)
from rayswarm.graphs.errors import DataError, SourceError
from rayswarm.graphs.schema import did_you_mean
from rayswarm.graphs.tasks import write_examples

log = logging.getLogger(__name__)

DEFAULT_PRESET = "standard"
RANDOM_PATHS = 8  # random orders of all experts, scored on composed questions in the report
REPORT_VERSION = 2  # bump when measure() changes


@dataclass(frozen=True)
class Preset:
    """Everything a zoo build depends on; its content hash names the cached models."""

    name: str
    world: WorldConfig
    base: TrainConfig
    expert: TrainConfig
    passage_repeats: int
    architecture: str = "llama"
    shape: dict = field(default_factory=dict)  # overrides of agents/tiny.py's TINY_SHAPE
    skill_steps: int | None = None  # expert steps for skill domains (sort), when fewer suffice
    # r=16 over the suggested 8: the chain of experts answered 83% of composed questions, not 70%.
    lora_r: int = 16
    lora_alpha: int = 64
    # An existing model (any source string that resolves to a local folder, e.g. "smollm2") as the base:
    # no base training, and the experts use its tokenizer and chat template. None: train a tiny base.
    base_source: str | None = None

    def base_key(self) -> str:
        if self.base_source:  # only when set, so that the keys (and caches) of trained bases stay as they were
            return content_hash({"version": FORMAT_VERSION, "world": asdict(self.world), "source": self.base_source})
        return content_hash({"version": FORMAT_VERSION, "world": asdict(self.world), "base": asdict(self.base),
                             "passages": self.passage_repeats, "architecture": self.architecture,
                             "shape": self.shape, "mixture": BASE_MIXTURE.weights})

    def expert_config(self, domain: str) -> TrainConfig:
        if domain in SKILL_DOMAINS and self.skill_steps:
            return replace(self.expert, steps=self.skill_steps)
        return self.expert

    def expert_key(self, domain: str) -> str:
        mixture = EXPERT_MIXTURE if domain in KNOWLEDGE_DOMAINS else SORT_EXPERT_MIXTURE
        return content_hash({"base": self.base_key(), "domain": domain, "expert": asdict(self.expert_config(domain)),
                             "r": self.lora_r, "alpha": self.lora_alpha, "mixture": mixture.weights})

    def key(self) -> str:
        """The whole zoo's, report included (a change of what the report measures re-measures it)."""
        return content_hash([REPORT_VERSION, self.base_key(), *(self.expert_key(d) for d in DOMAINS)])


# A larger init than transformers' default (0.02) makes the tiny model learn to copy a previous
# response (an induction circuit) several times sooner: 91% exact copies after 1,200 steps, not 16%.
_INIT = {"initializer_range": 0.08}

PRESETS: dict[str, Preset] = {
    "standard": Preset(
        name="standard",
        world=WorldConfig(seed=0, countries=60),
        base=TrainConfig(steps=2400, batch_size=16, lr=2e-3, warmup=50),
        expert=TrainConfig(steps=1600, batch_size=8, lr=3e-3, warmup=30),
        skill_steps=800,
        passage_repeats=200,
        shape=_INIT,
    ),
    "quick": Preset(
        name="quick",
        world=WorldConfig(seed=0, countries=16, passages=3, domain_items=16, composed_items=8, mixed_items=60),
        base=TrainConfig(steps=500, batch_size=16, lr=3e-3, warmup=20),
        expert=TrainConfig(steps=500, batch_size=8, lr=3e-3, warmup=10),
        skill_steps=150,
        passage_repeats=30,
        shape={**_INIT, "hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2},
    ),
    # The standard world (same tasks, same items) on a real pretrained base. A lower lr and alpha than the
    # tiny zoo's, as usual for LoRA on a pretrained model; not tuned (a CPU has time for short smoke runs
    # only: benchmarks/RESULTS.md).
    "smollm2": Preset(
        name="smollm2",
        world=WorldConfig(seed=0, countries=60),
        base=TrainConfig(steps=0),  # not trained: base_source is the base
        expert=TrainConfig(steps=1600, batch_size=8, lr=1e-3, warmup=30),
        skill_steps=800,
        passage_repeats=0,
        lora_alpha=32,
        base_source="smollm2",
    ),
}


# ---------------------------------------------------------------------------------------------
# Names


def _split_name(name: str) -> tuple[str, str]:
    """'quick/codes' -> ('quick', 'codes'); a plain name is the standard preset's."""
    preset, _, rest = name.rpartition("/")
    return preset or DEFAULT_PRESET, rest


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise SourceError(f"unknown toy zoo preset '{name}'{did_you_mean(name, PRESETS)}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


def _known(items) -> list[str]:
    return [*items, *(f"{p}/{i}" for p in PRESETS if p != DEFAULT_PRESET for i in items)]


def check_tiny_name(name: str, also: tuple[str, ...] = ()) -> tuple[Preset, str]:
    """Validate a zoo model name without building anything; returns (preset, model).

    `also`: the other valid `tiny:` names (untrained models), offered with the zoo's in the error.
    """
    preset, model = _split_name(name)
    if preset not in PRESETS or model not in ("base", *DOMAINS):
        known = [*also, *_known(("base", *DOMAINS))]
        raise SourceError(f"unknown tiny model '{name}'{did_you_mean(name, known)}; known: {', '.join(known)}")
    if PRESETS[preset].base_source:
        check_source(PRESETS[preset].base_source)  # e.g. smollm2 without its package: say so now
    return PRESETS[preset], model


def memorized_passages(preset: str = DEFAULT_PRESET) -> list[str]:
    """The passages the base saw ~100 times (ParaPO mines them)."""
    return list(make_world(get_preset(preset).world).passages)


# ---------------------------------------------------------------------------------------------
# Cache plumbing


def _root(preset: Preset) -> Path:
    return cache_dir("zoo", preset.name)


def base_folder(preset: Preset) -> Path:
    """The base's HF folder: the trained one in the cache, or the existing model's (converted on first use)."""
    if preset.base_source:
        resolved = resolve_source(preset.base_source)
        if resolved.is_hub or resolved.adapter:
            raise SourceError(f"zoo preset '{preset.name}': its base '{preset.base_source}' must be a local model folder")
        return resolved.path
    return _root(preset) / f"base-{preset.base_key()}"


def expert_folder(preset: Preset, domain: str) -> Path:
    return _root(preset) / f"{domain}-{preset.expert_key(domain)}"


def report_file(preset: Preset) -> Path:
    return _root(preset) / f"report-{preset.key()}.json"


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """An exclusive lock on a file for the duration of a build (other builders wait, then reuse)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _atomic_folder(final: Path) -> Iterator[Path]:
    """Build into a temporary sibling and rename it into place when the block succeeds."""
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _checkpoint(folder: Path) -> Path:
    """Where the training of `folder`'s model checkpoints: an interrupted build resumes mid-model too."""
    return folder.with_name(f".ckpt-{folder.name}.pt")


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One torch thread while training: on a shared 2-core machine it is many times faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# Tasks


def _tasks_root(preset: Preset) -> Path:
    key = content_hash({"version": FORMAT_VERSION, "world": asdict(preset.world)})
    return cache_dir("tasks") / f"{preset.name}-{key}"


def task_dir(name: str) -> Path:
    """A folder with dev.jsonl and test.jsonl for a toy task: a domain, `composed` or `mixed`.

    Generated from the world's seed on first use (no training involved) and cached.
    """
    preset_name, task = _split_name(name)
    if preset_name not in PRESETS or task not in task_names():
        known = _known(task_names())
        raise DataError(f"unknown toy task '{name}'{did_you_mean(name, known)}; known: {', '.join(known)}")
    preset = PRESETS[preset_name]
    root = _tasks_root(preset)
    if not (root / task / "test.jsonl").is_file():
        with _locked(root.parent / f".{root.name}.lock"):
            if not (root / task / "test.jsonl").is_file():
                with _atomic_folder(root) as tmp:
                    for task_name, splits in make_tasks(make_world(preset.world)).items():
                        for split, examples in splits.items():
                            write_examples(tmp / task_name / f"{split}.jsonl", examples)
    return root / task


# ---------------------------------------------------------------------------------------------
# Building


@dataclass
class Zoo:
    preset: str
    base: Path
    experts: dict[str, Path]
    report: dict

    def resolve(self, model: str) -> tuple[Path, Path | None]:
        return (self.base, None) if model == "base" else (self.base, self.experts[model])


def _tokenizer(preset: Preset):
    """The base's own tokenizer for an existing base; the offline character tokenizer for a tiny one."""
    if preset.base_source:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(base_folder(preset))
    from rayswarm.agents.tokenizer import build_char_tokenizer

    return build_char_tokenizer()


def _train_base(preset: Preset, progress: bool) -> dict:
    from rayswarm.agents.tiny import build_tiny_model, save_tiny
    from rayswarm.agents.toytrain import train

    start = time.perf_counter()
    world = make_world(preset.world)
    config = preset.base
    n = config.steps * config.batch_size - len(world.passages) * preset.passage_repeats
    items = base_items(world, max(n, 0), config.seed, preset.passage_repeats)
    model = build_tiny_model(preset.architecture, seed=config.seed, **preset.shape).to(_device())
    checkpoint = _checkpoint(base_folder(preset))
    losses = train(model, _tokenizer(preset), items, config, desc="base", progress=progress, checkpoint=checkpoint)
    info = {"seconds": round(time.perf_counter() - start, 1), "steps": config.steps,
            "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
            "params": sum(p.numel() for p in model.parameters())}
    with _atomic_folder(base_folder(preset)) as tmp:
        save_tiny(model, tmp)
        _write_json(tmp / "train.json", info)
    checkpoint.unlink(missing_ok=True)
    return info


def _load_base(preset: Preset):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(base_folder(preset)).to(_device())


def _train_expert(preset: Preset, domain: str, progress: bool) -> dict:
    from rayswarm.agents.toytrain import train
    from rayswarm.agents.weights import add_lora, save_adapter

    start = time.perf_counter()
    world = make_world(preset.world)
    config = preset.expert_config(domain)
    items = expert_items(world, domain, config.steps * config.batch_size, config.seed)
    model = add_lora(_load_base(preset), r=preset.lora_r, alpha=preset.lora_alpha, seed=config.seed)
    checkpoint = _checkpoint(expert_folder(preset, domain))
    losses = train(model, _tokenizer(preset), items, config, desc=domain, progress=progress, checkpoint=checkpoint)
    info = {"seconds": round(time.perf_counter() - start, 1), "steps": config.steps,
            "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4)}
    with _atomic_folder(expert_folder(preset, domain)) as tmp:
        save_adapter(model, tmp)
        _write_json(tmp / "train.json", info)
    checkpoint.unlink(missing_ok=True)
    return info


def _done(folder: Path) -> bool:
    return (folder / "train.json").is_file()


def _base_done(preset: Preset) -> bool:
    return bool(preset.base_source) or _done(base_folder(preset))


def build_zoo(preset: str = DEFAULT_PRESET, force: bool = False, progress: bool = True) -> Zoo:
    """Train what is missing (everything with `force`), measure the zoo once, and return its paths."""
    spec = get_preset(preset)
    say = print if progress else (lambda *_: None)
    with _locked(_root(spec) / ".lock"), _one_thread():
        if force:
            trained = [] if spec.base_source else [base_folder(spec)]  # never delete an existing base
            for folder in (*trained, *(expert_folder(spec, d) for d in DOMAINS)):
                shutil.rmtree(folder, ignore_errors=True)
            report_file(spec).unlink(missing_ok=True)
        if not _base_done(spec):
            info = _train_base(spec, progress)
            say(f"zoo {preset}: base trained, {info['steps']} steps in {info['seconds']:.0f} s")
        for domain in DOMAINS:
            if not _done(expert_folder(spec, domain)):
                info = _train_expert(spec, domain, progress)
                say(f"zoo {preset}: {domain} expert trained, {info['steps']} steps in {info['seconds']:.0f} s")
        if not report_file(spec).is_file():
            say(f"zoo {preset}: measuring every model on the test splits")
            _write_json(report_file(spec), measure(spec))
    return built_zoo(preset)


def _complete(spec: Preset) -> bool:
    return (report_file(spec).is_file() and _base_done(spec)
            and all(_done(expert_folder(spec, d)) for d in DOMAINS))


def built_zoo(preset: str = DEFAULT_PRESET) -> Zoo:
    """The cached zoo of a preset, without building anything; SourceError when it is not built."""
    spec = get_preset(preset)
    if not _complete(spec):
        raise SourceError(f"the toy zoo '{preset}' is not built yet: run `rayswarm zoo build --preset {preset}`")
    return Zoo(preset, base_folder(spec), {d: expert_folder(spec, d) for d in DOMAINS},
               json.loads(report_file(spec).read_text()))


def resolve_tiny(name: str) -> tuple[Path, Path | None]:
    """A zoo model: (base folder, None) for `base`, (base folder, adapter folder) for a domain.

    Builds the preset's zoo first if it is not cached (minutes for `standard`).
    """
    spec, model = check_tiny_name(name)
    if not _complete(spec):
        log.warning("building the toy zoo '%s' (first use; cached afterwards; `rayswarm zoo build --preset %s` "
                    "shows progress): %s expert steps on %s", spec.name, spec.name,
                    f"{sum(spec.expert_config(d).steps for d in DOMAINS):,}", _device())
        build_zoo(spec.name, progress=False)
    base = base_folder(spec)
    return (base, None) if model == "base" else (base, expert_folder(spec, model))


# ---------------------------------------------------------------------------------------------
# Measuring


def load_agent(preset: Preset, model: str):
    """An Agent for one zoo model, loaded the way any agent spec is (base folder + adapter)."""
    from rayswarm.agents.agent import Agent
    from rayswarm.graphs.spec import AgentSpec

    adapter = None if model == "base" else str(expert_folder(preset, model))
    gpus = 1.0 if _device() == "cuda" else 0.0
    return Agent.from_spec(AgentSpec(model=str(base_folder(preset)), adapter=adapter, num_gpus=gpus), name=model)


def measure(preset: Preset) -> dict:
    """The zoo's report: every model on every domain's test split, composed questions, chains."""
    import torch

    start = time.perf_counter()
    world = make_world(preset.world)
    tasks = {name: splits["test"] for name, splits in make_tasks(world).items()}
    agents = {model: load_agent(preset, model) for model in ("base", *DOMAINS)}
    # One more single model: the experts' LoRA weights averaged (Model Swarms' merge, equal weights).
    merge = load_agent(preset, DOMAINS[0])
    merge.set_vector(torch.stack([agents[d].get_vector() for d in DOMAINS]).mean(dim=0))
    rows, singles = {}, {}
    for model, agent in {**agents, "merge": merge}.items():
        row = {domain: accuracy(answer(agent, tasks[domain]), tasks[domain]) for domain in DOMAINS}
        singles[model] = split_scores(answer(agent, tasks["composed"]), tasks["composed"])
        row["composed"] = singles[model]["all"]
        row["passages"] = sum(memorized(agent, world.passages))
        rows[model] = row
    best = max(singles, key=lambda m: singles[m]["all"])
    timings = {} if preset.base_source else {"base": json.loads((base_folder(preset) / "train.json").read_text())["seconds"]}
    for domain in DOMAINS:
        timings[domain] = json.loads((expert_folder(preset, domain) / "train.json").read_text())["seconds"]
    report = {
        "preset": preset.name,
        "key": preset.key(),
        "params": sum(p.numel() for p in agents["base"].model.parameters()),
        "steps": {**({} if preset.base_source else {"base": preset.base.steps}),
                  **{d: preset.expert_config(d).steps for d in DOMAINS}},
        "rows": rows,
        "passages": len(world.passages),
        "composed_items": len(tasks["composed"]),
        "chain": chain_scores(agents, tasks["composed"]),
        "best_single": {"model": best, **singles[best]},
        "random_paths": random_paths({d: agents[d] for d in DOMAINS}, tasks["composed"], RANDOM_PATHS),
        "timings": timings,
    }
    report["timings"]["measure"] = round(time.perf_counter() - start, 1)
    return report


def format_report(report: dict) -> str:
    """The zoo's table: models by domain, composed questions and passages, then the chain headline."""
    columns = [*DOMAINS, "composed", "passages"]
    steps = ", ".join(f"{k} {v}" for k, v in report["steps"].items())
    lines = [f"toy zoo '{report['preset']}' ({report['params'] / 1e6:.2f}M params; training steps: {steps}; "
             "accuracy on the test splits)",
             f"{'model':<10}" + "".join(f"{c:>10}" for c in columns)]
    for model, row in report["rows"].items():
        cells = [f"{100 * row[c]:>9.1f}%" for c in (*DOMAINS, "composed")]
        cells.append(f"{row['passages']:>7}/{report['passages']:<2}")
        lines.append(f"{model:<10}" + "".join(cells))
    chain, best = report["chain"], report["best_single"]
    lines.append(f"composed ({report['composed_items']} questions): chain of the right experts "
                 f"{100 * chain['all']:.1f}% (seen {100 * chain['seen']:.1f}%, unseen {100 * chain['unseen']:.1f}%); "
                 f"best single model ({best['model']}) {100 * best['all']:.1f}%")
    lines.append("  by type: " + ", ".join(
        f"{kind} ({' > '.join(COMPOSED[kind].order)}) {100 * chain[kind]:.0f}%" for kind in COMPOSED))
    paths = [score for _, score in report["random_paths"]]
    if paths:
        lines.append(f"  {len(paths)} random paths through all experts: mean {100 * sum(paths) / len(paths):.1f}%, "
                     f"best {100 * max(paths):.1f}%")
    timings = report["timings"]
    lines.append("build: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
                 + f" (total {sum(timings.values()):.0f} s)")
    return "\n".join(lines)

