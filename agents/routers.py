"""How a router (graphs/ensembles.py Router) picks the candidate that answers each prompt.

prompted  The router agent reads the numbered candidates, what each is good at, and the request,
          and replies with a name or a number. The first candidate named or numbered anywhere in the
          reply counts; a reply naming none goes to the first candidate, and those are counted in the
          log, since a router that never answers in form is a plain first candidate in disguise.
trained   Every candidate answers the dev split of `train_task` once; an example's label is which
          candidates got it right (the task's metric). A multinomial logistic regression over hashed
          word and character-trigram counts of the prompt learns which candidate is most likely right.
          It costs one generation per candidate per dev example (`train_limit` bounds them) and about
          a second of fitting, once per process for each ensemble, members, options and system prompt.

The classifier needs no new dependency (torch, zlib) and no randomness: features are hashed with
CRC-32, not Python's salted hash(), and the weights start at zero, so a run repeats exactly.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rayswarm.agents.ensemble import Members
from rayswarm.agents.tasksource import load_task_source
from rayswarm.graphs.ensembles import Router
from rayswarm.graphs.errors import DataError
from rayswarm.graphs.messages import SOURCE_TEMPLATE
from rayswarm.graphs.spec import GenerationOptions

log = logging.getLogger(__name__)

ROUTER_PROMPT = ("Which assistant should answer the request below? Reply with its name or number only.\n"
                 "{candidates}Request: {prompt}")
CANDIDATE_LINE = "{number}. {name}: {description}\n"
ROUTER_TOKENS = 16  # enough for a name or a number; the router's reply is greedy and cut short
FEATURES = 4096  # hashed buckets: collisions are rare among a few hundred short questions' n-grams


def prompted_choices(spec: Router, members: Members, prompts: list[str], options: GenerationOptions,
                     system: str | None) -> list[int]:
    """The index of the candidate the router agent names for each prompt."""
    listing = "".join(CANDIDATE_LINE.format(number=k, name=name, description=spec.descriptions.get(name, name))
                      for k, name in enumerate(spec.agents, start=1))
    asking = members.spec(spec.router).generation.model_copy(
        update={"max_new_tokens": ROUTER_TOKENS, "temperature": 0.0, "budget": None})
    replies = members.generate(spec.router, [ROUTER_PROMPT.format(candidates=listing, prompt=prompt)
                                             for prompt in prompts], asking, system)
    choices = [parse_choice(reply, spec.agents) for reply in replies]
    if None in choices:
        log.warning("router '%s': %d of %d replies named no candidate; '%s' answered those",
                    spec.router, choices.count(None), len(choices), spec.agents[0])
    return [0 if choice is None else choice for choice in choices]


def parse_choice(reply: str, candidates: list[str]) -> int | None:
    """The candidate a reply names or numbers (from 1) first; None if it names none.

    At one place, the longest name wins ("codes2" over "codes"); names and numbers count only as
    whole words, so "expert2" is not the number 2, and "3" for two candidates is nothing.
    """
    found = [(m.start(), -len(name), k) for k, name in enumerate(candidates)
             for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", reply, re.IGNORECASE)]
    found += [(m.start(), 0, int(m.group()) - 1) for m in re.finditer(r"\b\d+\b", reply)
              if 1 <= int(m.group()) <= len(candidates)]
    return min(found)[2] if found else None


@dataclass(frozen=True)
class Classifier:
    weight: torch.Tensor  # [FEATURES, candidates]
    bias: torch.Tensor  # [candidates]

    def choose(self, texts: list[str]) -> list[int]:
        """The most likely right candidate for each text (ties to the first)."""
        return (featurize(texts) @ self.weight + self.bias).argmax(dim=1).tolist()


_trained: dict[str, Classifier] = {}


def trained_choices(spec: Router, members: Members, prompts: list[str], options: GenerationOptions,
                    system: str | None) -> list[int]:
    """The index of the candidate the trained classifier picks for each prompt (trained on first use)."""
    # Keyed by everything that decides the labels, so two graphs sharing an ensemble's name never share its router.
    key = json.dumps([spec.model_dump(mode="json"), [members.spec(a).model_dump(mode="json") for a in spec.agents],
                      options.model_dump(mode="json"), system])
    if key not in _trained:
        _trained[key] = train_router(spec, members, options, system)
    return _trained[key].choose(prompts)


def train_router(spec: Router, members: Members, options: GenerationOptions, system: str | None) -> Classifier:
    """Label the dev examples by which candidates answer them right, and fit the classifier to that."""
    task = load_task_source(spec.train_task, split="dev", limit=spec.train_limit)
    # The prompt a source node sends: the classifier reads at training what it reads in a graph.
    prompts = [SOURCE_TEMPLATE.format(question=question) for question in task.inputs]
    right = torch.tensor([task.score(members.generate(agent, prompts, options, system)) for agent in spec.agents]).T
    known = right.sum(dim=1) > 0  # an example no candidate gets right says nothing about whom to ask
    if not known.any():
        raise DataError(f"router: no candidate answered any of the {len(prompts)} dev examples of "
                        f"'{spec.train_task}' right, so there is nothing to learn a route from")
    log.info("router trained on %d of %d dev examples of '%s'; each candidate alone: %s", int(known.sum()),
             len(prompts), spec.train_task, ", ".join(f"{a} {s:.0%}" for a, s in zip(spec.agents, right.mean(0).tolist(), strict=True)))
    kept = [prompt for prompt, keep in zip(prompts, known.tolist(), strict=True) if keep]
    return fit(featurize(kept), right[known] / right[known].sum(dim=1, keepdim=True))


def fit(features: torch.Tensor, targets: torch.Tensor, steps: int = 200, lr: float = 0.1) -> Classifier:
    """Multinomial logistic regression on soft targets (right candidates share an example), full batch."""
    weight = torch.zeros(features.shape[1], targets.shape[1], requires_grad=True)
    bias = torch.zeros(targets.shape[1], requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr, weight_decay=1e-4)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(features @ weight + bias, targets).backward()
            optimizer.step()
    return Classifier(weight.detach(), bias.detach())


def featurize(texts: list[str]) -> torch.Tensor:
    """Hashed counts of each text's words and character trigrams (lowercased), rows of unit length."""
    rows = torch.zeros(len(texts), FEATURES)
    for row, text in enumerate(texts):
        padded = f" {text.lower()} "
        grams = [f"word {word}" for word in padded.split()] + [padded[i:i + 3] for i in range(len(padded) - 2)]
        for gram in grams:
            rows[row, zlib.crc32(gram.encode()) % FEATURES] += 1.0
    return F.normalize(rows, dim=1)
