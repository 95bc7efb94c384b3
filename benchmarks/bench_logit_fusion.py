"""Logit fusion's per-token overhead across actors, against a single model.

    RAY_AUTH_MODE=disabled OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_logit_fusion.py [--repeats 5]

Members: the toy codes expert (standard zoo) and an untrained tiny llama of the same shape on
another base, so the pool puts them on two actors. Three ways answer the same composed test
questions greedily: the codes expert alone (Agent.generate), the two fused in this process, the
two fused on their actors (one round of Ray calls per token). Tokens are what the backends count
(a fused token once). Per batch size, prints the median tokens/s and ms/token over `--repeats`
runs measured alternately in one process, and each one's cost relative to the single model.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rayswarm.actors.pool import AgentPool, PoolMembers
from rayswarm.agents.backend import LocalBackend, LocalMembers
from rayswarm.agents.ensemble import run_ensemble
from rayswarm.agents.tasksource import load_task_source
from rayswarm.clusters.connect import connect
from rayswarm.graphs.ensembles import Fusion
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

AGENTS = {"codes": AgentSpec(model="tiny:codes"), "other": AgentSpec(model="tiny:random-llama")}
FUSION = Fusion(kind="fusion", agents=["codes", "other"], weights=[0.7, 0.3])
OPTIONS = GenerationOptions(max_new_tokens=32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    torch.set_num_threads(1)
    questions = load_task_source("toy:composed", split="test").inputs
    connect()
    local = LocalBackend(AGENTS)
    local.load_all()
    with AgentPool(AGENTS) as pool:
        pool.load_all()
        assert len(pool.placements) == 2, "the members must sit on two actors"
        methods = {
            "single model (in-process)": (local, lambda batch: local.agent("codes").generate(batch, OPTIONS, system="")),
            "fusion of 2 (in-process)": (local, lambda batch: run_ensemble(FUSION, LocalMembers(local), batch,
                                                                           OPTIONS, None)),
            "fusion of 2 (2 actors)": (pool, lambda batch: run_ensemble(FUSION, PoolMembers(pool), batch,
                                                                        OPTIONS, None)),
        }
        for size in args.batches:
            batch = questions[:size]
            outputs = {name: run(batch) for name, (_, run) in methods.items()}  # warm-up
            assert outputs["fusion of 2 (in-process)"] == outputs["fusion of 2 (2 actors)"], "fused outputs differ"
            rates: dict[str, list[float]] = {name: [] for name in methods}
            for _ in range(args.repeats):
                for name, (backend, run) in methods.items():
                    before, start = backend.tokens_generated(), time.perf_counter()
                    run(batch)
                    seconds = time.perf_counter() - start
                    rates[name].append((backend.tokens_generated() - before) / seconds)
            report(size, {name: statistics.median(r) for name, r in rates.items()}, args.repeats)


def report(size: int, rates: dict[str, float], repeats: int) -> None:
    print(f"batch of {size} (median of {repeats}, {OPTIONS.max_new_tokens} new tokens at most):")
    single = next(iter(rates.values()))
    for name, rate in rates.items():
        print(f"  {name:<28} {rate:8.1f} tokens/s  {1000 / rate:7.2f} ms/token  ×{single / rate:.2f} the single model's")


if __name__ == "__main__":
    main()
