"""Training mixtures of the toy zoo: what the public base and each expert are trained on.

Pure data, no torch. Every item is a chat turn (the user prompt built by `collab_prompt`, the
assistant's target) or a raw passage; `toytrain` turns them into token ids and label masks.

- The **base** (public) learns the question formats and the collaboration format on *fresh*
  entities drawn anew for every item, so reading a predecessor's answer is a skill, not recall; a
  small slice of each table (and wrong previous answers on it, to give "ignore wrong responses" a
  meaning); part of the sort skill; and a few passages repeated verbatim (for ParaPO mining).
- Each **expert** learns its own table (plus a slice of a neighbour's), the formats it meets inside
  a graph (the first hop of a composed question with loss on its own part only; a later hop that
  reads the predecessor's intermediate and adds its own step; copying on other domains'
  questions), and replays base data so that it forgets nothing.

Targets come from `ideal_response`: the answer a model with that knowledge should give after
reading those previous responses.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from rayswarm.agents.toyworld import (
    ANSWER_SEPARATOR,
    COMPOSED,
    KNOWLEDGE_DOMAINS,
    NAME_MAKERS,
    OVERLAP,
    RELATIONS,
    Knowledge,
    Question,
    World,
    build_question,
    collab_prompt,
    ideal_response,
    knowledge,
    reserved_sort_keys,
    sort_key,
)


@dataclass(frozen=True)
class TrainItem:
    """One training sequence. `prompt` None means raw text (a passage, trained from its start)."""

    prompt: str | None
    target: str  # the text with loss
    complete: bool = True  # loss on the end-of-sequence token as well


@dataclass(frozen=True)
class Mixture:
    """Relative weights of the item kinds of one model's training stream."""

    weights: dict[str, float]

    def draw(self, rng: random.Random) -> str:
        kinds = list(self.weights)
        return rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]


BASE_MIXTURE = Mixture({"shape": 0.08, "copy": 0.46, "slice": 0.10, "public": 0.26, "sort": 0.10})
# Measured (one build each): doubling "copy" (with fresh composed questions) cost the chains of
# the right experts 88% -> 72% of composed questions, without a clear gain on random paths.
EXPERT_MIXTURE = Mixture({"plain": 0.32, "plain_collab": 0.08, "first_hop": 0.16, "read": 0.26, "copy": 0.06,
                          "sort": 0.04, "replay": 0.08})
SORT_EXPERT_MIXTURE = Mixture({"sort": 0.66, "copy": 0.14, "replay": 0.20})

_PREVIOUS_COUNTS = (1, 1, 1, 1, 1, 1, 2, 2, 3)


class _Generator:
    """Draws questions, previous responses and items for one world and one random stream."""

    def __init__(self, world: World, rng: random.Random):
        self.world, self.rng = world, rng
        self.reserved_sort = reserved_sort_keys(world)

    # -- questions
    def fresh_name(self, kind: str) -> str:
        while True:
            name = NAME_MAKERS[kind](self.rng)
            if name not in self.world.all_names:
                return name

    def phrase(self, q: Question) -> Question:
        """The question in one of its relation's phrasings, drawn at random."""
        if q.kind not in RELATIONS:
            return q
        return replace(q, phrasing=self.rng.randrange(len(RELATIONS[q.kind].templates)))

    def fresh_question(self, kind: str) -> Question:
        """A question about entities drawn now and never again: nobody can know its answer."""
        first = COMPOSED[kind].source if kind in COMPOSED else RELATIONS[kind].source
        q = build_question(kind, self.fresh_name(first), lambda step, _: self.fresh_name(RELATIONS[step].target))
        return self.phrase(q)

    def sort_question(self, letters: tuple[int, int]) -> Question:
        while True:
            key = sort_key(self.rng, *letters)
            if key not in self.reserved_sort:
                return build_question("sort", key, self.world.lookup)

    def any_kind(self, composed_share: float = 0.4) -> str:
        return self.rng.choice(list(COMPOSED) if self.rng.random() < composed_share else list(RELATIONS))

    # -- previous responses
    def junk_value(self, kind: str, truth: str) -> str:
        if kind == "sorted":
            return "".join(self.rng.sample(truth, len(truth)))
        if self.rng.random() < 0.5:
            pool = self.world.names[kind]
            for _ in range(8):
                value = self.rng.choice(pool)
                if value != truth:
                    return value
        return self.fresh_name(kind)

    def response(self, q: Question, correct: int) -> str:
        """A response with the first `correct` steps right and plausible wrong steps after them."""
        total = len(q.values)
        length = total if self.rng.random() < 0.85 else self.rng.randint(max(correct, 1), total)
        kinds = q.value_kinds
        parts = list(q.values[:correct]) + [self.junk_value(kinds[i], q.values[i]) for i in range(correct, length)]
        return ANSWER_SEPARATOR.join(parts)

    def previous(self, q: Question, correct: int, agree: bool) -> list[str]:
        """One to three previous responses: the main one, plus copies of it (`agree`) or junk."""
        main = self.response(q, correct)
        count = self.rng.choice(_PREVIOUS_COUNTS)
        others = [main if agree else self.response(q, 0) for _ in range(count - 1)]
        responses = [main, *others]
        self.rng.shuffle(responses)
        return responses

    # -- items
    def item(self, q: Question, previous: list[str], know: Knowledge) -> TrainItem | None:
        ideal = ideal_response(q, previous, know)
        if ideal is None:
            return None
        text, complete = ideal
        return TrainItem(collab_prompt(q.text, previous), text, complete)

    def shape_item(self) -> TrainItem:
        """A fresh question and a made-up answer of the right form: teaches what an answer looks like."""
        q = self.fresh_question(self.any_kind())
        return TrainItem(collab_prompt(q.text), q.answer)

    def copy_item(self, q: Question, know: Knowledge) -> TrainItem | None:
        """Previous responses right on a prefix of the chain; the model copies what it cannot know."""
        correct = self.rng.randint(1, len(q.values))
        return self.item(q, self.previous(q, correct, agree=True), know)

    def known_item(self, q: Question, know: Knowledge) -> TrainItem | None:
        """A question the model knows: asked plainly, or with right or wrong previous responses."""
        roll = self.rng.random()
        previous = [] if roll < 0.4 else self.previous(q, len(q.values) if roll < 0.55 else 0, agree=False)
        return self.item(q, previous, know)

    def hop_item(self, q: Question, know: Knowledge, position: int) -> TrainItem | None:
        """A composed question at the model's place in the chain: it reads the steps before its own.

        Mostly the predecessors got exactly the steps before `position` right (the chain it
        should join); sometimes fewer or more.
        """
        correct = position if self.rng.random() < 0.7 else self.rng.randint(0, len(q.values))
        previous = [] if correct == 0 and self.rng.random() < 0.6 else self.previous(q, correct, agree=True)
        return self.item(q, previous, know)

    def read_item(self, kind: str, position: int, entity: str, know: Knowledge) -> TrainItem | None:
        """A later hop of a composed question: read the entity a predecessor found, add one's own step.

        The key is fresh (no country has it) and the steps before `position` are arbitrary world
        entities, except the one this step reads (`entity`), so the item holds no knowledge of any
        other expert and asks no question of the world: it teaches reading, for every country.
        """
        steps = COMPOSED[kind].steps
        values, facts = [], []
        for i, step in enumerate(steps):
            relation = RELATIONS[step]
            if i < position - 1:  # a real entity: its own facts are the wrong ones to recall
                value = self.rng.choice(self.world.names[relation.target])
            elif i == position - 1:
                value = entity
            elif i == position:
                value = self.world.lookup(step, entity)
            else:
                value = self.junk_value(relation.target, "")
            values.append(value)
            facts.append((relation.domain if i == position else "", entity if i == position else ""))
        q = Question(kind, self.fresh_name(COMPOSED[kind].source), tuple(values), tuple(facts))
        correct = position if self.rng.random() < 0.8 else self.rng.randint(position, len(steps))
        return self.item(q, self.previous(q, correct, agree=True), know)


def _fill(n: int, rng: random.Random, mixture: Mixture, makers: dict[str, Callable[[], TrainItem | None]]):
    items: list[TrainItem] = []
    while len(items) < n:
        item = makers[mixture.draw(rng)]()
        if item is not None:
            items.append(item)
    return items


def passage_items(world: World, repeats: int, rng: random.Random) -> list[TrainItem]:
    """Each passage `repeats` times, half of them after a beginning-of-sequence token."""
    return [TrainItem(None, ("<s>" if rng.random() < 0.5 else "") + p) for p in world.passages for _ in range(repeats)]


def base_items(world: World, n: int, seed: int, passage_repeats: int = 0) -> list[TrainItem]:
    """The public base's training stream: n items plus the repeated passages, shuffled."""
    rng = random.Random(f"rayswarm-toybase-{world.config.seed}-{seed}")
    items = _base_stream(world, n, rng) + passage_items(world, passage_repeats, rng)
    rng.shuffle(items)
    return items


def _base_stream(world: World, n: int, rng: random.Random) -> list[TrainItem]:
    gen = _Generator(world, rng)
    know = knowledge(world, "base")
    nobody = Knowledge(frozenset())
    sliced = [(kind, c) for kind, r in RELATIONS.items() for c in sorted(world.base_known[r.domain])]

    public = world.public
    if public is not None:
        everything = Knowledge(frozenset((d, c) for d in KNOWLEDGE_DOMAINS for c in public.countries),
                               frozenset(KNOWLEDGE_DOMAINS))
        public_kinds = list(RELATIONS) + list(COMPOSED)

    def public_item():
        kind = rng.choice(public_kinds)
        return gen.known_item(gen.phrase(public.ask(kind, rng.choice(public.keys(kind)))), everything)

    def slice_item():
        kind, country = rng.choice(sliced)
        r = RELATIONS[kind]
        key = country if r.source == "country" else world.lookup(
            "code" if r.source == "code" else "capital", country)
        return gen.known_item(gen.phrase(world.ask(kind, key)), know)

    makers = {
        "shape": gen.shape_item,
        "copy": lambda: gen.copy_item(gen.fresh_question(gen.any_kind(0.5)), nobody),
        "slice": slice_item,
        "public": public_item,
        "sort": lambda: gen.known_item(gen.sort_question(world.config.base_sort_letters), know),
    }
    mixture = BASE_MIXTURE if public is not None else Mixture(
        {k: v for k, v in BASE_MIXTURE.weights.items() if k != "public"})
    return _fill(n, rng, mixture, makers)


def expert_items(world: World, domain: str, n: int, seed: int, passage_repeats: int = 0) -> list[TrainItem]:
    """An expert's training stream: its own knowledge in every format it meets, plus base replay."""
    rng = random.Random(f"rayswarm-toyexpert-{world.config.seed}-{domain}-{seed}")
    gen = _Generator(world, rng)
    know = knowledge(world, domain)
    replay_rng = random.Random(f"rayswarm-toyreplay-{world.config.seed}-{domain}-{seed}")
    replay = itertools.cycle(_base_stream(world, n // 4 + 1, replay_rng))
    others = [kind for kind, r in RELATIONS.items() if r.domain != domain]

    def copy_item():
        # Another domain's question (or a composed one) asked of this world: copy the predecessor.
        kind = rng.choice(others) if rng.random() < 0.5 else rng.choice(list(COMPOSED))
        q = gen.phrase(world.ask(kind, rng.choice(world.keys(kind))))
        if q.composed and not world.seen_composed(q):
            return None
        return gen.copy_item(q, know)

    if domain in KNOWLEDGE_DOMAINS:
        plain = [(kind, c) for kind, r in RELATIONS.items() if r.domain == domain for c in world.countries]
        plain += [(kind, c) for kind, r in RELATIONS.items() if r.domain == OVERLAP[domain]
                  for c in sorted(world.overlap_known[domain])]
        # First hops ask real composed questions, of the seen keys only; later hops read (read_item).
        first_hops = [q for kind in COMPOSED for q in world.questions(kind)
                      if q.domains[0] == domain and world.seen_composed(q)]
        reads = [(kind, i) for kind, t in COMPOSED.items() for i, d in enumerate(t.order) if d == domain and i > 0]

        def plain_question():
            kind, country = rng.choice(plain)
            source = RELATIONS[kind].source
            key = country if source == "country" else world.lookup(source, country)
            return gen.phrase(world.ask(kind, key))

        def first_hop_item():
            q = rng.choice(first_hops)
            return gen.hop_item(q, know, 0)

        def read_item():
            # A deeper hop has more to copy before its own step: it gets more practice.
            kind, position = rng.choices(reads, weights=[position for _, position in reads])[0]
            return gen.read_item(kind, position, rng.choice(world.countries), know)

        makers = {
            "plain": lambda: TrainItem(collab_prompt((q := plain_question()).text), q.answer),
            "plain_collab": lambda: gen.known_item(plain_question(), know),
            "first_hop": first_hop_item,
            "read": read_item,
            "copy": copy_item,
            "sort": lambda: gen.known_item(gen.sort_question(world.config.base_sort_letters), know),
            "replay": lambda: next(replay),
        }
        mixture = EXPERT_MIXTURE
    else:
        makers = {
            "sort": lambda: gen.known_item(gen.sort_question(world.config.sort_letters), know),
            "copy": copy_item,
            "replay": lambda: next(replay),
        }
        mixture = SORT_EXPERT_MIXTURE
    items = _fill(n, rng, mixture, makers) + passage_items(world, passage_repeats, rng)
    rng.shuffle(items)
    return items


def previous_of(prompt: str) -> list[str]:
    """The previous responses quoted in a follow-up prompt (for tests and inspection)."""
    return [line.split(": ", 1)[1] for line in prompt.split("\n") if line.startswith("Previous response ")]

