"""`rayswarm resume <run_dir>`: continue an interrupted swarm run from its last checkpoint."""

from __future__ import annotations

import argparse

from rayswarm.commands.swarm import report


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "resume",
        help="continue an interrupted swarm run from its run directory",
        description="Reload a swarm run's config.yaml and its last checkpoint (checkpoints/swarm.pt) and carry "
        "on into the same run directory. With the same seed, the result equals an uninterrupted run's.",
    )
    parser.add_argument("run_dir", help="the run directory a `rayswarm swarm` run printed")
    parser.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else an embedded local Ray)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rayswarm.config import load_swarm_config
    from rayswarm.graphs.rundir import RunDir
    from rayswarm.runner import execute_swarm

    run_dir = RunDir.existing(args.run_dir)
    config = load_swarm_config(run_dir.path / "config.yaml")
    return report(*execute_swarm(config, address=args.address, run_dir=run_dir))
