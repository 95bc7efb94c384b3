"""Logit-level ensembles on real tiny models: fusion and contrastive decoding, in-process and on actors."""

import math

import pytest
import torch

from rayswarm.agents.backend import LocalBackend, LocalMembers
from rayswarm.agents.ensemble import run_ensemble
from rayswarm.agents.logit_fusion import contrastive_scores, pick
from rayswarm.agents.tasksource import load_task_source
from rayswarm.agents.tiny import build_tiny_model
from rayswarm.agents.tokenizer import build_char_tokenizer
from rayswarm.graphs.ensembles import Contrastive, Fusion
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

OPTIONS = GenerationOptions(max_new_tokens=12)


@pytest.fixture(scope="module")
def questions(quick_zoo):
    return load_task_source("toy:quick/mixed", limit=8).inputs


@pytest.fixture(scope="module")
def specs(quick_zoo, chatty_folder):
    """Quick-zoo experts on one base (explicit folders, so actors need not share this test's cache)."""
    def expert(domain: str | None) -> AgentSpec:
        adapter = str(quick_zoo.experts[domain]) if domain else None
        return AgentSpec(model=str(quick_zoo.base), adapter=adapter, generation=OPTIONS)

    return {"codes": expert("codes"), "codes_again": expert("codes"), "capitals": expert("capitals"),
            "base": expert(None), "chatty": AgentSpec(model=str(chatty_folder), generation=OPTIONS)}


@pytest.fixture(scope="module")
def backend(specs):
    return LocalBackend(specs)


def greedy(backend: LocalBackend, agent: str, questions: list[str]) -> list[str]:
    return backend.agent(agent).generate(questions, OPTIONS, system="")


def ensemble(spec, backend: LocalBackend, questions: list[str], options: GenerationOptions = OPTIONS) -> list[str]:
    return run_ensemble(spec, LocalMembers(backend), questions, options, None)


def test_fusing_a_model_with_itself_is_its_greedy_output(backend, questions):
    fused = ensemble(Fusion(kind="fusion", agents=["codes", "codes_again"]), backend, questions)
    assert fused == greedy(backend, "codes", questions)


def test_a_zero_weight_member_has_no_say(backend, questions):
    codes, capitals = greedy(backend, "codes", questions), greedy(backend, "capitals", questions)
    assert codes != capitals, "the experts must disagree for this test to mean anything"
    assert ensemble(Fusion(kind="fusion", agents=["codes", "capitals"], weights=[1, 0]), backend, questions) == codes
    assert ensemble(Fusion(kind="fusion", agents=["codes", "capitals"], weights=[0, 1]), backend, questions) == capitals


def test_contrastive_without_the_amateur_is_the_experts_greedy_output(backend, questions):
    spec = Contrastive(kind="contrastive", expert="codes", amateur="base", beta=0.0)
    assert ensemble(spec, backend, questions) == greedy(backend, "codes", questions)


def test_fused_tokens_are_counted_once(specs, questions):
    fresh = LocalBackend(specs)
    greedy(fresh, "codes", questions)
    alone = fresh.tokens_generated()
    ensemble(Fusion(kind="fusion", agents=["codes", "codes_again"]), fresh, questions)  # the same text
    assert 0 < alone == fresh.tokens_generated() - alone  # not once per member


def test_seeded_sampling_repeats_and_a_one_token_nucleus_is_greedy(backend, questions):
    spec = Fusion(kind="fusion", agents=["codes", "capitals"])
    sampled = OPTIONS.model_copy(update={"temperature": 1.0, "seed": 3})
    assert ensemble(spec, backend, questions, sampled) == ensemble(spec, backend, questions, sampled)
    assert ensemble(spec, backend, questions, sampled.model_copy(update={"top_p": 1e-6})) == ensemble(
        spec, backend, questions)  # a nucleus of one token is greedy


def test_members_with_other_tokenizers_are_refused_before_decoding(specs, questions, tmp_path):
    tokenizer = build_char_tokenizer()
    tokenizer.add_tokens(["Bokia"])  # one more token: the same text now has other ids
    model = build_tiny_model("llama", seed=1)
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    class NeverDecodes(LocalMembers):
        def start_decoding(self, *args):
            raise AssertionError("decoding started before the tokenizers were compared")

    backend = LocalBackend({"codes": specs["codes"], "wordy": AgentSpec(model=str(tmp_path))})
    spec = Fusion(kind="fusion", agents=["codes", "wordy"])
    with pytest.raises(ConfigError, match="agents 'codes' and 'wordy' have different tokenizers"):
        run_ensemble(spec, NeverDecodes(backend), questions, OPTIONS, None)


def test_contrastive_scores_keep_only_what_the_expert_finds_plausible():
    expert = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    amateur = torch.tensor([[0.6, 0.1, 0.29, 0.01]]).log()
    # Token 3 has the largest ratio (5×) but p = 0.05 < 0.2 · 0.5: only tokens 0-2 compete, and 1 wins (3×).
    scores = contrastive_scores(expert, amateur, alpha=0.2, beta=1.0)
    assert scores[0, 3] == -math.inf and pick(scores, OPTIONS).tolist() == [1]
    assert pick(contrastive_scores(expert, amateur, alpha=0.01, beta=1.0), OPTIONS).tolist() == [3]


def test_fusion_on_actors_equals_the_in_process_run(ray_local, specs, questions):
    from rayswarm.actors.pool import AgentPool
    from rayswarm.graphs.execute import run_graph

    agents = {name: specs[name] for name in ("codes", "capitals", "base", "chatty")}
    graph = Graph.from_dict({
        "agents": agents,
        "ensembles": {
            "fused": {"kind": "fusion", "agents": ["codes", "capitals", "chatty"], "weights": [0.5, 0.3, 0.2]},
            "contrast": {"kind": "contrastive", "expert": "codes", "amateur": "base", "beta": 0.5},
        },
        "nodes": [{"name": "fusion", "agent": "fused"}, {"name": "contrastive", "agent": "contrast"}],
        "output": "fusion",
    })
    local = LocalBackend(agents, ensembles=graph.ensembles)
    expected = run_graph(graph, questions, local).outputs
    tokens = local.tokens_generated()
    assert expected["fusion"] != greedy(local, "codes", questions), "fusion must change the output"
    with AgentPool(agents, ensembles=graph.ensembles) as pool:
        # codes, capitals and base share the quick base: one actor swaps their adapters between the
        # interleaved steps of their sessions; chatty runs on a second actor.
        assert sorted(sorted(p.agents) for p in pool.placements) == [["base", "capitals", "codes"], ["chatty"]]
        assert run_graph(graph, questions, pool).outputs == expected
        assert pool.tokens_generated() == tokens
