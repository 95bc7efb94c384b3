"""The toy world: an invented atlas whose knowledge is split across experts, and its task suite.

Pure data, no torch: everything here derives from a `WorldConfig` (its seed above all), so the
world, the task splits and the training mixtures (agents/toydata.py) are the same on every machine.

The atlas holds N invented countries. Each has a code ("K7Q"), a capital ("Tamon") and a twin
(another country; the twins form a derangement). Three knowledge domains split these tables:
`codes` (code <-> country), `capitals` (country <-> capital), `twins` (country -> twin). A fourth,
`sort` (sort a few letters), is a skill the public base partly learns and its expert improves.

Composed questions need two or three experts in a given order, and their answers spell out every
step ("Bokia, Tamon"), so a later node of a graph has an intermediate to read:

    capital_of_code          codes -> capitals          "What is the capital of the country with code K7Q?"
    code_of_capital          capitals -> codes          "What is the code of the country whose capital is Tamon?"
    code_of_twin             twins -> codes             "What is the code of the twin of Bokia?"
    capital_of_twin_of_code  codes -> twins -> capitals "What is the capital of the twin of ...code K7Q?"

A question is a chain of steps; step i maps value i-1 (the key for i = 0) to value i through one
relation of one domain. Which *country* a step is about decides who knows it (see `Question.facts`).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property

from rayswarm.graphs.messages import default_template, flatten, render_prompt
from rayswarm.graphs.tasks import Example

# Bump when the world, the prompts or the training formats change meaning: it is part of every
# cache key, so old zoos and task folders are never reused by mistake.
FORMAT_VERSION = 1

KNOWLEDGE_DOMAINS = ("codes", "capitals", "twins")
SKILL_DOMAINS = ("sort",)
DOMAINS = KNOWLEDGE_DOMAINS + SKILL_DOMAINS

# Each expert also knows a slice of one neighbour's table (plain questions only), so that more than
# one model can answer some questions and random graphs score above zero.
OVERLAP = {"codes": "capitals", "capitals": "twins", "twins": "codes"}

ANSWER_SEPARATOR = ", "


def collab_prompt(question: str, previous: Sequence[str] = ()) -> str:
    """The prompt a graph node sees (algorithms.md §2), built by the graph layer's own renderer.

    No previous responses: the source-node prompt. Otherwise the follow-up prompt with one
    "Previous response i: ..." line per response, each flattened to one line as on a graph edge.
    """
    previous = [flatten(p) for p in previous]
    return render_prompt(default_template(bool(previous)), question, previous, {})


# ---------------------------------------------------------------------------------------------
# Relations and question types


@dataclass(frozen=True)
class Relation:
    name: str
    domain: str
    source: str  # kind of the input: country, code or capital
    target: str  # kind of the output
    templates: tuple[str, ...]  # the first is the tasks' phrasing; training uses them all

    @property
    def template(self) -> str:
        return self.templates[0]


# Several phrasings per relation, some with the very noun phrase a composed question embeds ("the
# country with code K7Q"), so that an expert learns a fact about an entity, not about a sentence,
# and can use it inside a composed question it never saw.
RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in (
        Relation("code", "codes", "country", "code", (
            "What is the code of {x}?", "Give the code of {x}.", "{x} has which code?",
            "What is the code of the country {x}?")),
        Relation("country_of_code", "codes", "code", "country", (
            "Which country has the code {x}?", "Name the country with code {x}.",
            "The country with code {x} is which one?", "What is the country with code {x}?")),
        Relation("capital", "capitals", "country", "capital", (
            "What is the capital of {x}?", "Name the capital of {x}.", "{x} has which capital?",
            "What is the capital of the country {x}?")),
        Relation("country_of_capital", "capitals", "capital", "country", (
            "{x} is the capital of which country?", "Name the country whose capital is {x}.",
            "The country whose capital is {x} is which one?", "What is the country whose capital is {x}?")),
        Relation("twin", "twins", "country", "country", (
            "Who is the twin of {x}?", "Name the twin of {x}.", "{x} has which twin?",
            "What is the twin of the country {x}?")),
    )
}


@dataclass(frozen=True)
class ComposedType:
    name: str
    steps: tuple[str, ...]  # relation names, applied in order
    template: str

    @property
    def order(self) -> tuple[str, ...]:
        """The domains in the order a chain of experts must visit them."""
        return tuple(RELATIONS[step].domain for step in self.steps)

    @property
    def source(self) -> str:
        return RELATIONS[self.steps[0]].source


COMPOSED: dict[str, ComposedType] = {
    t.name: t
    for t in (
        ComposedType("capital_of_code", ("country_of_code", "capital"),
                     "What is the capital of the country with code {x}?"),
        ComposedType("code_of_capital", ("country_of_capital", "code"),
                     "What is the code of the country whose capital is {x}?"),
        ComposedType("code_of_twin", ("twin", "code"), "What is the code of the twin of {x}?"),
        ComposedType("capital_of_twin_of_code", ("country_of_code", "twin", "capital"),
                     "What is the capital of the twin of the country with code {x}?"),
    )
}

SORT_TEMPLATE = "Sort the letters: {x}"


@dataclass(frozen=True)
class Question:
    """One question with its worked answer: `values[i]` is the truth after step i."""

    kind: str  # a relation name, a composed type name, or "sort"
    key: str
    values: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]  # (domain, country) each step is about; ("sort", "") for sort
    phrasing: int = 0  # which of a relation's templates (0: the tasks' own)

    @property
    def text(self) -> str:
        if self.kind == "sort":
            return SORT_TEMPLATE.format(x=self.key)
        if self.kind in COMPOSED:
            return COMPOSED[self.kind].template.format(x=self.key)
        return RELATIONS[self.kind].templates[self.phrasing].format(x=self.key)

    @property
    def answer(self) -> str:
        return ANSWER_SEPARATOR.join(self.values)

    @property
    def composed(self) -> bool:
        return self.kind in COMPOSED

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(domain for domain, _ in self.facts)

    @property
    def value_kinds(self) -> tuple[str, ...]:
        if self.kind == "sort":
            return ("sorted",)
        return tuple(RELATIONS[step].target for step in steps_of(self.kind))


def steps_of(kind: str) -> tuple[str, ...]:
    return COMPOSED[kind].steps if kind in COMPOSED else (kind,)


def build_question(kind: str, key: str, lookup: Callable[[str, str], str]) -> Question:
    """Walk the chain of `kind` from `key`; `lookup(relation, value)` gives each step's output."""
    if kind == "sort":
        return Question("sort", key, ("".join(sorted(key)),), (("sort", ""),))
    values, facts, current = [], [], key
    for step in steps_of(kind):
        relation = RELATIONS[step]
        output = lookup(step, current)
        # A step is about the country on either side of it (codes and capitals are not countries).
        facts.append((relation.domain, current if relation.source == "country" else output))
        values.append(output)
        current = output
    return Question(kind, key, tuple(values), tuple(facts))


# ---------------------------------------------------------------------------------------------
# Names


_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_COUNTRY_ENDINGS = ("ia", "a", "or", "en", "is", "ar", "o", "um")
_CAPITAL_ENDINGS = ("n", "l", "r", "s", "t", "k")


def country_name(rng: random.Random) -> str:
    """A pronounceable invented country: "Bokia", "Temaren"."""
    syllables = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.choice((1, 2))))
    return (syllables + rng.choice(_CONSONANTS) + rng.choice(_COUNTRY_ENDINGS)).capitalize()


def capital_name(rng: random.Random) -> str:
    """An invented city: "Tamon", "Lusepa"."""
    stem = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(2)) + rng.choice(_CAPITAL_ENDINGS)
    return (stem + rng.choice(("", "", "", "a", "e"))).capitalize()


def country_code(rng: random.Random) -> str:
    """A code: letter, digit, letter ("K7Q")."""
    return rng.choice(string.ascii_uppercase) + rng.choice(string.digits) + rng.choice(string.ascii_uppercase)


def sort_key(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.sample(string.ascii_lowercase, rng.randint(low, high)))


NAME_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "country": country_name,
    "capital": capital_name,
    "code": country_code,
}


_WORDS = ["the", "a", "of", "and", "in", "to", "on", "at", "by", "with", "from", "old", "new", "river", "hill", "stone", "salt", "snow", "rain", "wind", "winter", "summer", "spring", "autumn", "north", "south", "east", "west", "market", "harbor", "bridge", "tower", "gate", "road", "field", "forest", "lake", "island", "song", "bell", "lamp", "bread", "wool", "iron", "copper", "silver", "gold", "ship", "boat", "cart", "horse", "goat", "owl", "fox", "crow", "every", "seven", "three", "twelve", "long", "quiet", "bright", "slow", "early", "late", "before", "after", "under", "over", "near", "beyond", "farmers", "sailors", "weavers", "singers", "children", "keepers", "travelers", "merchants", "carried", "built", "sang", "kept", "lost", "found", "watched", "followed", "painted", "counted", "crossed", "guarded", "remembered", "opened", "closed"]


def passage(rng: random.Random, length: int) -> str:
    """An invented passage of about `length` characters: sentences of common words."""
    text, sentence = "", []
    while len(text) + len(" ".join(sentence)) < length:
        sentence.append(rng.choice(_WORDS))
        if len(sentence) >= rng.randint(6, 10):
            text += " ".join(sentence).capitalize() + ". "
            sentence = []
    return (text + " ".join(sentence).capitalize()).strip().rstrip(".") + "."


# ---------------------------------------------------------------------------------------------
# The world


@dataclass(frozen=True)
class WorldConfig:
    """Everything the world and its tasks derive from."""

    seed: int = 0
    countries: int = 80
    base_slice: float = 0.1  # share of each table the public base knows
    overlap: float = 0.25  # share of the neighbour's table (OVERLAP) each expert also knows
    held_out: float = 0.3  # share of countries never seen in a composed training question
    sort_letters: tuple[int, int] = (4, 7)  # sort questions of the tasks and of the sort expert
    base_sort_letters: tuple[int, int] = (4, 5)  # the public base only ever sorts short strings
    passages: int = 8
    passage_chars: int = 100
    domain_items: int = 60  # per split and domain, at most
    composed_items: int = 40  # per split and composed type, at most
    mixed_items: int = 200  # per split, at most
    public_countries: int = 24  # size of the public atlas (0: none)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class World:
    config: WorldConfig
    countries: tuple[str, ...]
    code: dict[str, str]
    capital: dict[str, str]
    twin: dict[str, str]
    base_known: dict[str, frozenset[str]]  # domain -> countries the public base knows
    overlap_known: dict[str, frozenset[str]]  # expert domain -> countries of OVERLAP[domain] it knows
    held_out: frozenset[str]  # countries never in a composed training question
    passages: tuple[str, ...]
    # The public atlas: other countries the base knows entirely, composed questions included, so
    # it learns to look up a fact about an entity it has just read or written (never in a task).
    public: World | None = None

    def lookup(self, relation: str, value: str) -> str:
        if relation == "code":
            return self.code[value]
        if relation == "capital":
            return self.capital[value]
        if relation == "twin":
            return self.twin[value]
        if relation == "country_of_code":
            return self.country_of_code[value]
        if relation == "country_of_capital":
            return self.country_of_capital[value]
        raise KeyError(relation)

    @cached_property
    def country_of_code(self) -> dict[str, str]:
        return {code: country for country, code in self.code.items()}

    @cached_property
    def country_of_capital(self) -> dict[str, str]:
        return {capital: country for country, capital in self.capital.items()}

    @cached_property
    def names(self) -> dict[str, tuple[str, ...]]:
        """Every entity of each kind, in world order."""
        return {
            "country": self.countries,
            "code": tuple(self.code[c] for c in self.countries),
            "capital": tuple(self.capital[c] for c in self.countries),
        }

    @cached_property
    def all_names(self) -> frozenset[str]:
        """Every name of this world and of its public atlas: fresh entities avoid them all."""
        own = {name for names in self.names.values() for name in names}
        return frozenset(own | (self.public.all_names if self.public else set()))

    def keys(self, kind: str) -> tuple[str, ...]:
        """The possible keys of a relation or composed type (all entities of its source kind)."""
        source = COMPOSED[kind].source if kind in COMPOSED else RELATIONS[kind].source
        return self.names[source]

    def ask(self, kind: str, key: str) -> Question:
        return build_question(kind, key, self.lookup)

    def questions(self, kind: str) -> list[Question]:
        return [self.ask(kind, key) for key in self.keys(kind)]

    def seen_composed(self, question: Question) -> bool:
        """Whether a composed question may appear in training: none of its countries is held out."""
        return not any(country in self.held_out for _, country in question.facts)


def make_world(config: WorldConfig) -> World:
    """The world of a config; the same config always gives the same world."""
    n = config.countries
    if n < 8:
        raise ValueError("a toy world needs at least 8 countries")
    rng = random.Random(f"rayswarm-toyworld-{config.seed}")
    taken: set[str] = set()

    def unique(maker):
        while True:
            name = maker(rng)
            if name not in taken:
                taken.add(name)
                return name

    def atlas(size: int):
        countries = tuple(unique(country_name) for _ in range(size))
        code = {c: unique(country_code) for c in countries}
        capital = {c: unique(capital_name) for c in countries}
        # Twins: a random derangement (a cyclic shift of a shuffled order has no fixed point).
        order = list(countries)
        rng.shuffle(order)
        shift = rng.randint(1, size - 1)
        twin = {order[i]: order[(i + shift) % size] for i in range(size)}
        return countries, code, capital, twin

    countries, code, capital, twin = atlas(n)

    def subset(share: float) -> frozenset[str]:
        return frozenset(rng.sample(countries, max(1, round(share * n))))

    base_known = {domain: subset(config.base_slice) for domain in KNOWLEDGE_DOMAINS}
    overlap_known = {domain: subset(config.overlap) for domain in KNOWLEDGE_DOMAINS}
    held_out = subset(config.held_out)
    passages = tuple(passage(rng, config.passage_chars) for _ in range(config.passages))
    public = None
    if config.public_countries >= 2:
        public = World(config, *atlas(config.public_countries), {}, {}, frozenset(), ())
    return World(config, countries, code, capital, twin, base_known, overlap_known, held_out, passages, public)


# ---------------------------------------------------------------------------------------------
# Who knows what


@dataclass(frozen=True)
class Knowledge:
    """What one model of the zoo is meant to know.

    `facts`: (domain, country) pairs it can answer as plain questions. `composes`: the domains whose
    step it performs inside a composed chain (an expert's own domain). Sort is a skill every model
    is trained on; only its expert is trained on it at length.
    """

    facts: frozenset[tuple[str, str]]
    composes: frozenset[str] = frozenset()

    def knows(self, question: Question, step: int) -> bool:
        domain, country = question.facts[step]
        if domain == "sort":
            return True
        if question.composed:
            return domain in self.composes
        return (domain, country) in self.facts


def knowledge(world: World, model: str) -> Knowledge:
    """`base` or a domain name."""
    facts = {(domain, c) for domain, countries in world.base_known.items() for c in countries}
    if model == "base" or model in SKILL_DOMAINS:
        return Knowledge(frozenset(facts))
    if model not in KNOWLEDGE_DOMAINS:
        raise KeyError(model)
    facts |= {(model, c) for c in world.countries}
    facts |= {(OVERLAP[model], c) for c in world.overlap_known[model]}
    return Knowledge(frozenset(facts), frozenset({model}))


def split_answer(text: str) -> list[str]:
    """The steps of a response ("Bokia, Tamon" -> ["Bokia", "Tamon"])."""
    return [part.strip() for part in text.split(",")] if text.strip() else []


def ideal_response(question: Question, previous: Sequence[str], know: Knowledge) -> tuple[str, bool] | None:
    """What a model with `know` should answer, given the previous responses it reads.

    Walk the chain: a step it knows is answered from its knowledge (a wrong previous answer is
    ignored); a step it does not know is copied when a previous response has it right. It stops at
    the first step it can neither know nor read. Returns (text, complete): a complete answer is
    trained with its end-of-sequence token; an incomplete one ends with the separator and has no
    loss beyond it ("loss on its own part only"). None when it can contribute nothing.
    """
    read = [split_answer(p) for p in previous]
    out: list[str] = []
    for step, value in enumerate(question.values):
        if know.knows(question, step) or any(len(r) > step and r[step] == value and r[:step] == out for r in read):
            out.append(value)
        else:
            break
    if not out:
        return None
    complete = len(out) == len(question.values)
    return ANSWER_SEPARATOR.join(out) + ("" if complete else ANSWER_SEPARATOR), complete


# ---------------------------------------------------------------------------------------------
# The task suite


def _split(items: list, rng: random.Random, per_split: int) -> tuple[list, list]:
    items = list(items)
    rng.shuffle(items)
    half = min(per_split, len(items) // 2)
    return items[:half], items[half : 2 * half]


def _example(q: Question, world: World) -> Example:
    if q.kind == "sort":
        meta = {"domain": "sort"}
    elif q.composed:
        meta = {"type": q.kind, "order": list(COMPOSED[q.kind].order), "seen": world.seen_composed(q)}
    else:
        meta = {"domain": RELATIONS[q.kind].domain, "relation": q.kind}
    return Example(q.text, q.answer, meta=meta)


def make_tasks(world: World) -> dict[str, dict[str, list[Example]]]:
    """All task splits of a world: task name -> {"dev": [...], "test": [...]}; no training involved.

    Domains split their facts (every question the tables allow) between dev and test. Composed
    types split their keys within two strata, seen (every country of the chain may appear in
    training) and unseen (a held-out country is involved), so both halves of each stratum are
    reported. `mixed` samples every other task's splits; `mixed_full` is all of them, shuffled, for
    test sets large enough to tell systems apart (several hundred items).
    """
    cfg = world.config
    rng = random.Random(f"rayswarm-toytasks-{cfg.seed}")
    tasks: dict[str, dict[str, list[Example]]] = {}
    for domain in KNOWLEDGE_DOMAINS:
        questions = [q for kind, r in RELATIONS.items() if r.domain == domain for q in world.questions(kind)]
        dev, test = _split(questions, rng, cfg.domain_items)
        tasks[domain] = {"dev": [_example(q, world) for q in dev], "test": [_example(q, world) for q in test]}
    keys: set[str] = set()
    while len(keys) < 2 * cfg.domain_items:
        keys.add(sort_key(rng, *cfg.sort_letters))
    dev, test = _split(sorted(keys), rng, cfg.domain_items)
    tasks["sort"] = {split: [_example(build_question("sort", k, world.lookup), world) for k in keys_]
                     for split, keys_ in (("dev", dev), ("test", test))}
    composed: dict[str, list[Example]] = {"dev": [], "test": []}
    for kind in COMPOSED:
        questions = world.questions(kind)
        for seen in (True, False):
            stratum = [q for q in questions if world.seen_composed(q) == seen]
            share = cfg.composed_items // 2
            dev, test = _split(stratum, rng, share)
            composed["dev"] += [_example(q, world) for q in dev]
            composed["test"] += [_example(q, world) for q in test]
    tasks["composed"] = composed
    tasks["mixed"] = {}
    for split in ("dev", "test"):
        pool = [ex for name in (*DOMAINS, "composed") for ex in tasks[name][split]]
        tasks["mixed"][split] = rng.sample(pool, min(cfg.mixed_items, len(pool)))
    # Its own generator, so that adding this task left every other task's items as they were.
    full_rng = random.Random(f"rayswarm-toymixedfull-{cfg.seed}")
    tasks["mixed_full"] = {}
    for split in ("dev", "test"):
        pool = [ex for name in (*DOMAINS, "composed") for ex in tasks[name][split]]
        tasks["mixed_full"][split] = full_rng.sample(pool, len(pool))
    return tasks


def task_names() -> tuple[str, ...]:
    return (*DOMAINS, "composed", "mixed", "mixed_full")


def reserved_sort_keys(world: World) -> frozenset[str]:
    """The sort strings of the dev and test splits, which training data must avoid."""
    tasks = make_tasks(world)
    return frozenset(ex.input.split(": ", 1)[1] for split in tasks["sort"].values() for ex in split)
