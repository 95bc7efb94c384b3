"""ParaPO's preference data (algorithms.md §5): paraphrases of memorized text, preferred over the verbatim text.

A paraphraser is any object with rayswarm's `generate(prompts, **overrides)`: an `Agent`
(SmolLM2, a zoo model), an actor pool's agent, or a model behind an OpenAI-compatible endpoint
such as a served graph (`rayswarm.clusters.endpoint.ChatEndpoint`). It is asked to rewrite
each memorized span at the same length; outputs that are empty, unchanged, or far from the
original's length are dropped, since a short paraphrase would teach "write less", not "do not copy".

Two kinds of pairs, both without a chat template (pre-training style, as in the paper):

    prompt-less      chosen = paraphrase, rejected = verbatim; prompt = BOS (see pairs.bos_prompt)
    system prompt    "Copying: No" → chosen = paraphrase, rejected = verbatim
                     "Copying: Yes" → chosen = verbatim, rejected = paraphrase

The paper leaves open how "Copying: Yes" pairs are built; mirroring the "No" pairs is our choice
(it teaches the model to obey the flag both ways rather than to never quote). The flag line a
pair's prompt carries (`flag_line`) is the one regurgitation is measured under for this variant.
"""

from __future__ import annotations

from collections.abc import Sequence

from rayswarm.graphs.errors import DataError

# ParaPO's paraphrasing prompt (scripts/data/generate_paraphrases.ipynb), with the text appended.
PARAPHRASE_PROMPT = (
    "Your task is to rewrite the given text or code, maintaining the same meaning while using different "
    "words and sentence structures. Preserve the original length as closely as possible. Please provide "
    "only the rewritten version, without any explanation.\n\nText:\n{text}"
)
COPYING_NO = "Copying: No"
COPYING_YES = "Copying: Yes"
FLAGS = (COPYING_NO, COPYING_YES)


def flag_line(flag: str) -> str:
    """What the system-prompt variant puts between BOS and the text: the flag on a line of its own."""
    return f"{flag}\n"


def clean(output: str) -> str:
    """A paraphraser's answer without surrounding whitespace or quotes."""
    return output.strip().strip('"').strip()


def keep(original: str, paraphrase: str, length_tolerance: float) -> bool:
    """Whether a paraphrase is usable: not empty, not the original, and of about the original's length."""
    if not paraphrase or paraphrase.strip() == original.strip():
        return False
    ratio = len(paraphrase) / max(1, len(original))
    return 1 / length_tolerance <= ratio <= length_tolerance


def paraphrase(paraphraser, texts: Sequence[str], length_tolerance: float = 1.5, max_new_tokens: int = 256,
               temperature: float = 0.6, top_p: float = 0.9, seed: int = 0,
               prompt: str = PARAPHRASE_PROMPT) -> list[str | None]:
    """One paraphrase per text (None where it was unusable), sampled as in ParaPO (T 0.6, top-p 0.9)."""
    if "{text}" not in prompt:
        raise DataError("the paraphrase prompt must contain {text}")
    outputs = paraphraser.generate([prompt.format(text=t) for t in texts], max_new_tokens=max_new_tokens,
                                   temperature=temperature, top_p=top_p, seed=seed)
    cleaned = [clean(o) for o in outputs]
    return [p if keep(t, p, length_tolerance) else None for t, p in zip(texts, cleaned, strict=True)]


def parapo_pairs(originals: Sequence[str], paraphrases: Sequence[str | None], bos: str,
                 system: bool = False) -> list[dict[str, str]]:
    """Preference pairs from (original, paraphrase); rows without a paraphrase are skipped.

    bos: what starts a raw text (`pairs.bos_prompt(tokenizer)` of the model being trained).
    system: the system-prompt variant, two pairs per item ("Copying: No" and "Copying: Yes").
    """
    pairs = []
    for original, para in zip(originals, paraphrases, strict=True):
        if para is None:
            continue
        if not system:
            pairs.append({"prompt": bos, "chosen": para, "rejected": original})
            continue
        pairs.append({"prompt": bos + flag_line(COPYING_NO), "chosen": para, "rejected": original})
        pairs.append({"prompt": bos + flag_line(COPYING_YES), "chosen": original, "rejected": para})
    if not pairs:
        raise DataError("no usable paraphrase: every output was empty, unchanged or of the wrong length")
    return pairs
