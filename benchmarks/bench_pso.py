"""The PSO core against pyswarms' GlobalBestPSO: final fitness at equal budgets, and time per step.

    .venv/bin/pip install pyswarms        # the baseline (the `bench` extra)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_pso.py [--seeds 5] [--big-dims 1000000]

Fitness: sphere, Rastrigin and Rosenbrock in 10 dimensions, 20 particles, 200 evaluations of the
swarm each, the same starting positions for every optimiser; the median over seeds of the final best
(lower is better). Our two rules: "global_best" (textbook PSO with the same w, c1, c2 as pyswarms,
starting at rest) and "model_swarms" (the papers' rule, reference defaults, no patience stop).

Speed: one step (update + objective) at D = 10^6, P = 20 on the sphere; median of several steps,
measured in the same process, and the ratio pyswarms / ours.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import numpy as np
import pyswarms
import torch

from rayswarm.swarms.pso import PSO, PSOConfig

W, C1, C2 = 0.729, 1.49445, 1.49445  # Clerc's constriction values, for both textbook implementations
PARTICLES, DIMS, EVALUATIONS = 20, 10, 200


def sphere(x):
    # einsum: no (P × D) temporary, in numpy and torch alike
    return np.einsum("ij,ij->i", x, x) if isinstance(x, np.ndarray) else torch.einsum("ij,ij->i", x, x)


def rastrigin(x):
    return 10 * x.shape[1] + (x**2 - 10 * np.cos(2 * np.pi * x)).sum(1) if isinstance(x, np.ndarray) else \
        10 * x.shape[1] + (x**2 - 10 * torch.cos(2 * torch.pi * x)).sum(1)


def rosenbrock(x):
    return (100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2).sum(1)


def ours(f, x0: np.ndarray, config: PSOConfig, evaluations: int) -> float:
    swarm = PSO(torch.from_numpy(x0).float(), config.model_copy(update={
        "max_iterations": evaluations - 1, "patience": evaluations + 1}))
    while not swarm.done:
        swarm.tell(-f(swarm.ask()))  # utilities are maximised
    return -swarm.best[1]


def theirs(f, x0: np.ndarray, evaluations: int, seed: int) -> float:
    np.random.seed(seed)
    optimizer = pyswarms.single.GlobalBestPSO(PARTICLES, x0.shape[1], {"w": W, "c1": C1, "c2": C2},
                                              init_pos=x0.copy())
    cost, _ = optimizer.optimize(f, iters=evaluations, verbose=False)
    return float(cost)


def fitness_table(seeds: int) -> None:
    configs = {
        # textbook PSO: the same w, c1, c2 as pyswarms, no λ decay, no restarts, starting at rest
        "ours global_best": PSOConfig(rule="global_best", inertia=W, cognitive=C1, social=C2,
                                      step_length_factor=1.0, restart_patience=0, initial_velocity="zero"),
        "ours model_swarms": PSOConfig(),
    }
    print(f"final best (median of {seeds} seeds; D={DIMS}, P={PARTICLES}, {EVALUATIONS} swarm evaluations; "
          "lower is better)")
    print(f"{'function':>11} | {'pyswarms':>10} | " + " | ".join(f"{name:>17}" for name in configs))
    for f in (sphere, rastrigin, rosenbrock):
        results = {"pyswarms": [], **{name: [] for name in configs}}
        for seed in range(seeds):
            x0 = np.random.default_rng(seed).uniform(-5, 5, (PARTICLES, DIMS))
            results["pyswarms"].append(theirs(f, x0, EVALUATIONS, seed))
            for name, config in configs.items():
                results[name].append(ours(f, x0, config.model_copy(update={"seed": seed}), EVALUATIONS))
        medians = {name: statistics.median(values) for name, values in results.items()}
        print(f"{f.__name__:>11} | {medians['pyswarms']:10.3g} | "
              + " | ".join(f"{medians[name]:17.3g}" for name in configs))


def step_times(dims: int, steps: int) -> None:
    x0 = np.random.default_rng(0).uniform(-5, 5, (PARTICLES, dims))
    optimizer = pyswarms.single.GlobalBestPSO(PARTICLES, dims, {"w": W, "c1": C1, "c2": C2}, init_pos=x0.copy())
    theirs_times = []
    for _ in range(steps):  # a few iterations per call, so its per-call setup is shared out
        start = time.perf_counter()
        optimizer.optimize(sphere, iters=3, verbose=False)
        theirs_times.append((time.perf_counter() - start) / 3)
    print(f"time per step at D={dims:.0e}, P={PARTICLES} (update + sphere objective, median of {steps}):")
    print(f"  pyswarms GlobalBestPSO: {1e3 * statistics.median(theirs_times):8.1f} ms")
    for rule in ("global_best", "model_swarms"):
        swarm = PSO(torch.from_numpy(x0).float(), PSOConfig(rule=rule, max_iterations=steps + 1))
        swarm.tell(-sphere(swarm.ask()))
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            swarm.tell(-sphere(swarm.ask()))
            times.append(time.perf_counter() - start)
        ratio = statistics.median(theirs_times) / statistics.median(times)
        print(f"  ours {rule:>17}: {1e3 * statistics.median(times):8.1f} ms  ({ratio:.1f}x faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--big-dims", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("pyswarms").setLevel(logging.WARNING)
    torch.set_num_threads(1)
    fitness_table(args.seeds)
    step_times(args.big_dims, args.steps)


if __name__ == "__main__":
    main()
