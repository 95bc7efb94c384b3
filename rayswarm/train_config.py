"""Preference-tuning configs (`rayswarm train parapo|pic <config>`), validated in full before anything loads.

    recipe: parapo                      # or pic; must match the verb's recipe
    name: parapo-toy
    model: "tiny:base"                  # the model to tune (a LoRA adapter is trained on it)
    corpus: "toy:standard"              # ParaPO: where memorized text is mined
    paraphraser: {model: smollm2}       # ParaPO: any agent, or {endpoint: "http://…/v1", model: <graph>}
    dpo: {loss_type: sigmoid, beta: 0.1, max_steps: 40}

`load_train_config` checks the YAML, every key (did-you-mean), every model source, and every data
file it names (pairs, PIC items, corpus) line by line, so a bad pairs file or claim list fails
with its file and line before a model loads or a Ray job starts.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag

from rayswarm.agents.pairs import read_pairs
from rayswarm.agents.pic import MatchJudge, PICItem, read_items
from rayswarm.clusters.dpo import DPOSettings
from rayswarm.clusters.endpoint import EndpointSpec
from rayswarm.config import check_agents
from rayswarm.graphs.errors import ConfigError, DataError
from rayswarm.graphs.jsonl import jsonl_rows
from rayswarm.graphs.schema import StrictModel, parse, read_yaml
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

RECIPES = ("parapo", "pic")
TOY_CORPUS = "toy:"  # toy:<preset> = the toy zoo's passages (its base saw each ~100 times)


class MiningSettings(StrictModel):
    prefix_tokens: int = Field(64, gt=0, description="tokens of each document the model is prompted with")
    continuation_tokens: int = Field(32, gt=0, description="tokens it continues; scored by token LCS")
    top: int | None = Field(None, gt=0, description="keep at most this many windows (best first)")
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="keep windows with at least this token-LCS ratio")


class ParaphraseSettings(StrictModel):
    length_tolerance: float = Field(1.5, gt=1.0, description="drop paraphrases longer or shorter than this factor")
    max_new_tokens: int = Field(256, gt=0)
    temperature: float = Field(0.6, ge=0.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)


def paraphraser_kind(value) -> str:
    """'endpoint' for a mapping with an `endpoint` key (or an EndpointSpec), else 'agent'."""
    if isinstance(value, dict):
        return "endpoint" if "endpoint" in value else "agent"
    return "endpoint" if isinstance(value, EndpointSpec) else "agent"


# An agent run here ({model: smollm2}) or a model behind an OpenAI-compatible endpoint, e.g. a served graph.
Paraphraser = Annotated[Annotated[AgentSpec, Tag("agent")] | Annotated[EndpointSpec, Tag("endpoint")],
                        Discriminator(paraphraser_kind)]


class ParaPOConfig(StrictModel):
    """Mine what `model` regurgitates from `corpus`, paraphrase it, and DPO away from the verbatim text."""

    recipe: Literal["parapo"]
    name: str = Field("parapo", pattern=r"^[A-Za-z0-9_.-]+$", description="names the run directory")
    seed: int = 0
    model: AgentSpec
    corpus: str | None = Field(None, description="toy:<preset>, a .txt file (one document per line) or a .jsonl "
                               "file with a 'text' field; also the windows regurgitation is measured on")
    heldout: str | None = Field(None, description="texts for the utility check (perplexity); default for a toy "
                                "corpus: unseen passages of the same kind")
    pairs: str | None = Field(None, description="a ready pairs JSONL file: skips mining and paraphrasing")
    paraphraser: Paraphraser | None = Field(None, description="an agent ({model: ...}), or a remote model "
                                            "({endpoint: http://host:8000/v1, model: <served graph>})")
    variant: Literal["prompt_less", "system"] = Field("prompt_less", description="system: 'Copying: No/Yes' pairs")
    mining: MiningSettings = Field(default_factory=MiningSettings)
    paraphrase: ParaphraseSettings = Field(default_factory=ParaphraseSettings)
    dpo: DPOSettings = Field(default_factory=DPOSettings)
    utility_tolerance: float = Field(0.10, ge=0.0, description="allowed relative rise of held-out perplexity")


class JudgeSettings(StrictModel):
    kind: Literal["match", "llm"] = "match"
    threshold: float = Field(1.0, gt=0.0, le=1.0, description="match: share of a claim's words that must match")
    agent: AgentSpec | None = Field(None, description="llm: the judging agent")

    def build(self, load_agent):
        if self.kind == "match":
            return MatchJudge(self.threshold)
        from rayswarm.agents.pic import LLMJudge

        return LLMJudge(load_agent(self.agent))


class PICConfig(StrictModel):
    """Build PIC-LM's weakly supervised pairs from `items` and train with length-normalised DPO."""

    recipe: Literal["pic"]
    name: str = Field("pic", pattern=r"^[A-Za-z0-9_.-]+$", description="names the run directory")
    seed: int = 0
    model: AgentSpec = Field(description="the policy: trained, and writes y′ from the reduced claims")
    reference: AgentSpec | None = Field(None, description="scores y against y′ (default: the model)")
    items: str = Field(description="JSONL of PIC items with responses (instruction, claims, setting, response)")
    eval_items: str | None = Field(None, description="JSONL of PIC items scored before and after (default: items)")
    generation: GenerationOptions = Field(default_factory=lambda: GenerationOptions(
        max_new_tokens=128, temperature=0.5), description="how y′ is written (PIC-LM: T 0.5)")
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    dpo: DPOSettings = Field(default_factory=lambda: DPOSettings(loss_type="sigmoid_norm", beta=2.0))


def load_corpus(spec: str, heldout: bool = False) -> list[str]:
    """Documents of a corpus spec; `heldout` on a toy corpus: fresh passages of the same kind instead."""
    if spec.startswith(TOY_CORPUS):
        from rayswarm.agents.toyworld import passage
        from rayswarm.agents.zoo import get_preset, memorized_passages

        preset = spec.removeprefix(TOY_CORPUS)
        if not heldout:
            return memorized_passages(preset)
        world = get_preset(preset).world
        return [passage(random.Random(f"heldout-{i}"), world.passage_chars) for i in range(2 * world.passages)]
    path = Path(spec)
    if path.suffix == ".jsonl":
        documents = []
        for where, row in jsonl_rows(path, "corpus"):
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise DataError(f"{where}: expected an object with a 'text' string")
            documents.append(row["text"])
        return documents
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot read corpus ({err.strerror})") from None
    documents = [line for line in lines if line.strip()]
    if not documents:
        raise DataError(f"{path}: no documents")
    return documents


def load_train_config(path: str | Path, recipe: str | None = None) -> ParaPOConfig | PICConfig:
    """Read and fully validate a train config (its data files included), loading no model."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such config file")
    data, source = read_yaml(Path(path))
    found = data.get("recipe") if isinstance(data, dict) else None
    if found not in RECIPES:
        raise ConfigError(f"{source}: 'recipe' must be one of {', '.join(RECIPES)}, not {found!r}")
    if recipe is not None and found != recipe:
        raise ConfigError(f"{source}: this is a '{found}' config, not '{recipe}'")
    config = parse(ParaPOConfig if found == "parapo" else PICConfig, data, source=source)
    if isinstance(config, ParaPOConfig):
        check_parapo(config, source)
    else:
        check_pic(config, source)
    return config


def check_parapo(config: ParaPOConfig, source: str) -> None:
    local = isinstance(config.paraphraser, AgentSpec)  # an endpoint is checked when the run starts
    agents = {"model": config.model, **({"paraphraser": config.paraphraser} if local else {})}
    check_agents(agents, source)
    if config.pairs:
        read_pairs(config.pairs)
    elif config.paraphraser is None or config.corpus is None:
        raise ConfigError(f"{source}: give either 'pairs', or 'corpus' and 'paraphraser' to build them")
    if config.corpus:
        load_corpus(config.corpus)
    if config.heldout or (config.corpus and config.corpus.startswith(TOY_CORPUS)):
        load_corpus(config.heldout or config.corpus, heldout=config.heldout is None)
    elif config.corpus:
        raise ConfigError(f"{source}: 'heldout' texts are needed for the utility check of a non-toy corpus")


def check_pic(config: PICConfig, source: str) -> list[PICItem]:
    agents = {"model": config.model, **({"reference": config.reference} if config.reference else {}),
              **({"judge": config.judge.agent} if config.judge.agent else {})}
    check_agents(agents, source)
    if config.judge.kind == "llm" and config.judge.agent is None:
        raise ConfigError(f"{source}: judge: kind llm needs an 'agent'")
    items = read_items(config.items)
    if not any(item.response and len(item.claims) > 1 for item in items):
        raise DataError(f"{config.items}: no item has a response and two or more claims")
    if config.eval_items:
        read_items(config.eval_items)
    return items
