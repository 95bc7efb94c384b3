"""One base model serving several agents: the state an actor (or a Serve replica) holds.

Agents that differ only in their LoRA adapter (`tiny:codes`, `tiny:capitals`, ... all sit on the
same toy base) share one copy of the base weights. Each adapter is loaded under its agent's name
and switched in before that agent's batch (PEFT `set_adapter`); agents without an adapter run with
adapters disabled. Hot-swapping costs nothing, and weights can be rewritten in memory per agent,
which is how swarms move particles through a resident model.

Everything here is plain Python, so the same class backs an AgentActor (actors/agent_actor.py)
and a Serve deployment (clusters/serve), and a test can drive it without Ray.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from rayswarm.agents.agent import Agent
from rayswarm.agents.decoding import Completion
from rayswarm.agents.sources import resolve_source
from rayswarm.agents.stepping import Stepper, vocabulary
from rayswarm.agents.streaming import stream_answer
from rayswarm.agents.weights import ParameterVector
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

# PEFT asks transformers a deprecated question on every adapter load; the warning is not the user's to fix.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def base_key(spec: AgentSpec) -> tuple:
    """Agents with equal keys can share one model: same base weights, dtype and device kind."""
    return (str(resolve_source(spec.model).path), spec.dtype, spec.num_gpus > 0)


def adapter_path(spec: AgentSpec) -> Path | None:
    """The adapter an agent runs with: its own, else the one that comes with its source (tiny:<expert>)."""
    return Path(spec.adapter) if spec.adapter else resolve_source(spec.model).adapter


class ModelHost:
    """Several agents (name → spec) over one shared base model; every spec must have the same base_key."""

    def __init__(self, specs: dict[str, AgentSpec]):
        if not specs:
            raise ConfigError("a model host needs at least one agent")
        keys = {base_key(spec) for spec in specs.values()}
        if len(keys) > 1:
            raise ConfigError(f"agents {sorted(specs)} do not share one base model: {sorted(keys)}")
        self.specs = dict(specs)
        first = next(iter(specs.values()))
        self.agent = Agent.from_spec(first.model_copy(update={"adapter": None, "system": None}), name="host")
        self.adapters: dict[str, str] = {}  # agent name -> PEFT adapter name
        for name, spec in specs.items():
            path = adapter_path(spec)
            if path is not None:
                self._load_adapter(name, path)
        self._vectors: dict[str, ParameterVector] = {}
        self.sessions: dict[tuple[str, str], Stepper] = {}  # (session id, agent) -> its open decoding

    def _load_adapter(self, name: str, path: Path) -> None:
        from peft import PeftModel

        if not (path / "adapter_config.json").is_file():
            raise ConfigError(f"agent '{name}': adapter folder '{path}' has no adapter_config.json")
        adapter = f"agent_{len(self.adapters)}"  # PEFT names become module keys: keep them plain
        model = self.agent.model
        if isinstance(model, PeftModel):
            model.load_adapter(str(path), adapter_name=adapter)
        else:
            self.agent.model = PeftModel.from_pretrained(model, str(path), adapter_name=adapter).eval()
        self.adapters[name] = adapter

    @contextlib.contextmanager
    def active(self, name: str):
        """Run the block as agent `name`: its adapter switched in, or every adapter off."""
        if name not in self.specs:
            raise ConfigError(f"this host has no agent '{name}' (it has {', '.join(sorted(self.specs))})")
        model = self.agent.model
        if name in self.adapters:
            model.set_adapter(self.adapters[name])
            yield self.agent
        elif self.adapters:
            with model.disable_adapter():
                yield self.agent
        else:
            yield self.agent

    def _system(self, name: str, system: str | None) -> str:
        # "" rather than None: the shared Agent must not fall back to another agent's system prompt.
        return system if system is not None else (self.specs[name].system or "")

    def generate(self, name: str, prompts: list[str], options: GenerationOptions | None = None,
                 system: str | None = None, weights: torch.Tensor | None = None) -> list[str]:
        """Agent `name`'s outputs; `weights`, when given, is first written into its adapter."""
        if weights is not None:
            self.set_vector(name, weights)
        with self.active(name) as agent:
            return agent.generate(prompts, options or self.specs[name].generation, self._system(name, system))

    def generate_rows(self, names: list[str], prompts: list[str], options: GenerationOptions,
                      system: str = "") -> list[str]:
        """Row i answered by agent names[i], all in one batched generation (PEFT mixed-adapter batches).

        This is how a swarm scores all its particles at once: one pass over particles × examples
        instead of one pass per particle.
        """
        unknown = sorted(set(names) - set(self.specs))
        if unknown:
            raise ConfigError(f"this host has no agent '{unknown[0]}'")
        if not self.adapters:
            return self.agent.generate(prompts, options, system)
        rows = [self.adapters.get(name, "__base__") for name in names]  # "__base__": PEFT's adapter-free row
        return self.agent.generate(prompts, options, system, adapter_names=rows)

    def score(self, name: str, prompts: list[str], continuations: list[str], reduction: str = "sum",
              system: str | None = None, weights: torch.Tensor | None = None) -> list:
        if weights is not None:
            self.set_vector(name, weights)
        with self.active(name) as agent:
            return agent.score(prompts, continuations, reduction=reduction, system=self._system(name, system),
                               options=self.specs[name].generation)

    def continue_answers(self, name: str, prompts: list[str], answers: list[str], options: GenerationOptions,
                         system: str | None = None) -> list[Completion]:
        """Agent `name` continues answers already begun (switch generation, agents/routing.py)."""
        with self.active(name) as agent:
            return agent.continue_answers(prompts, answers, options, self._system(name, system))

    def stream(self, name: str, prompt: str, options: GenerationOptions, system: str | None = None) -> Iterator[str]:
        """Agent `name`'s answer to one prompt, piece by piece (agents/streaming.py). The adapter stays
        switched in until the last piece: consume it before the host serves anything else."""
        with self.active(name) as agent:
            yield from stream_answer(agent, prompt, options, self._system(name, system))

    def tokens_generated(self) -> int:
        """Tokens generated so far by every agent of this host."""
        return self.agent.tokens_generated

    # ---- incremental decoding, for logit-level ensembles (agents/logit_fusion.py) ----------------

    def vocabulary(self) -> tuple:
        """(tokenizer, EOS ids), shared by every agent of this host."""
        return vocabulary(self.agent)

    def start_decoding(self, name: str, prompts: list[str], session: str,
                       system: str | None = None) -> torch.Tensor:
        """Open `session` on agent `name` (agents/stepping.py): its first next-token log-probs.

        A session remembers its agent, and every step switches that agent's adapter in: sessions of
        two agents of this host (a fusion of two experts on one base) interleave step by step.
        """
        with self.active(name) as agent:
            stepper = Stepper(agent)
            logprobs = stepper.start(prompts, self._system(name, system), self.specs[name].generation)
        self.sessions[(session, name)] = stepper
        return logprobs

    def step_decoding(self, name: str, tokens: list[int], session: str) -> torch.Tensor:
        with self.active(name):
            return self.sessions[(session, name)].step(tokens)

    def end_decoding(self, name: str, generated: list[int], session: str) -> None:
        """Free the session (a start that failed left none); `generated` tokens count as this host's output."""
        self.sessions.pop((session, name), None)
        self.agent.tokens_generated += sum(generated)

    def vector(self, name: str) -> ParameterVector:
        """Agent `name`'s LoRA parameters as one flat vector (each agent's own, never another's)."""
        if name not in self.adapters:
            raise ConfigError(f"agent '{name}' has no LoRA adapter, so no weight vector")
        if name not in self._vectors:
            marker = f".{self.adapters[name]}."
            self._vectors[name] = ParameterVector(self.agent.model, lambda n: ".lora_" in n and marker in n)
        return self._vectors[name]

    def get_vector(self, name: str) -> torch.Tensor:
        return self.vector(name).get()

    def set_vector(self, name: str, vector: torch.Tensor) -> None:
        self.vector(name).set(vector)
