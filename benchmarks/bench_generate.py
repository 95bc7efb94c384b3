"""Batched greedy generation on a tiny model against one prompt at a time (the baseline).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_generate.py [--items 800] [--repeats 5]

Prints the median wall time of each over `--repeats` runs, measured in the same process, and their
ratio. Uses the untrained `tiny:random-llama` so it needs no zoo; outputs are checked equal.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rayswarm.agents.agent import Agent


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("--baseline-items", type=int, default=80, help="one-at-a-time is slow: time fewer")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    agent = Agent.load("tiny:random-llama")
    prompts = [f"What is the capital of the country with code K{i % 10}Q{i % 7}?" for i in range(args.items)]
    options = dict(max_new_tokens=args.max_new_tokens)
    batched, outs = timed(lambda: agent.generate(prompts, **options), args.repeats)
    few = prompts[: args.baseline_items]
    single, single_outs = timed(lambda: [agent.generate([p], **options)[0] for p in few], args.repeats)
    assert single_outs == outs[: len(few)], "batched and one-at-a-time greedy outputs differ"
    per_item_batched, per_item_single = batched / len(prompts), single / len(few)
    print(f"batched:        {len(prompts)} items in {batched:.3f} s ({1e3 * per_item_batched:.2f} ms/item)")
    print(f"one at a time:  {len(few)} items in {single:.3f} s ({1e3 * per_item_single:.2f} ms/item)")
    print(f"speed-up per item: {per_item_single / per_item_batched:.1f}x (median of {args.repeats} runs)")


if __name__ == "__main__":
    main()
