"""API-level ensembles on the quick toy zoo: router (prompted, trained), cascade, switch, local and on Ray."""

import math

import pytest

from rayswarm.agents import routing
from rayswarm.agents.backend import LocalBackend, LocalMembers
from rayswarm.agents.routers import parse_choice, trained_choices
from rayswarm.agents.tasksource import load_task_source
from rayswarm.graphs.ensembles import Cascade, Router, Switch
from rayswarm.graphs.messages import SOURCE_TEMPLATE
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

EXPERTS = ("codes", "capitals", "twins")
GREEDY = GenerationOptions(max_new_tokens=24)


@pytest.fixture(scope="module")
def members(quick_zoo):
    """The quick zoo's base and experts in this process; `again` is the codes expert under a second name."""
    agents = {name: AgentSpec(model=f"tiny:quick/{name}") for name in ("base", *EXPERTS)}
    return LocalMembers(LocalBackend({**agents, "again": agents["codes"]}))


@pytest.fixture(scope="module")
def test_split(quick_zoo):
    task = load_task_source("toy:quick/mixed", split="test")
    return task, [SOURCE_TEMPLATE.format(question=question) for question in task.inputs]


@pytest.mark.parametrize(("reply", "expected"), [
    ("capitals", 1), ("I would ask CAPITALS.", 1), ("2", 1), ("Answer: 3", 2), ("twins, not codes", 2),
    ("codes2 knows it", 3), ("expert2", None), ("5", None), ("K7Q", None), ("", None),
])
def test_parse_choice_finds_the_first_name_or_number_that_is_a_whole_word(reply, expected):
    assert parse_choice(reply, ["codes", "capitals", "twins", "codes2"]) == expected


class Scripted:
    """Members answering from plain functions: a router that names capitals for capital questions and
    says nothing usable otherwise, and candidates that sign their answers. Records every call."""

    def __init__(self):
        self.calls = []

    def generate(self, agent, prompts, options, system):
        self.calls.append((agent, list(prompts)))
        if agent == "router":
            return ["I'd ask Capitals." if "capital of" in prompt else "hmm" for prompt in prompts]
        return [f"{agent} on {prompt}" for prompt in prompts]

    def spec(self, agent):
        return AgentSpec(model="tiny:quick/base")


def test_a_prompted_router_sends_each_prompt_to_the_candidate_it_names_and_unparsed_ones_to_the_first(caplog):
    spec = Router(kind="router", agents=["codes", "capitals"], router="router",
                  descriptions={"capitals": "knows every capital"})
    prompts = ["the capital of Bokia", "the code of Bokia", "the capital of Ruvia"]
    scripted = Scripted()
    answers = routing.route(spec, scripted, prompts, GREEDY, None)
    assert answers == [f"capitals on {prompts[0]}", f"codes on {prompts[1]}", f"capitals on {prompts[2]}"]
    (_, asked), *answered = scripted.calls
    assert "1. codes: codes\n2. capitals: knows every capital\n" in asked[0] and asked[0].endswith(prompts[0])
    # One batched call per candidate, with only the prompts routed to it.
    assert answered == [("codes", [prompts[1]]), ("capitals", [prompts[0], prompts[2]])]
    assert "1 of 3 replies named no candidate" in caplog.text


class Counting(LocalMembers):
    def __init__(self, backend):
        super().__init__(backend)
        self.generated = 0

    def generate(self, agent, prompts, options, system):
        self.generated += len(prompts)
        return super().generate(agent, prompts, options, system)


def test_a_trained_router_beats_every_expert_alone_and_sends_codes_questions_to_codes(members, test_split):
    task, prompts = test_split
    spec = Router(kind="router", agents=list(EXPERTS), mode="trained", train_task="toy:quick/mixed")
    counting = Counting(members.backend)
    answers = routing.route(spec, counting, prompts, GREEDY, None)
    trained = counting.generated
    alone = {agent: task.accuracy(members.generate(agent, prompts, GREEDY, None)) for agent in EXPERTS}
    assert task.accuracy(answers) > max(alone.values())
    choices = trained_choices(spec, counting, prompts, GREEDY, None)
    codes = [choice for choice, ex in zip(choices, task.examples, strict=True) if ex.meta.get("domain") == "codes"]
    assert codes.count(EXPERTS.index("codes")) > len(codes) / 2
    # Trained once: 60 dev examples per candidate, then one answer per test prompt; the second call trains nothing.
    assert (trained, counting.generated) == (3 * 60 + len(prompts),) * 2


def mean_logprobs(members, agent, prompts, texts):
    """Agent.score's own mean, one row at a time: what the ensembles' confidences must agree with."""
    model = members.backend.agent(agent)
    return [model.score([prompt], [text], reduction="mean", system="")[0] if text else -math.inf
            for prompt, text in zip(prompts, texts, strict=True)]


@pytest.mark.parametrize("level", ["lowest", "middle", "zero"])
def test_a_cascade_keeps_the_first_answer_exactly_when_its_mean_logprob_reaches_the_threshold(
        members, test_split, level):
    prompts = test_split[1][:24]
    first, last = (members.generate(agent, prompts, GREEDY, None) for agent in ("base", "codes"))
    sure = mean_logprobs(members, "base", prompts, first)
    # Halfway between two neighbours, as no row's confidence sits on it to float precision (batching shifts it).
    middle = sum(sorted(sure)[len(sure) // 2 - 1:][:2]) / 2
    threshold = {"lowest": -math.inf, "middle": middle, "zero": 0.0}[level]
    spec = Cascade(kind="cascade", agents=["base", "codes"], threshold=threshold)
    answers = routing.cascade(spec, members, prompts, GREEDY, None)
    assert answers == [f if s >= threshold else t for f, t, s in zip(first, last, sure, strict=True)]
    if level == "lowest":
        assert answers == first
    if level == "middle":  # both branches taken, on rows where the members disagree
        assert first != answers != last


def test_switch_between_copies_of_one_model_is_that_models_greedy_answer(members, test_split):
    prompts = test_split[1][:24]
    spec = Switch(kind="switch", agents=["codes", "again"], segment_tokens=3)
    assert routing.switch(spec, members, prompts, GREEDY, None) == members.generate("codes", prompts, GREEDY, None)


def test_switch_in_one_segment_takes_the_answer_its_writer_is_surest_of(members, test_split):
    prompts = test_split[1][:24]
    spec = Switch(kind="switch", agents=list(EXPERTS), segment_tokens=GREEDY.max_new_tokens)
    own = {agent: members.generate(agent, prompts, GREEDY, None) for agent in EXPERTS}
    sure = {agent: mean_logprobs(members, agent, prompts, own[agent]) for agent in EXPERTS}
    best = [max(EXPERTS, key=lambda agent: sure[agent][i]) for i in range(len(prompts))]
    assert len(set(best)) > 1, "every prompt went to one expert: the test would not tell experts apart"
    assert routing.switch(spec, members, prompts, GREEDY, None) == [own[a][i] for i, a in enumerate(best)]


def test_ensembles_answer_the_same_on_ray_actors_as_in_process(quick_zoo, ray_local, test_split):
    from rayswarm.actors.pool import AgentPool
    from rayswarm.graphs import Graph, run_graph

    graph = Graph.from_dict({
        "agents": {name: {"model": f"tiny:quick/{name}"} for name in ("base", *EXPERTS)},
        "ensembles": {"careful": {"kind": "cascade", "agents": ["base", "codes"], "threshold": -0.2},
                      "turns": {"kind": "switch", "agents": list(EXPERTS), "segment_tokens": 4}},
        "nodes": [{"name": "cascade", "agent": "careful"}, {"name": "switch", "agent": "turns"}],
        "output": "switch",
    })
    questions = test_split[0].inputs[:8]
    local = run_graph(graph, questions, LocalBackend(graph.agents, ensembles=graph.ensembles))
    with AgentPool(graph.agents, ensembles=graph.ensembles) as pool:
        remote = run_graph(graph, questions, pool)
    assert remote.outputs == local.outputs
