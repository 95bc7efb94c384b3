"""Agent: one causal LM and its tokenizer — generate, score, budget forcing, weights as a flat vector.

Everything is batched (left padding, chunks of `batch_size` rows of similar length) so a whole
dataset can be passed in one call. Nothing global is set: torch's thread count is the caller's
concern (`torch.set_num_threads`), and seeded sampling restores the global RNG afterwards.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch

from rayswarm.agents.budget import BudgetResult, force_budget
from rayswarm.agents.decoding import (
    Completion,
    decode_rows,
    left_pad,
    length_sorted_batches,
    position_ids,
    seeded,
)
from rayswarm.agents.flexolmo_model import META_FILE, read_meta, resolve_mask, select_experts
from rayswarm.agents.sources import resolve_source
from rayswarm.agents.weights import ParameterVector, Selection, VectorSpec, add_lora, save_adapter
from rayswarm.graphs.errors import ConfigError, DataError, SourceError
from rayswarm.graphs.schema import parse
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

REDUCTIONS = ("sum", "mean", "none")


MASKED_MODELS = 8  # expert masks an Agent keeps a model for (each holds a copy of its experts' FFNs)


class Agent:
    """A causal LM with its tokenizer. Build one from a live model, a spec, or a source string."""

    batch_size = 64

    def __init__(self, model, tokenizer, name: str | None = None, spec: AgentSpec | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.name = name or (spec.model if spec else None) or model.config.name_or_path or "agent"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token  # batching needs a pad id; padding is always masked
        self._vectors: dict = {}
        self.tokens_generated = 0  # every token any call has generated: what `rayswarm compare` counts
        # A FlexOlmo mixture's expert names (None for other models), and its models of one expert mask each.
        self.expert_names: list[str] | None = None
        self._masked: OrderedDict[tuple[str, ...], torch.nn.Module] = OrderedDict()

    @classmethod
    def from_spec(cls, spec: AgentSpec, name: str | None = None) -> Agent:
        """Resolve the spec's source, load model (+ adapter) in eval mode; GPU when the spec asks for one."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        resolved = resolve_source(spec.model)
        dtype = "auto" if spec.dtype == "auto" else getattr(torch, spec.dtype)
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolved.path)
            model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=dtype)
        except (OSError, ValueError) as err:
            if not resolved.is_hub:
                raise
            reason = str(err).splitlines()[0]
            raise SourceError(f"could not load hub model '{spec.model}' (offline?): {reason}") from None
        adapter = spec.adapter or resolved.adapter  # an explicit adapter replaces the source's own
        if adapter:
            model = _load_adapter(model, Path(adapter))
        if spec.num_gpus > 0 and torch.cuda.is_available():
            model = model.to("cuda")
        agent = cls(model.eval(), tokenizer, name=name, spec=spec)
        if (Path(resolved.path) / META_FILE).is_file():
            agent.expert_names = read_meta(resolved.path)["experts"]
        return agent

    @classmethod
    def load(cls, source: str, adapter: str | None = None, **spec_fields) -> Agent:
        """`Agent.load("smollm2")`, `Agent.load("tiny:random-llama", system="…")`: AgentSpec fields as kwargs."""
        return cls.from_spec(
            parse(AgentSpec, {"model": source, "adapter": adapter, **spec_fields}, source="agent")
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __repr__(self) -> str:
        return f"Agent({self.name!r})"

    # ---- prompts -------------------------------------------------------------------------------

    def options(self, options: GenerationOptions | None = None, **overrides) -> GenerationOptions:
        """The decoding options of a call: the given ones (else the spec's), with field overrides applied."""
        base = options or (self.spec.generation if self.spec else GenerationOptions())
        if not overrides:
            return base
        return parse(GenerationOptions, {**base.model_dump(), **overrides}, source="generation options")

    def uses_chat(self, options: GenerationOptions) -> bool:
        """Whether prompts go through the chat template (auto: when the tokenizer has one)."""
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        if options.chat_template and not has_template:
            raise ConfigError(
                f"agent '{self.name}': chat_template=True but its tokenizer has no chat template"
            )
        return has_template if options.chat_template is None else options.chat_template

    def render(self, prompt: str, system: str | None = None, chat: bool = True) -> str:
        """The text the model continues: a chat turn (prompt = user, system = system message) or raw text."""
        if not chat:
            return f"{system}\n\n{prompt}" if system else prompt
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _render_all(
        self, prompts: list[str], system: str | None, options: GenerationOptions
    ) -> tuple[list[str], bool]:
        if isinstance(prompts, str):
            raise ConfigError("prompts must be a list of strings, not one string")
        system = system if system is not None else (self.spec.system if self.spec else None)
        chat = self.uses_chat(options)
        return [self.render(prompt, system, chat) for prompt in prompts], chat

    def _encode(self, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
        rows = [self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"] for text in texts]
        for i, row in enumerate(rows):
            if not row:
                raise DataError(f"prompt {i} is empty: the model needs at least one token to continue")
        return rows

    # ---- generation ----------------------------------------------------------------------------

    def model_for(self, options: GenerationOptions):
        """The model that answers with these options: the whole model, or a FlexOlmo mixture with only
        the experts the options keep (agents/flexolmo_model.select_experts: the others' FFNs and router
        rows are absent, so they have no influence). Masked models share every non-expert weight and
        are cached, most recent first."""
        if options.experts is None and options.exclude_experts is None:
            return self.model
        if self.expert_names is None:
            raise ConfigError(f"agent '{self.name}' is not a FlexOlmo mixture of experts: "
                              "experts/exclude_experts do not apply to it")
        chosen = tuple(resolve_mask(self.expert_names, options.experts, options.exclude_experts))
        if list(chosen) == self.expert_names:
            return self.model
        if chosen not in self._masked:
            self._masked[chosen] = select_experts(self.model, self.expert_names, list(chosen))
            while len(self._masked) > MASKED_MODELS:
                self._masked.popitem(last=False)
        self._masked.move_to_end(chosen)
        return self._masked[chosen]

    def generate(
        self,
        prompts: list[str],
        options: GenerationOptions | None = None,
        system: str | None = None,
        adapter_names: list[str] | None = None,
        **overrides,
    ) -> list[str]:
        """The new text after each prompt. Overrides are GenerationOptions fields (`max_new_tokens=8`).

        adapter_names: for a model with several LoRA adapters, the adapter of each prompt's row, so
        many adapters share one batched generation (a swarm's particles, for one).
        """
        options = self.options(options, **overrides)
        if options.budget is not None:
            if adapter_names is not None:
                raise ConfigError("budget forcing with per-row adapters is not supported")
            return [result.text for result in self.generate_with_budget(prompts, options, system)]
        if adapter_names is not None and len(adapter_names) != len(prompts):
            raise DataError(f"{len(adapter_names)} adapter names for {len(prompts)} prompts")
        texts, chat = self._render_all(prompts, system, options)
        with seeded(options.seed, self.device):
            completions = self.complete(texts, options, add_special_tokens=not chat, adapter_names=adapter_names)
            return [completion.text for completion in completions]

    def continue_answers(
        self,
        prompts: list[str],
        answers: list[str],
        options: GenerationOptions | None = None,
        system: str | None = None,
    ) -> list[Completion]:
        """Continue answers already begun: prompt i rendered as generate() renders it, then answers[i].

        Returns Completions, whose `finish` says whether the answer ended before `max_new_tokens`
        (switch generation hands an answer from model to model this way).
        """
        options = self.options(options)
        if len(answers) != len(prompts):
            raise DataError(f"{len(answers)} answers begun for {len(prompts)} prompts")
        texts, chat = self._render_all(prompts, system, options)
        with seeded(options.seed, self.device):
            return self.complete([text + answer for text, answer in zip(texts, answers, strict=True)], options,
                                 add_special_tokens=not chat)

    def generate_with_budget(
        self,
        prompts: list[str],
        options: GenerationOptions | None = None,
        system: str | None = None,
        **overrides,
    ) -> list[BudgetResult]:
        """s1 budget forcing with per-row accounting (agents/budget.py); default BudgetForcing when unset."""
        options = self.options(options, **overrides)
        texts, chat = self._render_all(prompts, system, options)
        with seeded(options.seed, self.device):
            return force_budget(self, texts, options, add_special_tokens=not chat)

    def complete(
        self,
        texts: list[str],
        options: GenerationOptions,
        add_special_tokens: bool,
        caps: list[int] | None = None,
        stop: list[str] | None = None,
        min_one_token: bool = False,
        adapter_names: list[str] | None = None,
    ) -> list[Completion]:
        """Continue already-rendered texts: the step under generate() and budget forcing.

        caps: per-row token limits (default options.max_new_tokens); stop: default options.stop.
        Does not seed: generate() wraps whole calls in the options' seed.
        """
        rows = self._encode(texts, add_special_tokens)
        caps = caps or [options.max_new_tokens] * len(rows)
        stop = options.stop if stop is None else stop
        results: list[Completion] = [None] * len(rows)  # type: ignore[list-item]
        with torch.no_grad():
            for batch in length_sorted_batches([len(row) for row in rows], self.batch_size):
                completions = decode_rows(
                    self.model_for(options),
                    self.tokenizer,
                    [rows[i] for i in batch],
                    [caps[i] for i in batch],
                    options,
                    stop,
                    min_one_token,
                    [adapter_names[i] for i in batch] if adapter_names is not None else None,
                )
                for i, completion in zip(batch, completions, strict=True):
                    results[i] = completion
        self.tokens_generated += sum(completion.num_tokens for completion in results)
        return results

    # ---- scoring -------------------------------------------------------------------------------

    def score(
        self,
        prompts: list[str],
        continuations: list[str],
        reduction: str = "sum",
        last_k: int | None = None,
        system: str | None = None,
        options: GenerationOptions | None = None,
    ) -> list[float] | list[list[float]]:
        """Log-probability of each continuation (the assistant's text) given its prompt.

        Only continuation tokens count; `last_k` keeps the last k of them (PIC scores the last 20).
        reduction: "sum", "mean", or "none" (the per-token log-probs). The continuation is scored as
        given: append the tokenizer's end-of-turn text yourself if it should count. Of `options`
        only `chat_template` matters here.
        """
        if len(prompts) != len(continuations):
            raise DataError(f"score: {len(prompts)} prompts but {len(continuations)} continuations")
        if reduction not in REDUCTIONS:
            raise ConfigError(f"score: reduction must be one of {', '.join(REDUCTIONS)}, not {reduction!r}")
        if last_k is not None and last_k < 1:
            raise ConfigError(f"score: last_k must be ≥ 1, not {last_k}")
        texts, chat = self._render_all(prompts, system, self.options(options))
        prompt_rows = self._encode(texts, add_special_tokens=not chat)
        continuation_rows = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        if not all(continuation_rows):
            raise DataError(f"score: continuation {continuation_rows.index([])} is empty")
        per_token: list[list[float]] = [[]] * len(prompts)
        lengths = [len(p) + len(c) for p, c in zip(prompt_rows, continuation_rows, strict=True)]
        with torch.no_grad():
            for batch in length_sorted_batches(lengths, self.batch_size):
                logprobs = self._continuation_logprobs(
                    [prompt_rows[i] for i in batch], [continuation_rows[i] for i in batch]
                )
                for i, row in zip(batch, logprobs, strict=True):
                    per_token[i] = row[-last_k:] if last_k else row
        if reduction == "none":
            return per_token
        return [sum(row) / (len(row) if reduction == "mean" else 1) for row in per_token]

    def _continuation_logprobs(
        self, prompt_rows: list[list[int]], continuation_rows: list[list[int]]
    ) -> list[list[float]]:
        """Left-pad prompt+continuation so all continuations end together; only their logits are computed."""
        ids, mask = left_pad(
            [p + c for p, c in zip(prompt_rows, continuation_rows, strict=True)], self.tokenizer.pad_token_id
        )
        width = max(len(c) for c in continuation_rows)
        device = self.device
        # Position t predicts token t+1, so the last width+1 positions cover every continuation.
        logits = self.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=position_ids(mask).to(device),
            logits_to_keep=width + 1,
        ).logits.float()
        targets = ids[:, -width:].to(device).unsqueeze(-1)
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, targets).squeeze(-1).cpu()
        return [logprobs[i, width - len(c) :].tolist() for i, c in enumerate(continuation_rows)]

    # ---- weights as a vector -------------------------------------------------------------------

    def vector(self, select: Selection = None) -> ParameterVector:
        """The ParameterVector of a selection: None = the LoRA adapter, a regex, names, or a predicate.

        Cached per selection (predicates excepted: a fresh lambda per call would grow the cache).
        """
        if callable(select):
            return ParameterVector(self.model, select)
        key = tuple(select) if isinstance(select, list) else select
        if key not in self._vectors:
            self._vectors[key] = ParameterVector(self.model, select)
        return self._vectors[key]

    def vector_spec(self, select: Selection = None) -> VectorSpec:
        return self.vector(select).spec

    def get_vector(self, select: Selection = None) -> torch.Tensor:
        """The selected weights as one flat float32 CPU tensor (a copy)."""
        return self.vector(select).get()

    def set_vector(self, vector: torch.Tensor, select: Selection = None) -> None:
        """Write a flat float32 vector into the selected weights, in place."""
        self.vector(select).set(vector)

    def add_lora(
        self,
        r: int = 8,
        alpha: int = 16,
        target_modules: str | list[str] = "all-linear",
        dropout: float = 0.0,
        seed: int = 0,
    ) -> Agent:
        """Attach a fresh LoRA adapter (B = 0, so outputs are unchanged until its weights are set)."""
        self.model = add_lora(
            self.model, r=r, alpha=alpha, target_modules=target_modules, dropout=dropout, seed=seed
        )
        self._vectors.clear()
        return self

    def save_adapter(self, path: str | Path) -> Path:
        """Write the LoRA adapter as a PEFT folder that `PeftModel.from_pretrained(base, path)` loads."""
        return save_adapter(self.model, path)


def _load_adapter(model, adapter: Path):
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise SourceError(f"adapter folder '{adapter}' has no adapter_config.json")
    return PeftModel.from_pretrained(model, str(adapter))
