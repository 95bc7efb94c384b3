"""`rayswarm swarm <config.yaml>` and `rayswarm resume <run_dir>`: optimise a system with a swarm."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "swarm",
        help="optimise experts with a particle swarm (Model/Heterogeneous/Data Swarms) or merge them, on Ray",
        description="Run a swarm search from a config (examples/model_swarms.yaml, heterogeneous_swarms.yaml, "
        "data_swarms.yaml, merge_*.yaml; `method:` picks model_swarms, heterogeneous_swarms, weight_merging or "
        "data_swarms): particles are the experts' LoRA weights (or graphs, or generators' weights), scored on the "
        "task's dev split by actors that keep the base model resident. "
        "Prints the final table (the optimised system against each expert, the best single expert and a "
        "uniform merge, on dev and test) and writes a run directory with a checkpoint per iteration, "
        "log.jsonl, convergence.png, best_adapter/ and summary.json. Resume with `rayswarm resume`.",
    )
    parser.add_argument("config", help="swarm config YAML")
    parser.add_argument("--run-dir", default="runs", help="where run directories go (default: runs/)")
    parser.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else an embedded local Ray)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rayswarm.config import load_swarm_config
    from rayswarm.runner import execute_swarm

    config = load_swarm_config(args.config)
    return report(*execute_swarm(config, args.run_dir, args.address))


def report(summary: dict, run_dir) -> int:
    from rayswarm.runner import swarm_table

    print(swarm_table(summary))
    print(f"run directory: {run_dir.path}")
    return 0
