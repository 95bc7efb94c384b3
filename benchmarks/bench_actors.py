"""Actor-hosted graph execution against in-process execution: same graph, same batch, same outputs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_actors.py [--preset standard] [--repeats 5]

The graph is examples/chain.yaml (codes -> twins -> capitals) over the toy world's composed test split.
Both backends run with one math thread; the actor one on an embedded local Ray (started before
timing). Prints the median of each over `--repeats` runs, measured alternately in the same process,
and the overhead ratio (goal <= 1.10).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from rayswarm.config import load_config
from rayswarm.graphs.execute import run_graph
from rayswarm.runner import graph_backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(Path(__file__).parents[1] / "examples" / "chain.yaml"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)
    questions = config.load_task(split="test").inputs
    times: dict[str, list[float]] = {"in-process": [], "actors": []}
    with graph_backend(config.graph.agents, local=True) as local, graph_backend(config.graph.agents) as pool:
        backends = {"in-process": local, "actors": pool}
        outputs = {name: run_graph(config.graph, questions, b).final for name, b in backends.items()}  # warm-up
        assert outputs["in-process"] == outputs["actors"], "actor and in-process outputs differ"
        for _ in range(args.repeats):
            for name, backend in backends.items():
                start = time.perf_counter()
                run_graph(config.graph, questions, backend)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        print(f"{name:>10}: {median:.3f} s  (median of {args.repeats}; {len(questions)} questions, 3 nodes)")
    print(f"overhead ratio actors / in-process: {medians['actors'] / medians['in-process']:.3f}")


if __name__ == "__main__":
    main()
