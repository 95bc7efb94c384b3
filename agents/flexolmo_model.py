"""FlexOlmo models in transformers' own classes: upcycle a dense Olmo2, merge experts, select experts.

algorithms.md §4. A dense `Olmo2ForCausalLM` (the public model) becomes a `FlexOlmoForCausalLM`
whose every FFN is a mixture of experts; attention, embeddings, norms and the LM head are shared.

    upcycle(public, rows)          2 experts (public, owner), both copies of the public FFN
    merge(public, {name: expert})  public + N trained owners' experts in one checkpoint
    select_experts(model, names)   opt-in / opt-out: a model with only the named experts

Olmo2 and FlexOlmo share every non-FFN parameter name and the same post-norm layer, so a checkpoint
saved here loads with plain `AutoModelForCausalLM.from_pretrained` and no rayswarm code. The expert
names live in a side file (flexolmo.json) that transformers ignores.

Opt-out removes the expert's FFN and router row instead of masking its logit to -inf: the softmax
over fewer logits, and the experts loop over fewer slots, are then the very computation of a model
merged without it, so the outputs are bit-for-bit identical and the owner's weights are provably
unused (a -inf logit only zeroes them up to the rounding of a longer softmax sum).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, FlexOlmoConfig, FlexOlmoForCausalLM

from rayswarm.graphs.errors import ConfigError, DataError, SourceError
from rayswarm.graphs.schema import did_you_mean

PUBLIC = "public"
META_FILE = "flexolmo.json"
# Every field the dense config and the MoE config share; the MoE fields are set explicitly.
SHARED_FIELDS = (
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "hidden_act", "max_position_embeddings", "initializer_range", "rms_norm_eps",
    "pad_token_id", "bos_token_id", "eos_token_id", "tie_word_embeddings", "rope_parameters",
    "attention_bias", "attention_dropout",
)


def flex_config(base_config, num_experts: int, top_k: int) -> FlexOlmoConfig:
    """The MoE config of an Olmo2 (or FlexOlmo) config; top-k is capped at the number of experts."""
    if base_config.model_type not in ("olmo2", "flex_olmo"):
        raise SourceError(f"the public model must be an Olmo2 model, not '{base_config.model_type}'")
    fields = {name: getattr(base_config, name) for name in SHARED_FIELDS}
    # Weights not renormalised after top-k (the released models: norm_topk_prob=False).
    return FlexOlmoConfig(**fields, num_experts=num_experts, num_experts_per_tok=min(top_k, num_experts),
                          norm_topk_prob=False)


def is_shared(name: str) -> bool:
    """Attention, embeddings, norms and the LM head: everything but the FFN (router included)."""
    return ".mlp." not in name


def shared_state(model) -> dict[str, torch.Tensor]:
    return {name: tensor for name, tensor in model.state_dict().items() if is_shared(name)}


def dense_ffn(dense, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(gate_up [2I, H], down [H, I]) of a dense layer, in the MoE's fused layout (gate rows first)."""
    mlp = dense.model.layers[layer].mlp
    return torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]).detach(), mlp.down_proj.weight.detach()


def expert_ffn(model, layer: int, slot: int) -> tuple[torch.Tensor, torch.Tensor]:
    experts = model.model.layers[layer].mlp.experts
    return experts.gate_up_proj[slot].detach(), experts.down_proj[slot].detach()


def router(model, layer: int) -> torch.Tensor:
    return model.model.layers[layer].mlp.gate.weight.detach()


def assemble(base, ffns: list[list[tuple[torch.Tensor, torch.Tensor]]], routers: list[torch.Tensor],
             top_k: int) -> FlexOlmoForCausalLM:
    """A FlexOlmo model: `base`'s config and shared weights, ffns[layer][slot], routers[layer] ([E, H]).

    `base` is the public Olmo2 model or another FlexOlmo model. Built on the meta device and filled
    by assignment, so no weight is allocated twice and the shared tensors are base's own (no copy).
    """
    config = flex_config(base.config, len(ffns[0]), top_k)
    state = shared_state(base)
    for layer, slots in enumerate(ffns):
        prefix = f"model.layers.{layer}.mlp"
        state[f"{prefix}.gate.weight"] = routers[layer]
        state[f"{prefix}.experts.gate_up_proj"] = torch.stack([gate_up for gate_up, _ in slots])
        state[f"{prefix}.experts.down_proj"] = torch.stack([down for _, down in slots])
    with torch.device("meta"):
        model = FlexOlmoForCausalLM(config)
    model.load_state_dict(state, strict=True, assign=True)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    # Rotary frequencies are a non-persistent buffer: rebuild it on the CPU.
    model.model.rotary_emb = type(model.model.rotary_emb)(config=config)
    return model.eval()


def upcycle(public, rows: torch.Tensor, top_k: int = 2) -> FlexOlmoForCausalLM:
    """An MoE whose experts are all copies of the public FFN, router rows `rows` [E, H]: the 2-expert
    model an owner trains (E = 2), or the jointly trained baseline (E = owners + 1).

    Every layer's router starts from the same rows (the domain embeddings, agents/router_init.py).
    """
    layers, hidden = public.config.num_hidden_layers, public.config.hidden_size
    if rows.dim() != 2 or rows.shape[0] < 2 or rows.shape[1] != hidden:
        raise ConfigError(f"router rows must be [E >= 2, {hidden}], got {list(rows.shape)}")
    ffns = [[tuple(t.clone() for t in dense_ffn(public, layer)) for _ in range(rows.shape[0])]
            for layer in range(layers)]
    return assemble(public, ffns, [rows.clone().float() for _ in range(layers)], top_k)


def check_expert(public, expert, name: str, public_rows: list[torch.Tensor] | None = None) -> None:
    """DataError unless `expert` is a 2-expert MoE trained from exactly this public model.

    Its shared weights and its public half (FFN slot 0, router row 0 of every layer) must be
    bit-identical to the public model's (and to `public_rows`, the other experts' public rows).
    """
    config = expert.config
    if config.model_type != "flex_olmo" or config.num_experts != 2:
        raise DataError(f"expert '{name}' is not a 2-expert FlexOlmo model")
    mine, theirs = shared_state(public), shared_state(expert)
    if mine.keys() != theirs.keys():
        raise DataError(f"expert '{name}' has another architecture than the public model")
    for key, tensor in mine.items():
        if tensor.shape != theirs[key].shape or not torch.equal(tensor, theirs[key]):
            raise DataError(f"expert '{name}' was trained from a different public model ({key} differs)")
    for layer in range(public.config.num_hidden_layers):
        if not all(torch.equal(a, b) for a, b in zip(dense_ffn(public, layer), expert_ffn(expert, layer, 0),
                                                          strict=True)):
            raise DataError(f"expert '{name}' was trained from a different public model "
                            f"(its public FFN of layer {layer} differs)")
        if public_rows is not None and not torch.equal(public_rows[layer], router(expert, layer)[0]):
            raise DataError(f"expert '{name}' has another public router row than the first expert "
                            f"(layer {layer}): all owners must start from the same public embedding")


def merge(public, experts: dict[str, FlexOlmoForCausalLM], top_k: int) -> tuple[FlexOlmoForCausalLM, list[str]]:
    """Public + N experts in one model: slot 0 the public FFN, slot i owner i's trained FFN and router row.

    Returns (model, names) with names[0] = "public". The expert bias of the paper is not part of
    transformers' router and is not trained here, so there is nothing to drop (algorithms.md §4).
    """
    if not experts:
        raise ConfigError("merge needs at least one expert")
    if PUBLIC in experts:
        raise ConfigError(f"'{PUBLIC}' is the public model's name; name the experts otherwise")
    first = next(iter(experts.values()))
    public_rows = [router(first, layer)[0] for layer in range(public.config.num_hidden_layers)]
    for name, expert in experts.items():
        check_expert(public, expert, name, public_rows)
    ffns, routers = [], []
    for layer in range(public.config.num_hidden_layers):
        ffns.append([dense_ffn(public, layer)] + [expert_ffn(e, layer, 1) for e in experts.values()])
        routers.append(torch.stack([public_rows[layer]] + [router(e, layer)[1] for e in experts.values()]))
    return assemble(public, ffns, routers, top_k), [PUBLIC, *experts]


def resolve_mask(known: list[str], experts: list[str] | None = None, exclude: list[str] | None = None) -> list[str]:
    """The experts a request uses, in checkpoint order: `experts` (default all) minus `exclude`.

    An unknown name is a one-line ConfigError, raised before any model is touched.
    """
    for name in (*(experts or ()), *(exclude or ())):
        if name not in known:
            raise ConfigError(f"unknown expert '{name}'{did_you_mean(name, known)}; known: {', '.join(known)}")
    chosen = [name for name in known if (experts is None or name in experts) and name not in (exclude or ())]
    if not chosen:
        raise ConfigError("the expert mask leaves no expert")
    return chosen


def select_experts(model: FlexOlmoForCausalLM, names: list[str], keep: list[str]) -> FlexOlmoForCausalLM:
    """A model with only the `keep` experts (and their router rows): the others have no influence at all.

    Shared weights are the same tensors as `model`'s; the experts' are copied. Top-k stays the
    model's, capped at the number of experts kept, as `merge` caps it.
    """
    slots = [names.index(name) for name in resolve_mask(names, keep)]
    ffns = [[expert_ffn(model, layer, slot) for slot in slots] for layer in range(model.config.num_hidden_layers)]
    routers = [router(model, layer)[slots] for layer in range(model.config.num_hidden_layers)]
    return assemble(model, ffns, routers, model.config.num_experts_per_tok)


# ---------------------------------------------------------------------------------------------
# Folders


def public_id(folder: str | Path) -> str:
    """A fingerprint of a public model folder (its weight files' bytes): names it in expert metadata,
    so a merge can refuse a foreign expert before loading any weights."""
    digest = hashlib.sha256()
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise SourceError(f"{folder}: no *.safetensors weights (not a saved model folder)")
    for path in files:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def read_meta(folder: str | Path) -> dict:
    """The flexolmo.json of a FlexOlmo folder: {"experts": [...], "public_id": ..., ...}."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise SourceError(f"{folder}: not a FlexOlmo checkpoint of rayswarm (no {META_FILE})")
    return json.loads(path.read_text())


def save(model, folder: str | Path, experts: list[str], tokenizer=None, **meta) -> Path:
    """An ordinary HF folder (+ tokenizer) with the expert names in flexolmo.json."""
    folder = Path(folder)
    model.save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    (folder / META_FILE).write_text(json.dumps({"experts": experts, **meta}, indent=2))
    return folder


def load(folder: str | Path) -> tuple[FlexOlmoForCausalLM, dict]:
    meta = read_meta(folder)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval(), meta
