"""Where Data Swarms' items are written, answered and judged: the actors behind every round.

Generators are particles (LoRA vectors on one base), so writing is one batched generation on the
evaluator actors, every row with its particle's weights, the few-shot prompts shared by all
particles of a round (common random numbers: generators differ only in their weights). Test
takers are weight vectors too: a taker without an adapter is the zero vector, i.e. its base. When
takers and generators share the base and the adapter layout, one evaluator pool serves both (the
slots are rewritten by every call); otherwise the takers get a pool of their own. The LLM judge,
when there is one, is an ordinary agent actor.

Every draw derives from the run seed and a tag naming the round: the few-shot examples, the
sampling seed and the padding, so a resumed run writes exactly what the uninterrupted one did.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import torch

from rayswarm.actors.host import ModelHost, base_key
from rayswarm.actors.pool import AgentPool
from rayswarm.agents.datagen import Item, judge_prompt, judge_score, parse_items, with_targets
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.execute import NodeRequest
from rayswarm.graphs.messages import SOURCE_TEMPLATE
from rayswarm.graphs.spec import AgentSpec
from rayswarm.graphs.tasks import Example, get_metric
from rayswarm.swarms.evaluator import EvaluatorPool
from rayswarm.swarms.experts import Experts

if TYPE_CHECKING:
    from rayswarm.swarms.data_swarms import DataSwarmsSettings


def load_takers(takers: dict[str, AgentSpec]) -> Experts:
    """The test takers as a (T × D) matrix; a taker without a LoRA adapter is the zero vector (its base).

    All of them answer in one batch, so with the first taker's decoding options."""
    host = ModelHost(takers)  # one base for all: a ConfigError names the misfits otherwise
    adapted = [name for name in takers if name in host.adapters]
    if not adapted:
        raise ConfigError("the test takers run as LoRA vectors on one base: at least one needs an adapter")
    vectors = {name: host.get_vector(name) for name in adapted}
    if len({v.numel() for v in vectors.values()}) > 1:
        raise ConfigError("the test takers' LoRA adapters differ in shape: they must share one layout")
    zero = torch.zeros_like(vectors[adapted[0]])
    template = takers[adapted[0]].model_copy(update={"generation": next(iter(takers.values())).generation})
    return Experts(list(takers), torch.stack([vectors.get(name, zero) for name in takers]), template)


class Arena:
    """Generators write, test takers answer, the judge scores: `slots` particles of each at most."""

    def __init__(self, generators: Experts, takers: Experts, settings: DataSwarmsSettings, metric: str, seed: int,
                 slots: int):
        self.generators, self.takers, self.settings, self.seed = generators, takers, settings, seed
        self.metric = get_metric(metric)
        self.format = settings.prompt_format()
        pool = dict(actors=settings.evaluators, num_cpus=settings.evaluator_cpus)
        self.writer = EvaluatorPool(generators.template, slots, **pool)
        shared = (base_key(generators.template) == base_key(takers.template)
                  and generators.vectors.shape[1] == takers.vectors.shape[1])
        self.answerer = self.writer if shared else EvaluatorPool(takers.template, slots, **pool)
        self.judge = AgentPool({"judge": settings.judge}, seed=seed) if settings.judge else None

    def write(self, positions: torch.Tensor, examples: list[Example], tag: str,
              prompts: int) -> tuple[list[list[Item]], Counter, list[int]]:
        """Each generator's items (padded to prompts × items by repeating random ones); the counts:
        outputs, unparseable outputs (no numbered item), items parsed, unjudgeable (no target and no
        judge: dropped), padded; and each generator's usable items before padding."""
        rng = random.Random(f"rayswarm-data-swarms-{self.seed}-{tag}")
        fmt = self.format
        texts = [fmt.prompt(rng.sample(examples, min(fmt.shots, len(examples)))) for _ in range(prompts)]
        options = self.generators.template.generation.model_copy(update={"seed": rng.randrange(2**31)})
        written, counts, usable_counts = [], Counter(), []
        for outputs in self.writer.outputs(positions, texts, options):
            parsed = [with_targets(parse_items(text, fmt.items), self.settings.answer_key) for text in outputs]
            items = [item for part in parsed for item in part]
            usable = [item for item in items if item.target is not None or self.judge is not None]
            padding = [rng.choice(usable) for _ in range(prompts * fmt.items - len(usable))] if usable else []
            counts.update(outputs=len(outputs), unparseable=sum(not part for part in parsed), parsed=len(items),
                          unjudgeable=len(items) - len(usable), padded=len(padding))
            written.append(usable + padding)
            usable_counts.append(len(usable))
        return written, counts, usable_counts

    def score(self, positions: torch.Tensor, items: list[Item]) -> np.ndarray:
        """(takers × items): each taker's score on each item, the exact metric where the item has a target,
        else the judge's rating. Repeated items are answered once."""
        unique = list(dict.fromkeys(items))
        prompts = [SOURCE_TEMPLATE.format(question=item.input) for item in unique]
        answers = self.answerer.outputs(positions, prompts, self.takers.template.generation)
        table = np.array([[self.metric(answer, Example(item.input, item.target)) if item.target is not None else np.nan
                           for answer, item in zip(row, unique, strict=True)] for row in answers]).reshape(
            len(answers), len(unique))
        missing = np.argwhere(np.isnan(table))
        if len(missing):
            table[tuple(missing.T)] = self._rate([(unique[k].input, answers[t][k]) for t, k in missing])
        index = {item: k for k, item in enumerate(unique)}
        return table[:, [index[item] for item in items]]

    def _rate(self, pairs: list[tuple[str, str]]) -> list[float]:
        spec = self.settings.judge
        request = NodeRequest("judge", "judge", [judge_prompt(q, a) for q, a in pairs], spec.system, spec.generation)
        return [judge_score(text) for text in self.judge.generate([request])[0]]

    def accuracy(self, positions: torch.Tensor, examples: list[Example]) -> np.ndarray:
        """Each taker's mean score on task examples (their own targets)."""
        return self.score(positions, [Item(ex.input, ex.target) for ex in examples]).mean(axis=1)

    def sets(self, generators: torch.Tensor, takers: torch.Tensor, examples: list[Example], tag: str,
             prompts: int) -> tuple[np.ndarray, Counter, list[list[Item]]]:
        """(sets × generators × takers) mean scores, NaN for a generator with fewer usable items than
        `min_usable` of those asked for (none at all, by default); the counts (plus `scarce`, such
        generator sets); the first set's items of each generator."""
        drawn = [self.write(generators, examples, f"{tag}-set{r}", prompts) for r in range(self.settings.sets)]
        needed = max(1.0, self.settings.min_usable * prompts * self.format.items)
        flat = [item for written, _, usable in drawn for items, n in zip(written, usable, strict=True)
                if n >= needed for item in items]
        table, start, sets, counts = self.score(takers, flat), 0, [], Counter()
        for written, part, usable in drawn:
            rows = []
            for items, n in zip(written, usable, strict=True):
                if n >= needed:
                    rows.append(table[:, start : start + len(items)].mean(axis=1))
                    start += len(items)
                else:
                    rows.append(np.full(len(takers), np.nan))
            sets.append(rows)
            counts.update(part)  # update, not +: zero counts stay in the log
            counts.update(scarce=sum(n < needed for n in usable))
        return np.array(sets), counts, drawn[0][0]

    def shutdown(self) -> None:
        for pool in {id(p): p for p in (self.writer, self.answerer)}.values():
            pool.shutdown()
        if self.judge is not None:
            self.judge.shutdown()
