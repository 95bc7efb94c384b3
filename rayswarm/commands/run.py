"""`rayswarm run <config.yaml>`: run a graph over a task, print per-node and final scores."""

from __future__ import annotations

import argparse

from rayswarm.commands import add_runtime_arguments


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a collaboration graph over a task and score it (on Ray actors)",
        description="Run a collaboration graph (YAML) over a task, batched one node at a time, each agent on "
        "a Ray actor (an embedded local Ray unless --address or RAY_ADDRESS names a cluster), and print "
        "each node's score and the final score. Writes a run directory (config, log, predictions, summary).",
    )
    parser.add_argument("config", help="run config YAML, or a swarm config (see examples/)")
    parser.add_argument("--split", choices=["dev", "test"], help="override the config's split")
    parser.add_argument("--limit", type=int, help="score only the first N examples")
    parser.add_argument("--output", help="also write the predictions as JSONL to this path")
    parser.add_argument("--run-dir", default="runs", help="where run directories go (default: runs/)")
    add_runtime_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rayswarm.config import load_any_config
    from rayswarm.runner import execute_run

    kind, config = load_any_config(args.config)
    if kind == "swarm":  # `rayswarm run` takes swarm configs too, as `rayswarm swarm` does
        from rayswarm.commands.swarm import report
        from rayswarm.runner import execute_swarm

        return report(*execute_swarm(config, args.run_dir, args.address))
    report, run_dir = execute_run(config, args.split, args.limit, args.run_dir, args.output,
                                   local=args.local, address=args.address)
    print(report.table(config.graph))
    print(f"final score: {report.final_score:.3f}  ({report.seconds:.2f} s)")
    print(f"run directory: {run_dir.path}")
    return 0
