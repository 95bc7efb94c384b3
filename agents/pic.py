"""PIC, Precise Information Control (algorithms.md §7): write from a claim list, exactly (full) or a subset (partial).

Task items are JSONL rows `{"instruction", "claims": [...], "setting": "full"|"partial", "response"?}`;
`read_items` checks a whole file first and names the file and line of the first bad row.

The metric extracts claims from each response and verifies each against the numbered input
claims with a pluggable judge (`MatchJudge` for tests, `LLMJudge` on any rayswarm agent):

    precision   supported response claims / response claims
    Recall@K    min(unique input claims cited as support / K, 1),  K = number of input claims
    F1@K        2PR / (P + R);  all three are 0 when K = 0 or the response has no claims

Claims are compared after normalisation (case, punctuation, spaces) and repeats are counted once,
on both sides: saying one claim three times neither inflates precision nor recall, and an input
list that repeats a claim does not make full recall unreachable.

Preference data (PIC-LM's weak supervision): drop some claims, regenerate from what is left, and
let a reference model's log-probability of each response's last 20 tokens (given only the
instruction) decide which response is chosen.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from rayswarm.graphs.errors import DataError
from rayswarm.graphs.jsonl import jsonl_rows

Setting = Literal["full", "partial"]
SETTINGS = ("full", "partial")

TEMPLATES = {
    "full": "Complete the instruction and include exactly all of the following claims, no more, no fewer. "
            "Do not add any other claims.\n\nInstruction: {instruction}\nClaims:\n{claims}\nResponse:",
    "partial": "Complete the instruction using any subset of the following claims, if they help your answer. "
               "Do not introduce any new claims.\n\nInstruction: {instruction}\nClaims:\n{claims}\nResponse:",
}
# PIC-LM's drop bounds: drop between max(1, ⌊low·n⌋) and min(n−1, ⌊0.8n⌋) of n claims.
DROP_LOW = {"full": 0.1, "partial": 0.4}
DROP_HIGH = 0.8
TAU = {"full": 0.5, "partial": 0.3}  # sigmoid(log-prob drop) above τ keeps the original as chosen
LAST_K = 20  # tokens of each response the reference scores


@dataclass(frozen=True)
class PICItem:
    instruction: str
    claims: tuple[str, ...]
    setting: Setting = "full"
    response: str | None = None  # a reference response (the SFT target), needed for preference data

    def prompt(self, claims: Sequence[str] | None = None) -> str:
        """The PIC prompt of this item, with its own claims or the given subset."""
        return format_prompt(self.instruction, self.claims if claims is None else claims, self.setting)


def format_claims(claims: Sequence[str]) -> str:
    return "\n".join(f"- {c}" for c in claims)


def format_prompt(instruction: str, claims: Sequence[str], setting: Setting = "full") -> str:
    return TEMPLATES[setting].format(instruction=instruction, claims=format_claims(claims))


def check_item(row, where: str) -> PICItem:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    unknown = sorted(set(row) - {"instruction", "claims", "setting", "response"})
    if unknown:
        raise DataError(f"{where}: unknown key '{unknown[0]}' (an item has instruction, claims, setting, response)")
    instruction, claims = row.get("instruction"), row.get("claims")
    if not isinstance(instruction, str) or not instruction.strip():
        raise DataError(f"{where}: 'instruction' must be non-empty text")
    if not isinstance(claims, list):
        raise DataError(f"{where}: 'claims' must be a list of strings, got {type(claims).__name__}")
    for i, claim in enumerate(claims):
        if not isinstance(claim, str) or not claim.strip():
            raise DataError(f"{where}: claim {i} must be non-empty text, got {claim!r}")
    setting = row.get("setting", "full")
    if setting not in SETTINGS:
        raise DataError(f"{where}: 'setting' must be full or partial, not {setting!r}")
    response = row.get("response")
    if response is not None and not isinstance(response, str):
        raise DataError(f"{where}: 'response' must be text")
    return PICItem(instruction, tuple(claims), setting, response)


def read_items(path: str | Path) -> list[PICItem]:
    """Every PIC item of a JSONL file; DataError '<file>:<line>: …' on the first bad row."""
    return [check_item(row, where) for where, row in jsonl_rows(path, "PIC items")]


# ---- the metric --------------------------------------------------------------------------------

_DROP = str.maketrans("", "", string.punctuation)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def normalize(claim: str) -> str:
    return " ".join(claim.lower().translate(_DROP).split())


def unique(claims: Sequence[str]) -> list[str]:
    """Claims without repeats (after normalisation), in first-seen order; empty ones dropped."""
    seen, kept = set(), []
    for claim in claims:
        key = normalize(claim)
        if key and key not in seen:
            seen.add(key)
            kept.append(claim)
    return kept


class Judge(Protocol):
    """Extracts claims from responses and finds which input claims support each of them."""

    def extract(self, responses: Sequence[str]) -> list[list[str]]: ...

    def verify(self, claims: Sequence[Sequence[str]], inputs: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """For each response, for each of its claims: the indices of the input claims supporting it."""
        ...


@dataclass(frozen=True)
class MatchJudge:
    """Claims are sentences; a claim is supported by an input claim it matches.

    threshold 1.0: the same words (exact, up to case and punctuation); below 1: an NLI-like
    entailment proxy, supported when that share of the claim's words occur in the input claim.
    """

    threshold: float = 1.0

    def extract(self, responses: Sequence[str]) -> list[list[str]]:
        return [[s.strip().lstrip("-*• ").strip() for s in _SENTENCE.split(r) if normalize(s)] for r in responses]

    def supports(self, claim: str, source: str) -> bool:
        if self.threshold >= 1.0:
            return normalize(claim) == normalize(source)
        words, source_words = set(normalize(claim).split()), set(normalize(source).split())
        return bool(words) and len(words & source_words) / len(words) >= self.threshold

    def verify(self, claims, inputs) -> list[list[list[int]]]:
        return [[[i for i, source in enumerate(sources) if self.supports(c, source)] for c in response_claims]
                for response_claims, sources in zip(claims, inputs, strict=True)]


EXTRACT_PROMPT = (
    "List every verifiable factual claim in the text below, one per line, each starting with \"- \". "
    "Write each claim as a short standalone sentence. If there is none, write \"No verifiable claim.\"\n\n"
    "Text: {response}\nClaims:"
)
VERIFY_PROMPT = (
    "Here are numbered source claims:\n{sources}\n\nIs the following claim supported by the source claims? "
    "Answer \"supported <i,j>\" with the numbers of the supporting source claims, or \"unsupported\".\n\n"
    "Claim: {claim}\nAnswer:"
)
_SUPPORTED = re.compile(r"supported\s*<([\d,\s]*)>", re.IGNORECASE)


def parse_claims(output: str) -> list[str]:
    """The claims of an extraction answer: its "- " lines (none for "No verifiable claim")."""
    return [line.strip()[2:].strip() for line in output.splitlines() if line.strip().startswith("- ")
            and line.strip()[2:].strip()]


def parse_support(output: str, count: int) -> list[int]:
    """The 0-based source indices of a "supported <1,3>" answer (1-based in the answer); [] otherwise."""
    found = _SUPPORTED.search(output)
    if not found or output.strip().lower().startswith("unsupported"):
        return []
    numbers = {int(n) for n in re.findall(r"\d+", found.group(1))}
    return sorted(n - 1 for n in numbers if 1 <= n <= count)


@dataclass
class LLMJudge:
    """Claim extraction and verification by any rayswarm agent (PIC used gpt-4o-mini, temperature 0)."""

    agent: object
    max_new_tokens: int = 256

    def extract(self, responses: Sequence[str]) -> list[list[str]]:
        outputs = self.agent.generate([EXTRACT_PROMPT.format(response=r) for r in responses],
                                      max_new_tokens=self.max_new_tokens, temperature=0.0)
        return [parse_claims(o) for o in outputs]

    def verify(self, claims, inputs) -> list[list[list[int]]]:
        jobs = [(r, c, sources) for r, (cs, sources) in enumerate(zip(claims, inputs, strict=True)) for c in cs]
        outputs = self.agent.generate(
            [VERIFY_PROMPT.format(sources="\n".join(f"{i + 1}. {s}" for i, s in enumerate(sources)), claim=c)
             for _, c, sources in jobs], max_new_tokens=16, temperature=0.0) if jobs else []
        result: list[list[list[int]]] = [[] for _ in claims]
        for (r, _, sources), output in zip(jobs, outputs, strict=True):
            result[r].append(parse_support(output, len(sources)))
        return result


@dataclass(frozen=True)
class PICScore:
    precision: float
    recall: float
    f1: float
    claims: int  # response claims, repeats counted once
    unsupported: int


def score_one(supports: Sequence[Sequence[int]], k: int) -> PICScore:
    """PIC's scores of one response from its claims' supporting input indices and K."""
    n = len(supports)
    unsupported = sum(1 for s in supports if not s)
    if k < 1 or n == 0:
        return PICScore(0.0, 0.0, 0.0, n, unsupported)
    precision = (n - unsupported) / n
    recall = min(len({i for s in supports for i in s}) / k, 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PICScore(precision, recall, f1, n, unsupported)


def evaluate(responses: Sequence[str], claim_lists: Sequence[Sequence[str]], judge: Judge) -> tuple[list[PICScore], dict]:
    """Per-response scores and their macro-averages, perfect-precision and perfect-F1 rates."""
    if len(responses) != len(claim_lists):
        raise DataError(f"PIC: {len(responses)} responses but {len(claim_lists)} claim lists")
    inputs = [unique(c) for c in claim_lists]
    extracted = [unique(c) for c in judge.extract(responses)]
    supports = judge.verify(extracted, inputs)
    scores = [score_one(s, len(c)) for s, c in zip(supports, inputs, strict=True)]
    return scores, summarize(scores)


def summarize(scores: Sequence[PICScore]) -> dict[str, float]:
    if not scores:
        raise DataError("PIC: no responses to score")
    n = len(scores)
    return {
        "precision": sum(s.precision for s in scores) / n,
        "recall": sum(s.recall for s in scores) / n,
        "f1": sum(s.f1 for s in scores) / n,
        "perfect_precision": sum(s.precision == 1.0 for s in scores) / n,
        "perfect_f1": sum(s.f1 == 1.0 for s in scores) / n,
        "unsupported": sum(s.unsupported for s in scores) / n,
        "count": n,
    }


# ---- weakly supervised preference data ---------------------------------------------------------


def drop_claims(claims: Sequence[str], setting: Setting, rng: random.Random) -> list[str] | None:
    """A random subset C′ of the claims (order kept), or None when there are too few (n ≤ 1) to drop any."""
    n = len(claims)
    if n <= 1:
        return None
    low, high = max(1, math.floor(DROP_LOW[setting] * n)), min(n - 1, math.floor(DROP_HIGH * n))
    dropped = set(rng.sample(range(n), rng.randint(low, max(low, high))))
    return [c for i, c in enumerate(claims) if i not in dropped]


@dataclass
class PreferenceRow:
    prompt: str  # the PIC prompt with the context claims, as the policy sees it
    chosen: str
    rejected: str
    claims: list[str] = field(default_factory=list)  # the context claims
    drop: float = 0.0  # logp(y) − logp(y′), last LAST_K tokens

    def pair(self) -> dict[str, str]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


def preference_data(policy, reference, items: Sequence[PICItem], seed: int = 0, last_k: int = LAST_K,
                    tau: dict[str, float] | None = None, generation: dict | None = None) -> list[PreferenceRow]:
    """PIC-LM's pairs: regenerate each item from fewer claims, keep whichever response the reference prefers.

    policy: the Agent being trained. It writes y′ from the reduced claims C′ (PIC-LM sampled, T 0.5,
    top-k 20), with `generation` as its GenerationOptions overrides; `seed` draws the dropped claims.
    Each pair's prompt is rendered as the policy sees it (its chat template when it has one): that is
    the text DPO trains it to continue.
    reference: an Agent whose mean log-prob of each response's last `last_k` tokens, given only the
    instruction, ranks y against y′. Items without a response, with ≤ 1 claim, or whose y′ is empty
    or equal to y are skipped.
    """
    tau = tau or TAU
    rng = random.Random(seed)
    todo = []
    for item in items:
        if item.response is None:
            continue
        reduced = drop_claims(item.claims, item.setting, rng)
        if reduced is not None:
            todo.append((item, reduced))
    if not todo:
        raise DataError("PIC: no item has a response and two or more claims to build preference data from")
    regenerated = [o.strip() for o in policy.generate([item.prompt(c) for item, c in todo], **(generation or {}))]
    kept = [(item, c, y2) for (item, c), y2 in zip(todo, regenerated, strict=True) if y2 and y2 != item.response]
    if not kept:
        return []
    instructions = [item.instruction for item, _, _ in kept]
    logp_y = reference.score(instructions, [item.response for item, _, _ in kept], reduction="mean", last_k=last_k)
    logp_y2 = reference.score(instructions, [y2 for _, _, y2 in kept], reduction="mean", last_k=last_k)
    rows = []
    for (item, reduced, y2), a, b in zip(kept, logp_y, logp_y2, strict=True):
        drop = a - b
        if 1 / (1 + math.exp(-drop)) > tau[item.setting]:
            rows.append(PreferenceRow(render(policy, item.prompt()), item.response, y2, list(item.claims), drop))
        else:
            rows.append(PreferenceRow(render(policy, item.prompt(reduced)), y2, item.response, reduced, drop))
    return rows


def render(agent, prompt: str) -> str:
    """The exact text the agent continues for a prompt (chat-templated when it uses one)."""
    return agent.render(prompt, chat=agent.uses_chat(agent.options()))
