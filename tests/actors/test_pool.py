"""AgentPool on a real embedded Ray: placement, equal outputs, replicas, CPU sizing, restarts."""

import os
import signal

import pytest
import ray

from rayswarm.actors.pool import AgentPool, even_chunks, fit_cpus
from rayswarm.agents.backend import LocalBackend
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.execute import run_graph
from rayswarm.graphs.patterns import mixture_of_agents
from rayswarm.graphs.spec import AgentSpec

QUESTIONS = [f"What is {a} plus {b}?" for a in range(6) for b in range(4)]


@pytest.fixture(scope="module")
def agents(chatty_folder):
    options = {"max_new_tokens": 6}
    return {
        "chatty": AgentSpec(model=str(chatty_folder), generation=options),
        "critic": AgentSpec(model=str(chatty_folder), system="Be brief.", generation=options),
        "olmo": AgentSpec(model="tiny:random-olmo2", generation=options),
    }


@pytest.fixture(scope="module")
def graph(agents):
    return mixture_of_agents([["chatty", "olmo"], ["critic"]], aggregator="chatty", agents=agents)


def test_graph_on_actors_equals_the_in_process_run(ray_local, agents, graph):
    expected = run_graph(graph, QUESTIONS, LocalBackend(agents)).outputs
    with AgentPool(agents) as pool:
        # chatty and critic differ only in their prompt: one actor holds both
        assert sorted(sorted(p.agents) for p in pool.placements) == [["chatty", "critic"], ["olmo"]]
        assert run_graph(graph, QUESTIONS, pool).outputs == expected


def test_replicas_split_every_batch_and_keep_its_order(ray_local, agents, graph):
    expected = run_graph(graph, QUESTIONS, LocalBackend(agents)).final
    twice = {name: spec.model_copy(update={"replicas": 2}) for name, spec in agents.items()}
    with AgentPool(twice) as pool:
        assert all(len(p.actors) == 2 for p in pool.placements)
        pids = {ray.get(actor.pid.remote()) for actor in pool.actors("chatty")}
        assert len(pids) == 2
        assert run_graph(graph, QUESTIONS, pool).final == expected


def test_agents_never_take_every_cpu(ray_local, chatty_folder):
    # Three models asking one CPU each on a 2-CPU cluster: without sizing, the third actor (and
    # any task after it) would wait forever.
    greedy = {f"m{i}": AgentSpec(model=str(chatty_folder), dtype=dtype, num_cpus=1)
              for i, dtype in enumerate(["float32", "float16", "bfloat16"])}
    with AgentPool(greedy) as pool:
        pool.load_all()
        assert sum(p.num_cpus for p in pool.placements) <= 2 - 0.5

        @ray.remote(num_cpus=0.5)
        def other_work():
            return "ran"

        assert ray.get(other_work.remote(), timeout=60) == "ran"


def test_fit_cpus_and_even_chunks():
    assert fit_cpus([1, 1], total=8, reserve=1) == [1, 1]
    scaled = fit_cpus([1, 1, 2], total=2, reserve=0.5)
    assert sum(scaled) <= 1.5 and scaled[2] == 2 * scaled[0]
    with pytest.raises(ConfigError, match="none left"):
        fit_cpus([1], total=1, reserve=1)
    chunks = even_chunks(7, 3)
    assert [i for chunk in chunks for i in chunk] == list(range(7)) and {len(c) for c in chunks} == {2, 3}
    assert [list(r) for r in even_chunks(1, 3)] == [[0]]


def test_asking_for_missing_gpus_fails_before_any_actor_starts(ray_local, chatty_folder):
    with pytest.raises(ConfigError, match="ask for 0.5 GPUs in all but the cluster has 0"):
        AgentPool({"gpu": AgentSpec(model=str(chatty_folder), num_gpus=0.5)})


def test_a_killed_actor_restarts_and_its_call_is_redone(ray_local, agents):
    prompts = QUESTIONS * 4
    expected = LocalBackend(agents).agent("olmo").generate(prompts, system="", max_new_tokens=24)
    with AgentPool({"olmo": agents["olmo"]}) as pool:
        (actor,) = pool.actors("olmo")
        pid = ray.get(actor.pid.remote())
        pending = actor.generate.remote("olmo", prompts, agents["olmo"].generation.model_copy(
            update={"max_new_tokens": 24}), "")
        os.kill(pid, signal.SIGKILL)  # the worker dies mid-call (or just before it starts)
        assert ray.get(pending, timeout=120) == expected
        assert ray.get(actor.pid.remote()) != pid  # a fresh process rebuilt from the spec
