"""Regurgitation: how much of a reference text a model reproduces, and which texts it has memorized.

ParaPO (algorithms.md §5) measures regurgitation as the longest common *subsequence* (not
substring) between a greedy continuation and the true one, at three granularities:

    character   lowercase, whitespace and punctuation removed
    word        a regex word tokenizer (nltk's word_tokenize splits the same way on plain prose)
    token       the scoring model's own tokenizer

Each score here is LCS / length of the reference (0 = nothing reproduced, 1 = every unit in
order), with the generation first truncated to the reference's length, as in ParaPO's code.
ROUGE-L is the F1 of word-level LCS precision and recall.

Mining (`mine`) prompts a model with each document's first `prefix_tokens` tokens, continues
greedily for `continuation_tokens`, scores token LCS against the real continuation and keeps the
highest-scoring documents: the ones the model has memorized.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from rayswarm.agents.pairs import bos_prompt
from rayswarm.graphs.errors import DataError

PERCENTILES = (50, 75, 90, 95, 99)  # what ParaPO's evaluation reports
_WORD = re.compile(r"\w+|[^\w\s]")
_DROP = str.maketrans("", "", string.whitespace + string.punctuation)


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence of two sequences (O(len(a)·len(b)), one row of memory)."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0  # row[j-1] of the previous row
        for j, y in enumerate(b, start=1):
            above = row[j]
            row[j] = diagonal + 1 if x == y else max(row[j], row[j - 1])
            diagonal = above
    return row[-1]


def lcs_ratio(generated: Sequence, reference: Sequence) -> float:
    """LCS / len(reference), the generation truncated to the reference's length; 0 for an empty reference."""
    if not reference:
        return 0.0
    return lcs_length(generated[: len(reference)], reference) / len(reference)


def chars(text: str) -> str:
    """Characters as ParaPO compares them: lowercase, no whitespace, no punctuation."""
    return text.lower().translate(_DROP)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def rouge_l(generated: Sequence, reference: Sequence) -> float:
    """ROUGE-L F1 of two unit sequences (0 when either is empty)."""
    common = lcs_length(generated, reference)
    if common == 0:
        return 0.0
    precision, recall = common / len(generated), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def regurgitation(generated: str, reference: str, tokenizer=None) -> dict[str, float]:
    """Every metric of one continuation against its reference; `token_lcs` only with a tokenizer."""
    gen_words, ref_words = words(generated), words(reference)
    scores = {
        "char_lcs": lcs_ratio(chars(generated), chars(reference)),
        "word_lcs": lcs_ratio(gen_words, ref_words),
        "rouge_l": rouge_l(gen_words[: len(ref_words)], ref_words),
    }
    if tokenizer is not None:
        encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
        scores["token_lcs"] = lcs_ratio(encode(generated), encode(reference))
    return scores


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation (numpy's default), without numpy."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(rows: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and ParaPO's percentiles of each metric over many rows: {metric: {mean, p50, …}}."""
    if not rows:
        raise DataError("no continuations to summarize")
    summary = {}
    for metric in rows[0]:
        values = [row[metric] for row in rows]
        summary[metric] = {"mean": sum(values) / len(values),
                           **{f"p{q}": percentile(values, q) for q in PERCENTILES}}
    return summary


# ---- mining ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One document's probe: the prefix the model sees and the continuation it should not reproduce."""

    source: int  # index of the document in the corpus
    prefix: str
    reference: str
    generation: str = ""
    score: float = 0.0  # token LCS ratio of generation against reference

    @property
    def text(self) -> str:
        """The span a paraphraser rewrites (ParaPO rewrites prefix + continuation)."""
        return self.prefix + self.reference

    def to_dict(self) -> dict:
        return asdict(self)


def windows(corpus: Sequence[str], tokenizer, prefix_tokens: int = 64, continuation_tokens: int = 32) -> list[Window]:
    """Each document's first window (prefix, reference); documents too short for one are skipped."""
    result = []
    for i, document in enumerate(corpus):
        ids = tokenizer(document, add_special_tokens=False)["input_ids"]
        if len(ids) < prefix_tokens + continuation_tokens:
            continue
        prefix = tokenizer.decode(ids[:prefix_tokens])
        reference = tokenizer.decode(ids[prefix_tokens : prefix_tokens + continuation_tokens])
        result.append(Window(i, prefix, reference))
    return result


def continue_windows(agent, items: Sequence[Window], continuation_tokens: int = 32, header: str = "") -> list[Window]:
    """Greedy continuations of each window's prefix (raw text, no chat template), scored by token LCS.

    header: text between BOS and the prefix, e.g. ParaPO's "Copying: No" line (paraphrase.flag_line).
    """
    tokenizer = agent.tokenizer
    start = bos_prompt(tokenizer) + header
    outputs = agent.generate([start + w.prefix for w in items], max_new_tokens=continuation_tokens,
                             temperature=0.0, chat_template=False, stop=[])
    scored = []
    for window, output in zip(items, outputs, strict=True):
        generated = tokenizer(output, add_special_tokens=False)["input_ids"]
        reference = tokenizer(window.reference, add_special_tokens=False)["input_ids"]
        scored.append(Window(window.source, window.prefix, window.reference, output,
                             lcs_ratio(generated, reference)))
    return scored


def mine(agent, corpus: Sequence[str], top: int | None = None, min_score: float = 0.0,
         prefix_tokens: int = 64, continuation_tokens: int = 32) -> list[Window]:
    """The corpus windows the agent regurgitates most, best first: at most `top`, each ≥ `min_score`."""
    probes = windows(corpus, agent.tokenizer, prefix_tokens, continuation_tokens)
    if not probes:
        raise DataError(f"no document in the corpus has {prefix_tokens + continuation_tokens} tokens "
                        f"(prefix {prefix_tokens} + continuation {continuation_tokens})")
    scored = sorted(continue_windows(agent, probes, continuation_tokens), key=lambda w: (-w.score, w.source))
    kept = [w for w in scored if w.score >= min_score]
    return kept[:top] if top is not None else kept


def evaluate(agent, items: Sequence[Window], continuation_tokens: int = 32,
             header: str = "") -> tuple[list[Window], dict]:
    """Regurgitation of the agent on fixed windows: the continued windows and every metric's summary."""
    continued = continue_windows(agent, items, continuation_tokens, header)
    rows = [regurgitation(w.generation, w.reference, agent.tokenizer) for w in continued]
    return continued, summarize(rows)


def perplexity(agent, texts: Sequence[str]) -> float:
    """Per-token perplexity of raw texts (the utility check): exp of the mean negative log-likelihood."""
    if not texts:
        raise DataError("perplexity needs at least one text")
    start = bos_prompt(agent.tokenizer)
    per_token = agent.score([start] * len(texts), list(texts), reduction="none",
                            options=agent.options(chat_template=False))
    total = sum(len(row) for row in per_token)
    return math.exp(-sum(sum(row) for row in per_token) / total)
