"""Plain-data specs shared by every layer: which model an agent is, and how it generates.

These hold no live objects and pickle cheaply: actors rebuild their agent from an `AgentSpec`
after a restart, and a run directory's config.yaml is these specs written out.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from rayswarm.graphs.schema import StrictModel


class BudgetForcing(StrictModel):
    """s1 budget forcing (algorithms.md §6): bound the thinking phase from both sides.

    The agent appends `think_start` to the prompt, generates thinking until `think_end` or the
    token budget runs out, forces `think_end + answer_prefix` when it runs out, and replaces an
    early `think_end` with `wait` up to `num_waits` times to think longer. The budget counts the
    tokens the model generates (inserted strings excluded); each round gets what is left of it.
    With budget forcing on, `max_answer_tokens` replaces GenerationOptions.max_new_tokens.
    """

    think_start: str = Field("<think>", description="appended to the prompt to open thinking")
    think_end: str = Field("</think>", min_length=1, description="the model's end-of-thinking delimiter")
    answer_prefix: str = Field("\nFinal Answer:", description="forced after thinking, before the answer")
    max_thinking_tokens: int = Field(256, gt=0, description="hard cap on thinking tokens, all rounds together")
    num_waits: int = Field(0, ge=0, description="times an early end of thinking is replaced by `wait`")
    wait: str = Field("Wait", description="the string appended to extend thinking")
    max_answer_tokens: int = Field(64, gt=0, description="tokens for the answer after thinking")


class GenerationOptions(StrictModel):
    """How an agent decodes. Greedy by default: utilities must be reproducible."""

    max_new_tokens: int = Field(32, gt=0)
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = Field(None, description="seed for sampling; derived from the run seed when None")
    stop: list[str] = Field(default_factory=list, description="cut the output at the first of these")
    chat_template: bool | None = Field(None, description="use the tokenizer's chat template; None = when it has one")
    budget: BudgetForcing | None = Field(None, description="s1 budget forcing; None = off")
    experts: list[str] | None = Field(
        None, description="a mixture of experts (FlexOlmo): answer with only these experts; None = all")
    exclude_experts: list[str] | None = Field(
        None, description="a mixture of experts (FlexOlmo): opt these experts out of this answer")


class AgentSpec(StrictModel):
    """One agent: a model source, an optional LoRA adapter, resources and decoding defaults.

    `model` is a local HF folder, a hub id, `smollm2`, or `tiny:<name>` (agents/sources.py).
    """

    model: str
    adapter: str | None = Field(None, description="path of a PEFT adapter folder to load on top")
    system: str | None = Field(None, description="system prompt / role of this agent")
    dtype: str = Field("float32", description="torch dtype name for the weights")
    num_cpus: float = Field(1.0, ge=0.0, description="Ray CPUs for this agent's actor")
    num_gpus: float = Field(0.0, ge=0.0, description="Ray GPUs (fractions allowed)")
    replicas: int = Field(1, ge=1, description="actors (or Serve replicas) sharing this agent's batches")
    generation: GenerationOptions = Field(default_factory=GenerationOptions)

    @model_validator(mode="after")
    def _known_dtype(self):
        if self.dtype not in {"float32", "float16", "bfloat16", "auto"}:
            raise ValueError(f"dtype must be float32, float16, bfloat16 or auto, not {self.dtype!r}")
        return self
