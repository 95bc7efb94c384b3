"""The PSO core: the update rule by hand, bookkeeping, patience, restarts, seeds, resume, convergence."""

import pytest
import torch

from rayswarm.graphs.errors import ConfigError
from rayswarm.swarms.pso import PSO, PSOConfig, populate


def sphere_utility(x: torch.Tensor) -> torch.Tensor:
    return -(x**2).sum(dim=1)


def run(swarm: PSO, utility=sphere_utility, iterations: int | None = None) -> PSO:
    steps = 0
    while not swarm.done and (iterations is None or steps < iterations):
        swarm.tell(utility(swarm.ask()))
        steps += 1
    return swarm


def test_one_update_matches_the_reference_rule_by_hand():
    config = PSOConfig(weight_randomness=False, inertia=0.4, cognitive=0.3, social=0.2, repel=0.1,
                       initial_velocity="zero", step_length=0.5, restart_patience=0)
    x0 = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    swarm = PSO(x0, config)
    swarm.ask()
    swarm.tell([1.0, 3.0, -1.0])  # g = particle 1, g_w = particle 2, p = x
    x = swarm.ask().clone()
    g, g_w = x0[1], x0[2]
    # C = 0.4 + 0.3 + 0.2 + 0.1 = 1; v = 0.4·0 + 0.3·(p − x) + 0.2·(g − x) + 0.1·(x − g_w), p = x
    expected_v = 0.2 * (g - x0) + 0.1 * (x0 - g_w)
    assert torch.allclose(swarm.v, expected_v) and torch.allclose(x, x0 + 0.5 * expected_v)


def test_weights_are_normalised_per_particle():
    # Scale every coefficient by 10: the C-normalisation makes the update identical.
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    small, big = (PSO(x0, PSOConfig(inertia=k * 0.4, cognitive=k * 0.3, social=k * 0.3, repel=k * 0.3))
                  for k in (1, 10))
    for swarm in (small, big):
        swarm.ask()
        swarm.tell(sphere_utility(x0))
    assert torch.allclose(small.ask(), big.ask())


def test_bests_are_the_best_and_worst_ever():
    swarm = PSO(torch.zeros(3, 2), PSOConfig(initial_velocity="zero", restart_patience=0))
    swarm.ask()
    swarm.tell([1.0, 2.0, 3.0])
    p_before = swarm.p.clone()
    swarm.ask()
    swarm.tell([1.0, 0.0, -5.0])  # no strict improvement: p unchanged; worst ever is now -5
    assert swarm.p_score.tolist() == [1.0, 2.0, 3.0] and torch.equal(swarm.p, p_before)
    assert swarm.g_score == 3.0 and swarm.g_w_score == -5.0 and swarm.g_history == [3.0, 3.0]


def test_patience_stops_when_the_global_best_stalls():
    swarm = PSO(torch.randn(4, 2), PSOConfig(patience=3, max_iterations=50))
    run(swarm, utility=lambda x: torch.zeros(x.shape[0]))
    assert swarm.g_history == [0.0, 0.0, 0.0] and swarm.iteration == 2


def test_a_stray_particle_restarts_from_its_best():
    config = PSOConfig(patience=2, restart_patience=1.0, weight_randomness=False, inertia=1.0, cognitive=0.0,
                       social=0.0, repel=0.0, max_iterations=10, initial_velocity="zero")
    swarm = PSO(torch.tensor([[0.0], [1.0]]), config)
    swarm.ask()
    swarm.tell([1.0, 0.0])
    swarm.v[0] = 5.0  # particle 0 drifts away...
    swarm.ask()
    swarm.tell([0.5, 0.0])  # ...without improving: its best is 2 evaluations old = 1.0 · patience
    assert swarm.x[0].item() == 5.0
    swarm.ask()  # restart: x ← p, v ← 0, then the (pure-inertia) update leaves it there
    assert swarm.x[0].item() == 0.0 and swarm.v[0].item() == 0.0


def test_step_length_decays_once_per_iteration_to_its_floor():
    config = PSOConfig(step_length=1.0, step_length_factor=0.5, minimum_step_length=0.2, max_iterations=4)
    swarm = run(PSO(torch.randn(3, 2), config))
    assert swarm.iteration == 4 and swarm.step == 0.2  # 1 → .5 → .25 → .2 → .2


def test_seeded_runs_repeat_and_seeds_differ():
    x0 = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    a, b, c = (run(PSO(x0, PSOConfig(seed=seed, max_iterations=8))) for seed in (0, 0, 1))
    assert torch.equal(a.x, b.x) and a.g_history == b.g_history
    assert not torch.equal(a.x, c.x)


@pytest.mark.parametrize("rule", ["model_swarms", "global_best"])
def test_resume_from_a_checkpoint_continues_bit_for_bit(rule, tmp_path):
    x0 = torch.randn(5, 4, generator=torch.Generator().manual_seed(2))
    config = PSOConfig(rule=rule, max_iterations=12, restart_patience=0.3)
    straight = run(PSO(x0, config))
    interrupted = run(PSO(x0, config), iterations=5)
    torch.save(interrupted.state_dict(), tmp_path / "swarm.pt")
    resumed = run(PSO.from_state_dict(torch.load(tmp_path / "swarm.pt")))
    assert torch.equal(straight.x, resumed.x) and straight.g_history == resumed.g_history


# The papers' rule contracts onto the best particle fast (its velocity is a convex combination of
# directions between particles): made for a few dozen costly steps, it gains less on the sphere than
# textbook PSO. benchmarks/RESULTS.md has both against pyswarms.
@pytest.mark.parametrize(("rule", "gain"), [("model_swarms", 2), ("global_best", 100)])
def test_it_optimises_the_sphere(rule, gain):
    x0 = torch.rand(10, 8, generator=torch.Generator().manual_seed(3)) * 10 - 5
    config = PSOConfig(rule=rule, max_iterations=100, patience=100) if rule == "model_swarms" else PSOConfig(
        rule=rule, inertia=0.7, cognitive=1.5, social=1.5, step_length=1.0, step_length_factor=1.0,
        max_iterations=100, patience=100, restart_patience=0)
    swarm = run(PSO(x0, config))
    start = sphere_utility(x0).max().item()
    assert swarm.best[1] > start / gain  # utilities are negative: `gain` times closer to the optimum


def on_crossover_line(child, a, b) -> bool:
    """child == w·a + (1 − w)·b for some w in [0, 2]."""
    w = torch.dot(child - b, a - b) / torch.dot(a - b, a - b)
    return 0 <= w <= 2 and torch.allclose(child, w * a + (1 - w) * b, atol=1e-6)


def test_populate_tops_up_by_crossover():
    experts = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    pool = populate(experts, 8, seed=0)
    assert pool.shape == (8, 2) and torch.equal(pool[:3], experts)
    for child in pool[3:]:
        assert any(on_crossover_line(child, experts[a], experts[b]) for a in range(3) for b in range(3) if a != b)
    assert torch.equal(populate(experts, 8, seed=0), pool)


def test_misuse_is_a_clear_error():
    swarm = PSO(torch.zeros(3, 2))
    swarm.ask()
    with pytest.raises(ConfigError, match="2 utilities for 3 particles"):
        swarm.tell([1.0, 2.0])
    with pytest.raises(ConfigError, match="NaN"):
        swarm.tell([1.0, float("nan"), 0.0])
    swarm.tell([1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="twice"):
        swarm.tell([1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="≥ 2 particles"):
        PSO(torch.zeros(1, 4))
