"""`rayswarm demo`: build the toy zoo (cached), then optimise a system of three experts with
Heterogeneous Swarms on local Ray, and print it against each expert alone and the baselines.

The run is examples/heterogeneous_swarms.yaml (a test keeps the two equal), so what the demo shows
is one command away from a user's own run.
"""

from __future__ import annotations

import argparse

DEMO = {
    "name": "heterogeneous_swarms",
    "seed": 0,
    "method": "heterogeneous_swarms",
    "task": {"name": "toy:mixed_full", "limit": 100, "test_limit": 400},
    "experts": {name: {"model": f"tiny:{name}", "generation": {"max_new_tokens": 24}}
                for name in ("codes", "twins", "capitals")},
    "heterogeneous_swarms": {
        "graphs": 8, "assignments": 8, "random_graphs": 5, "evaluators": 2,
        "graph_pso": {"max_iterations": 8, "patience": 4, "step_length": 0.5},
        "model_pso": {"max_iterations": 8, "patience": 4, "step_length": 0.5},
    },
}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="build the toy zoo and optimise a three-expert system with Heterogeneous Swarms",
        description="Build the toy zoo (about 12 minutes once on 2 cores, cached afterwards), then run "
        "Heterogeneous Swarms over the codes, twins and capitals experts on the toy world's mixed task, on "
        "an embedded local Ray (a few minutes), and print the optimised system against each expert, the best "
        "single one, a uniform merge, a mixture-of-agents graph and random graphs, on dev and test. Writes a "
        "run directory; `rayswarm run <run_dir>/best/run.yaml` runs the best system again.",
    )
    parser.add_argument("--preset", default="standard", help="zoo preset: standard (default), quick or smollm2 (for a GPU)")
    parser.add_argument("--limit", type=int, help="questions per split (default 100)")
    parser.add_argument("--iterations", type=int, help="swarm iterations at most (default 8)")
    parser.add_argument("--run-dir", default="runs", help="where run directories go (default: runs/)")
    parser.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else an embedded local Ray)")
    parser.set_defaults(handler=handle)


def demo_config(preset: str = "standard", limit: int | None = None, iterations: int | None = None):
    """The demo's swarm config, for a zoo preset, optionally shortened."""
    from rayswarm.config import SwarmConfig

    config = SwarmConfig.model_validate(DEMO)
    if preset != "standard":
        prefix = f"{preset}/"
        config.task.name = f"toy:{prefix}mixed_full"
        config.experts = {name: spec.model_copy(update={"model": f"tiny:{prefix}{name}"})
                          for name, spec in config.experts.items()}
    if limit:
        config.task.limit = config.task.test_limit = limit
    if iterations is not None:
        settings = config.heterogeneous_swarms
        for pso in (settings.graph_pso, settings.model_pso):
            pso.max_iterations = iterations
    return config


def handle(args: argparse.Namespace) -> int:
    from rayswarm.agents.zoo import build_zoo, format_report
    from rayswarm.commands.swarm import report
    from rayswarm.runner import execute_swarm

    zoo = build_zoo(args.preset, progress=True)
    print(format_report(zoo.report), end="\n\n")
    config = demo_config(args.preset, args.limit, args.iterations)
    return report(*execute_swarm(config, args.run_dir, args.address))
