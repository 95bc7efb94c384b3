"""Data Swarms on the toy world: do the optimised generators beat the initial ones on the objective?

    RAY_AUTH_MODE=disabled OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_data_swarms.py \
        [examples/data_swarms.yaml] [--run-dir runs]

Runs the config (its generators are trained on their clusters first, cached), then prints a
markdown table for benchmarks/RESULTS.md: each initial generator and the global best on the
objective, measured on fresh draws (new seeds) with few-shot examples from dev and from test;
the objective per round (adversarial: the takers' pool mean and best test score too); what the
best generator writes, or the final adversarial pool (distinct items, letters, repeated letters,
copies of dev inputs) against the dev inputs themselves; the machine and times.
For adversarial configs the table is the test takers' accuracy instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from rayswarm.agents.datagen import sort_answer
from rayswarm.agents.tasksource import load_task_source
from rayswarm.config import load_swarm_config
from rayswarm.runner import execute_swarm


def describe(inputs: list[str], dev: set[str]) -> str:
    """Letters per sort item, the share with a repeated letter and the share copied from dev."""
    letters = [question.rsplit(": ", 1)[-1] for question in inputs]
    repeated = sum(len(set(x)) < len(x) for x in letters) / len(letters)
    copies = sum(question in dev for question in inputs) / len(inputs)
    return (f"{len(inputs)} items, {sum(map(len, letters)) / len(letters):.1f} letters, "
            f"{100 * repeated:.0f}% with a repeated letter, {100 * copies:.0f}% copies of dev inputs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="examples/data_swarms.yaml")
    parser.add_argument("--run-dir", default="runs")
    args = parser.parse_args()
    config = load_swarm_config(args.config)
    start = time.perf_counter()
    summary, run_dir = execute_swarm(config, args.run_dir)
    seconds = time.perf_counter() - start
    settings = config.data_swarms
    print(f"\n{config.name}: {summary['method']} on {summary['task']}, objective {summary['objective']}, "
          f"{len(summary['takers'])} takers ({', '.join(summary['takers'])}), {summary['particles']} particles, "
          f"{summary['iterations']} iterations of {settings.prompts} prompts × {settings.items} items per generator; "
          f"final table: {settings.final_prompts} prompts per generator and split\n")
    adversarial = summary["method"] == "adversarial_swarms"
    header = "| test taker | dev accuracy | test accuracy |" if adversarial else "| generator | dev draw | test draw |"
    print(header + "\n|---|---|---|")
    for name, scores in summary["systems"].items():
        print(f"| {name} | {scores['dev']:.3f} | {scores['test']:.3f} |")
    rounds = [row for _, row in sorted({r["iteration"]: r for r in run_dir.read_log()
                                        if r.get("event") == "iteration"}.items())]
    print("\nper round (best so far / swarm mean): " + ", ".join(f"{r['best']:.3f}/{r['mean']:.3f}" for r in rounds))
    if adversarial:
        print("takers per round (mean on the pool / best on test): "
              + ", ".join(f"{sum(r['taker_utilities']) / len(r['taker_utilities']):.3f}/{r['taker_test_best']:.3f}"
                          for r in rounds))
    counts = summary["counts"]
    print(f"generator outputs: {counts['outputs']}, unparseable {counts.get('unparseable', 0)}, items parsed "
          f"{counts['parsed']}, without a target (dropped) {counts.get('unjudgeable', 0)}, padding "
          f"{counts.get('padded', 0)}")
    dev = load_task_source(config.task.name, "dev")
    dataset = load_task_source(summary["dataset"], "dev")
    inputs = set(dev.inputs)
    if settings.answer_key == "sort":
        print(f"dev inputs: {describe(dev.inputs, inputs)}")
        label = "the final pool" if adversarial else "best generator's dev draw"
        print(f"{label}: {describe(dataset.inputs, inputs)}; "
              f"all targets from the key: {all(ex.target == sort_answer(ex.input) for ex in dataset.examples)}")
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end; wall time {seconds:.0f} s (generator training included unless "
          f"cached); run directory {Path(run_dir.path)}")


if __name__ == "__main__":
    main()
