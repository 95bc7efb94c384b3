"""The toy world and its task suite: deterministic, consistent, split honestly (no torch, no training)."""

from dataclasses import replace

import pytest

from rayswarm.agents.toydata import base_items, expert_items, previous_of
from rayswarm.agents.toyworld import (
    ANSWER_SEPARATOR,
    COMPOSED,
    DOMAINS,
    KNOWLEDGE_DOMAINS,
    Knowledge,
    WorldConfig,
    collab_prompt,
    ideal_response,
    knowledge,
    make_tasks,
    make_world,
    split_answer,
)
from rayswarm.graphs.messages import FOLLOWUP_INSTRUCTION, SOURCE_INSTRUCTION, SOURCE_TEMPLATE

CONFIG = WorldConfig(seed=3, countries=24, passages=3, domain_items=20, composed_items=12, mixed_items=50)


@pytest.fixture(scope="module")
def world():
    return make_world(CONFIG)


@pytest.fixture(scope="module")
def tasks(world):
    return make_tasks(world)


def _rows(examples):
    return [(ex.input, ex.target, ex.meta) for ex in examples]


def test_world_is_a_function_of_its_seed(world):
    again = make_world(CONFIG)
    other = make_world(replace(CONFIG, seed=4))
    assert again.countries == world.countries and again.code == world.code and again.twin == world.twin
    assert again.passages == world.passages and again.held_out == world.held_out
    assert other.countries != world.countries and other.passages != world.passages


def test_world_tables_are_well_formed(world):
    n = CONFIG.countries
    assert len(set(world.countries)) == n
    assert len(set(world.code.values())) == n and len(set(world.capital.values())) == n
    own = {name for names in world.names.values() for name in names}
    assert len(own) == 3 * n  # no name is both a country and a capital
    public = {name for names in world.public.names.values() for name in names}
    assert public and not own & public and world.all_names == own | public
    assert all(world.twin[c] != c for c in world.countries)  # a derangement
    assert sorted(world.twin.values()) == sorted(world.countries)
    assert all(len(p) >= 96 for p in world.passages)  # 64-token prefix + 32-token continuation


def test_splits_are_deterministic_and_differ_across_seeds(tasks):
    assert all(_rows(tasks[name][split]) == _rows(again[split])
               for again_tasks in [make_tasks(make_world(CONFIG))]
               for name, again in again_tasks.items() for split in ("dev", "test"))
    other = make_tasks(make_world(replace(CONFIG, seed=4)))
    assert _rows(other["composed"]["test"]) != _rows(tasks["composed"]["test"])


def test_every_task_has_disjoint_nonempty_dev_and_test(tasks):
    assert set(tasks) == {*DOMAINS, "composed", "mixed", "mixed_full"}
    for name, splits in tasks.items():
        dev, test = ({ex.input for ex in splits[s]} for s in ("dev", "test"))
        assert dev and test, name
        assert not dev & test, name
    # mixed_full is every other task's split, shuffled; mixed a sample of it.
    for split in ("dev", "test"):
        full = [ex.input for ex in tasks["mixed_full"][split]]
        every = [ex.input for name in (*DOMAINS, "composed") for ex in tasks[name][split]]
        assert sorted(full) == sorted(every) and full != every
        assert {ex.input for ex in tasks["mixed"][split]} <= set(full)


def test_composed_answers_spell_out_every_step_of_the_tables(world, tasks):
    for ex in tasks["composed"]["dev"] + tasks["composed"]["test"]:
        kind = COMPOSED[ex.meta["type"]]
        assert ex.meta["order"] == list(kind.order)
        values = split_answer(ex.target)
        assert len(values) == len(kind.steps) >= 2
        key = ex.input[ex.input.rindex(" ") + 1 : -1]
        current = key
        for step, value in zip(kind.steps, values, strict=True):
            current = world.lookup(step, current)
            assert value == current
    example = world.ask("capital_of_code", world.code[world.countries[0]])
    assert example.answer == world.countries[0] + ANSWER_SEPARATOR + world.capital[world.countries[0]]


def test_composed_test_reports_seen_and_unseen_keys(world, tasks):
    test = tasks["composed"]["test"]
    for kind in COMPOSED:
        flags = {ex.meta["seen"] for ex in test if ex.meta["type"] == kind}
        assert flags == {True, False}, kind
    for ex in test:
        q = world.ask(ex.meta["type"], ex.input[ex.input.rindex(" ") + 1 : -1])
        assert ex.meta["seen"] == world.seen_composed(q)
        assert ex.meta["seen"] == all(c not in world.held_out for _, c in q.facts)


def test_no_training_item_asks_a_composed_question_of_a_held_out_country(world, tasks):
    unseen = {ex.input for ex in tasks["composed"]["test"] + tasks["composed"]["dev"] if not ex.meta["seen"]}
    assert unseen
    prompts = {item.prompt for item in base_items(world, 600, seed=0)}
    for domain in DOMAINS:
        prompts |= {item.prompt for item in expert_items(world, domain, 600, seed=0)}
    asked = {p.rsplit("Question: ", 1)[1] for p in prompts if p}
    assert not asked & unseen
    seen = {ex.input for ex in tasks["composed"]["test"] if ex.meta["seen"]}
    assert asked & seen  # the seen ones are trained on


def test_sort_test_strings_never_appear_in_training(world, tasks):
    held = {ex.input for split in tasks["sort"].values() for ex in split}
    prompts = {item.prompt for item in base_items(world, 2000, seed=1) if item.prompt}
    prompts |= {item.prompt for item in expert_items(world, "sort", 2000, seed=1) if item.prompt}
    assert not {p.rsplit("Question: ", 1)[1] for p in prompts} & held


def test_collab_prompt_is_the_graph_layers_format():
    assert collab_prompt("Q?") == SOURCE_TEMPLATE.format(question="Q?")
    assert collab_prompt("Q?", ["a\nb", "c"]) == (
        FOLLOWUP_INSTRUCTION + "\nPrevious response 1: a b\nPrevious response 2: c\nQuestion: Q?"
    )


def test_training_prompts_are_built_with_the_shared_prompt_function(world):
    items = base_items(world, 400, seed=0) + expert_items(world, "capitals", 400, seed=0)
    chats = [item for item in items if item.prompt is not None]
    assert any(previous_of(item.prompt) for item in chats) and any(not previous_of(i.prompt) for i in chats)
    for item in chats:
        question = item.prompt.rsplit("Question: ", 1)[1]
        assert item.prompt == collab_prompt(question, previous_of(item.prompt))
        assert item.prompt.startswith((SOURCE_INSTRUCTION + "\n", FOLLOWUP_INSTRUCTION + "\n"))


def test_base_learns_formats_on_fresh_entities_and_passages_verbatim(world):
    items = base_items(world, 1000, seed=0, passage_repeats=5)
    raw = [item.target.removeprefix("<s>") for item in items if item.prompt is None]
    assert sorted(raw) == sorted(p for p in world.passages for _ in range(5))
    fresh = [item for item in items if item.prompt and "Previous response" in item.prompt
             and not any(name in item.prompt for name in world.all_names)]
    assert len(fresh) > 200  # the collaboration format, on entities the world does not have
    again = base_items(world, 1000, seed=0, passage_repeats=5)
    assert again == items and base_items(world, 1000, seed=1, passage_repeats=5) != items


def test_ideal_response_reads_the_predecessor_and_adds_its_own_step(world):
    country = sorted(world.countries)[0]
    q = world.ask("capital_of_code", world.code[country])
    codes, capitals = knowledge(world, "codes"), knowledge(world, "capitals")
    # First hop: its own part only, no end of sequence.
    assert ideal_response(q, [], codes) == (country + ", ", False)
    # Second hop: reads the country, replaces the first hop's guess with what it knows.
    assert ideal_response(q, [f"{country}, Wrongton"], capitals) == (q.answer, True)
    # Nothing to read and nothing known: no target at all.
    assert ideal_response(q, [], capitals) is None
    # Someone else's domain: copy what is right, stop at what it cannot know.
    nobody = Knowledge(frozenset())
    assert ideal_response(q, [q.answer], nobody) == (q.answer, True)
    assert ideal_response(q, [f"{country}, Wrongton"], nobody) == (country + ", ", False)
    # A plain question it knows: a wrong previous response is ignored.
    plain = world.ask("capital", country)
    assert ideal_response(plain, ["Wrongton"], capitals) == (world.capital[country], True)


def test_experts_know_their_table_and_a_slice_of_a_neighbours(world):
    for domain in KNOWLEDGE_DOMAINS:
        know = knowledge(world, domain)
        assert {c for d, c in know.facts if d == domain} == set(world.countries)
        others = {c for d, c in know.facts if d not in (domain,)}
        assert others and len(others) < len(world.countries)
        assert know.composes == {domain}
    base = knowledge(world, "base")
    assert not base.composes
    assert all(len({c for d, c in base.facts if d == domain}) < len(world.countries) / 4
               for domain in KNOWLEDGE_DOMAINS)


def test_first_hop_items_carry_loss_on_their_own_part_only(world):
    items = expert_items(world, "codes", 3000, seed=0)
    first_hops = [item for item in items if not item.complete and item.prompt.startswith(SOURCE_INSTRUCTION)]
    assert first_hops
    for item in first_hops:
        assert item.target.endswith(ANSWER_SEPARATOR) and len(split_answer(item.target)) == 2


def test_later_hops_read_a_fresh_key_and_add_only_their_own_knowledge(world):
    items = expert_items(world, "capitals", 3000, seed=0)
    reads = []
    for item in items:
        question = item.prompt.rsplit("Question: ", 1)[1] if item.prompt else ""
        if question.startswith("What is the capital of the country with code ") and previous_of(item.prompt):
            key = question.removeprefix("What is the capital of the country with code ").rstrip("?")
            answer = split_answer(item.target)
            if key not in world.all_names and answer[0] in world.countries:  # (replayed base items are fresh)
                reads.append(answer)
    assert len(reads) > 50
    for country, capital in reads:  # the country read from the predecessor, then its own step
        assert country in world.countries and capital == world.capital[country]
    read_countries = {country for country, _ in reads}
    assert read_countries & world.held_out  # reading is taught for every country, held-out ones too


def test_plain_questions_are_trained_in_every_phrasing_but_asked_in_the_first(world, tasks):
    from rayswarm.agents.toyworld import RELATIONS

    prompts = [item.prompt for item in expert_items(world, "codes", 3000, seed=0) if item.prompt]
    for template in RELATIONS["country_of_code"].templates:
        stem = template.split("{x}")[0]
        assert any(p.rsplit("Question: ", 1)[1].startswith(stem) for p in prompts), template
    first = RELATIONS["country_of_code"].templates[0].split("{x}")[0]
    asked = [ex.input for ex in tasks["codes"]["test"] if ex.meta["relation"] == "country_of_code"]
    assert asked and all(q.startswith(first) for q in asked)


def test_training_streams_do_not_depend_on_the_process_hash_seed():
    import subprocess
    import sys

    code = (
        "import hashlib; from rayswarm.agents.toyworld import make_world, WorldConfig;"
        "from rayswarm.agents.toydata import base_items, expert_items;"
        "w = make_world(WorldConfig(seed=3, countries=24, passages=3));"
        "items = base_items(w, 300, 0, 2) + expert_items(w, 'codes', 300, 0);"
        "print(hashlib.sha256(repr(items).encode()).hexdigest())"
    )
    digests = {
        subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True,
                       check=True).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1
