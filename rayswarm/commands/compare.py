"""`rayswarm compare <task> <agents...>`: which kind of collaboration pays on this task?"""

from __future__ import annotations

import argparse

from rayswarm.commands import add_runtime_arguments


def add_parser(subparsers) -> None:
    from rayswarm.compare import ALL_METHODS, DEFAULT_METHODS

    parser = subparsers.add_parser(
        "compare",
        help="run many collaboration methods on one task and print score, tokens and time",
        description="Run a chosen set of collaboration methods (single agents; text, API, logit and weight "
        "level; swarms) built from the same agents on one task, and print one table of score, tokens "
        "generated and wall time. The first agent is the main model (aggregator, fuser, answerer, router, "
        "contrastive expert), the last the contrastive amateur; cascades try the agents in order. Methods "
        "that learn (trained router, merges, swarms) learn on dev. Example: "
        "rayswarm compare toy:mixed tiny:codes tiny:capitals tiny:twins --limit 100",
    )
    parser.add_argument("task", help="toy:<task>, a folder with dev/test.jsonl, or a .jsonl file")
    parser.add_argument("agents", nargs="+", help="model sources (tiny:codes, a folder, a hub id), or name=source")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated (default: %(default)s); all: {', '.join(ALL_METHODS)}")
    parser.add_argument("--split", choices=["dev", "test"], default="test", help="where to report (default: test)")
    parser.add_argument("--metric", default="exact_match", help="exact_match, choice or token_f1")
    parser.add_argument("--limit", type=int, help="use the first N examples of each split")
    parser.add_argument("--iterations", type=int, default=5, help="PSO iterations of swarm methods (default: 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default="runs", help="where run directories go (default: runs/)")
    add_runtime_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rayswarm.agents.tasksource import load_task_source
    from rayswarm.compare import agent_name, check_methods, compare, compare_table
    from rayswarm.config import check_agents

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    named = [agent_name(source) for source in args.agents]
    check_methods(methods, [name for name, _ in named])
    agents = dict(named)
    check_agents(agents, "compare")
    task = load_task_source(args.task, args.split, args.metric, args.limit)
    rows, run_dir = compare(task, agents, methods, limit=args.limit, iterations=args.iterations, seed=args.seed,
                            run_root=args.run_dir, local=args.local, address=args.address,
                            progress=lambda method: print(f"rayswarm: running {method}", flush=True))
    print(compare_table(rows, task))
    print(f"run directory: {run_dir.path}")
    return 0
