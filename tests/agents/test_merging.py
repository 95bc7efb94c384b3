"""The merge operations on small exact tensors, against PEFT's own merges, and PEFT's ΔW merges read back."""

import pytest
import torch
from peft.utils import merge_utils

from rayswarm.actors.host import ModelHost
from rayswarm.agents.merging import DeltaSpace, VectorSpace, drop, expo_weights, trim
from rayswarm.graphs.spec import AgentSpec

EXPERTS = torch.tensor([[1.0, -2.0, 3.0, 0.0],
                        [2.0, 1.0, -0.5, 0.0],
                        [-4.0, 1.0, -1.5, 0.0]])


def test_the_uniform_soup_is_the_mean():
    soup = VectorSpace(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])).merge("linear", torch.full((3,), 1 / 3))
    assert torch.allclose(soup, torch.tensor([3.0, 5.0]))


def test_trim_keeps_each_experts_largest_magnitudes():
    vectors = torch.tensor([[0.1, -3.0, 2.0, 0.5], [4.0, 0.2, -0.3, -1.0]])
    assert torch.equal(trim(vectors, 0.5), torch.tensor([[0.0, -3.0, 2.0, 0.0], [4.0, 0.0, 0.0, -1.0]]))


def test_ties_elects_a_sign_per_entry_and_averages_only_the_experts_that_agree():
    space = VectorSpace(EXPERTS)
    # total: the sign of the column sums (-1, 0 → +, 1, 0); frequency: of the sign counts (+, +, −, 0 → +)
    assert torch.equal(space.merge("ties", torch.ones(3), 1.0, "total"), torch.tensor([-4.0, 1.0, 3.0, 0.0]))
    assert torch.equal(space.merge("ties", torch.ones(3), 1.0, "frequency"), torch.tensor([1.5, 1.0, -1.0, 0.0]))
    # each expert trimmed to its top half: column 1 is then -2 (expert 0) + 1 (expert 1) → −
    assert torch.equal(space.merge("ties", torch.ones(3), 0.5), torch.tensor([-4.0, -2.0, 3.0, 0.0]))


@pytest.mark.parametrize("sign", ["total", "frequency"])
def test_ties_on_vectors_is_pefts_ties(sign):
    vectors = torch.randn(3, 1000, generator=torch.Generator().manual_seed(0))
    weights = torch.tensor([1.0, 0.5, 2.0])
    expected = merge_utils.ties(list(vectors), weights, 0.3, sign)
    assert torch.allclose(VectorSpace(vectors).merge("ties", weights, 0.3, sign), expected)


def test_dare_drops_a_fraction_p_and_keeps_the_expectation():
    dropped = drop(torch.ones(2, 50_000), 0.3, torch.Generator().manual_seed(1))
    assert dropped.unique().tolist() == [0.0, pytest.approx(1 / 0.7)]
    assert (dropped == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert dropped.mean().item() == pytest.approx(1.0, abs=0.01)


def test_dare_is_seeded():
    space = VectorSpace(torch.randn(3, 200, generator=torch.Generator().manual_seed(0)))
    merge = lambda seed, how="dare_linear": space.merge(how, torch.full((3,), 1 / 3), 0.5, seed=seed)  # noqa: E731
    assert torch.equal(merge(7), merge(7)) and not torch.equal(merge(7), merge(8))
    assert torch.equal(merge(7, "dare_ties"), merge(7, "dare_ties"))


def test_expo_extrapolates_from_weak_through_strong():
    space = VectorSpace(EXPERTS)
    from_expert = space.merge("linear", expo_weights(3, strong=1, weak=2, alpha=0.5))
    assert torch.allclose(from_expert, EXPERTS[1] + 0.5 * (EXPERTS[1] - EXPERTS[2]))
    from_base = space.merge("linear", expo_weights(3, strong=0, weak=None, alpha=0.25))
    assert torch.allclose(from_base, 1.25 * EXPERTS[0])


@pytest.fixture
def host(quick_zoo):
    """The quick zoo's three experts as PEFT adapters of one base model."""
    return ModelHost({name: AgentSpec(model=f"tiny:quick/{name}") for name in ("codes", "twins", "capitals")})


def logits(host: ModelHost, name: str) -> torch.Tensor:
    with host.active(name) as agent, torch.no_grad():
        ids = agent.tokenizer(["What is the capital of the country with code K7Q? Bokia, Tamon"], return_tensors="pt")
        return agent.model(**ids).logits


def test_a_delta_merge_read_back_as_a_vector_runs_like_pefts_merged_adapter(host):
    model, adapters = host.agent.model, list(host.adapters.values())
    model.add_weighted_adapter(adapters, [1.0, 1.0, 1.0], "direct", combination_type="ties_svd", density=0.2)
    host.adapters["direct"], host.specs["direct"] = "direct", host.specs["codes"]
    direct = logits(host, "direct")
    expert = logits(host, "codes")
    vector = DeltaSpace(model, adapters).merge("ties", [1.0, 1.0, 1.0], 0.2)
    assert "merged" not in model.peft_config
    host.set_vector("twins", vector)  # PEFT's merge has lora_alpha = r; the vector is in the experts' scaling
    assert torch.allclose(logits(host, "twins"), direct, atol=1e-5)
    assert not torch.allclose(direct, expert, atol=1e-3)


def test_a_delta_merge_of_one_expert_is_that_expert_and_dare_is_seeded(host):
    space = DeltaSpace(host.agent.model, list(host.adapters.values()))
    expert = logits(host, "codes")
    host.set_vector("twins", space.merge("linear", [1.0, 0.0, 0.0]))
    assert torch.allclose(logits(host, "twins"), expert, atol=1e-5)
    dare = lambda seed: space.merge("dare_linear", [1 / 3] * 3, 0.5, seed=seed)  # noqa: E731
    assert torch.equal(dare(3), dare(3)) and not torch.equal(dare(3), dare(4))
