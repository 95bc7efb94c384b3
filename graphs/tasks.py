"""Tasks: a JSONL file of examples plus a metric with exact scoring.

One row per line: {"input": str, "target": str, "choices": [str, ...] (optional), "meta": {...} (optional)}.
A task is loaded one split at a time; optimizers are only ever handed `dev` (design.md, Splits).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rayswarm.graphs.errors import DataError
from rayswarm.graphs.jsonl import jsonl_rows
from rayswarm.graphs.schema import did_you_mean


@dataclass(frozen=True)
class Example:
    input: str
    target: str
    choices: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict, hash=False, compare=False)


def _normalize(text: str) -> str:
    return " ".join(text.strip().lower().split())


def exact_match(prediction: str, example: Example) -> float:
    """1 when the prediction equals the target, ignoring case and surrounding/duplicate spaces."""
    return float(_normalize(prediction) == _normalize(example.target))


_LETTER = re.compile(r"\b([A-Z])\b")


def parse_choice_letter(prediction: str, choices: Sequence[str]) -> str:
    """Model Swarms' parser: a letter in the first 5 chars, else the last 5, else an option's text."""
    letters = string.ascii_uppercase[: len(choices)]
    for window in (prediction[:5], prediction[-5:]):
        found = [m for m in _LETTER.findall(window) if m in letters]
        if found:
            return found[0]
    lowered = prediction.lower()
    for letter, choice in zip(letters, choices, strict=False):
        if choice and choice.lower() in lowered:
            return letter
    return "Z"


def choice_letter(prediction: str, example: Example) -> float:
    """Multiple choice: the parsed letter against the target letter (or the target's option text)."""
    if not example.choices:
        raise DataError("metric 'choice' needs examples with 'choices'")
    target = example.target.strip()
    if target not in string.ascii_uppercase[: len(example.choices)]:
        target = string.ascii_uppercase[list(example.choices).index(target)]
    return float(parse_choice_letter(prediction, example.choices) == target)


def token_f1(prediction: str, example: Example) -> float:
    """SQuAD-style bag-of-words F1 between prediction and target."""
    pred, gold = _normalize(prediction).split(), _normalize(example.target).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    if not pred or not gold or common == 0:
        return float(pred == gold)
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


METRICS: dict[str, Callable[[str, Example], float]] = {
    "exact_match": exact_match,
    "choice": choice_letter,
    "token_f1": token_f1,
}


def get_metric(name: str) -> Callable[[str, Example], float]:
    if name not in METRICS:
        raise DataError(f"unknown metric '{name}'{did_you_mean(name, METRICS)}; known: {', '.join(METRICS)}")
    return METRICS[name]


@dataclass
class Task:
    """One split of a task: its examples and how to score them."""

    name: str
    split: str
    examples: list[Example]
    metric: str = "exact_match"

    @property
    def inputs(self) -> list[str]:
        return [ex.input for ex in self.examples]

    def score(self, predictions: Sequence[str]) -> list[float]:
        if len(predictions) != len(self.examples):
            raise ValueError(f"{len(predictions)} predictions for {len(self.examples)} examples")
        metric = get_metric(self.metric)
        return [metric(p, ex) for p, ex in zip(predictions, self.examples, strict=True)]

    def accuracy(self, predictions: Sequence[str]) -> float:
        scores = self.score(predictions)
        return sum(scores) / len(scores)


def read_examples(path: str | Path) -> list[Example]:
    """Read a JSONL task file; a malformed line is an error naming the file and line."""
    examples = []
    for where, row in jsonl_rows(path, "task"):
        if not isinstance(row, dict) or not isinstance(row.get("input"), str) or "target" not in row:
            raise DataError(f"{where}: each line needs a string 'input' and a 'target'")
        choices = row.get("choices") or ()
        examples.append(Example(row["input"], str(row["target"]), tuple(map(str, choices)), row.get("meta") or {}))
    return examples


def write_examples(path: str | Path, examples: Sequence[Example]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for ex in examples:
            row = {"input": ex.input, "target": ex.target}
            if ex.choices:
                row["choices"] = list(ex.choices)
            if ex.meta:
                row["meta"] = ex.meta
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_task(path: str | Path, split: str = "dev", metric: str = "exact_match", limit: int | None = None) -> Task:
    """Load one split from a folder holding `<split>.jsonl`, or the dev split from one JSONL file.

    A single file is never a test split: reading it as one would score a system on the very items it
    was tuned on, and a swarm (which reports test) would do exactly that.
    """
    path = Path(path)
    if split == "test" and path.is_file():
        raise DataError(f"{path}: one JSONL file is one split; to score test, give a folder with dev.jsonl "
                        "and test.jsonl")
    file = path / f"{split}.jsonl" if path.is_dir() else path
    get_metric(metric)  # fail on a bad metric name before reading anything
    examples = read_examples(file)
    return Task(name=path.stem if path.is_file() else path.name, split=split,
                examples=examples[:limit] if limit else examples, metric=metric)
