"""ModelHost: several agents on one base model, adapters hot-swapped, weights moved per agent."""

import pytest
import torch

from rayswarm.actors.host import ModelHost
from rayswarm.agents.agent import Agent
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

PROMPTS = ["Sort: dcba", "What is the capital of Bokia?", "hello"]


@pytest.fixture(scope="module")
def adapters(chatty_folder, tmp_path_factory):
    """Two LoRA adapters with different random weights on the chatty base (B ≠ 0, so they matter)."""
    folder = tmp_path_factory.mktemp("adapters")
    paths = {}
    for seed, name in enumerate(["one", "two"]):
        agent = Agent.load(str(chatty_folder)).add_lora(r=4, seed=seed)
        size = agent.vector_spec().size
        agent.set_vector(torch.randn(size, generator=torch.Generator().manual_seed(seed)) * 0.5)
        paths[name] = agent.save_adapter(folder / name)
    return paths


@pytest.fixture(scope="module")
def specs(chatty_folder, adapters):
    options = {"max_new_tokens": 8}
    return {
        "plain": AgentSpec(model=str(chatty_folder), generation=options),
        "one": AgentSpec(model=str(chatty_folder), adapter=str(adapters["one"]), generation=options),
        "two": AgentSpec(model=str(chatty_folder), adapter=str(adapters["two"]), generation=options),
    }


def alone(spec: AgentSpec) -> list[str]:
    return Agent.from_spec(spec).generate(PROMPTS, system="")


def test_each_agent_on_a_shared_host_answers_as_it_would_alone(specs):
    host = ModelHost(specs)
    expected = {name: alone(spec) for name, spec in specs.items()}
    assert len(set(map(tuple, expected.values()))) == 3, "the adapters must change the outputs"
    for _ in range(2):  # switching back and forth must not leak one adapter into another
        for name in ["two", "plain", "one"]:
            assert host.generate(name, PROMPTS) == expected[name]


def test_weights_move_per_agent_in_memory(specs):
    host = ModelHost(specs)
    before_two = host.generate("two", PROMPTS)
    one = host.get_vector("one")
    host.set_vector("one", host.get_vector("two"))
    assert host.generate("one", PROMPTS) == before_two  # "one" now carries "two"'s weights
    assert host.generate("two", PROMPTS) == before_two  # and "two" is untouched
    assert host.generate("one", PROMPTS, weights=one) == alone(specs["one"])  # weights= travels with a call


def test_a_host_refuses_what_it_cannot_do(specs):
    host = ModelHost(specs)
    with pytest.raises(ConfigError, match="no agent 'three'"):
        host.generate("three", PROMPTS)
    with pytest.raises(ConfigError, match="'plain' has no LoRA adapter"):
        host.get_vector("plain")
    with pytest.raises(ConfigError, match="do not share one base model"):
        ModelHost({"a": specs["plain"], "b": AgentSpec(model="tiny:random-olmo2")})


def test_one_batch_can_mix_every_agent(specs):
    host = ModelHost(specs)
    names = ["one", "plain", "two"] * len(PROMPTS)
    prompts = [p for p in PROMPTS for _ in range(3)]
    mixed = host.generate_rows(names, prompts, GenerationOptions(max_new_tokens=8))
    expected = {name: alone(spec) for name, spec in specs.items()}
    assert mixed == [expected[name][i] for i in range(len(PROMPTS)) for name in ["one", "plain", "two"]]
