"""`rayswarm demo`: build the toy zoo (cached), run a three-expert graph, compare it with each expert alone.

The graph is a chain of the experts whose knowledge the toy world's composed questions split
between them (codes → twins → capitals). Each model alone is scored on the same questions, with
the same backend, so the table shows what the collaboration adds.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from rayswarm.commands import add_runtime_arguments

DEMO_CHAIN = ("codes", "twins", "capitals")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="build the toy zoo and compare a three-expert graph against each expert alone",
        description="Build the toy zoo (cached after the first time), run the graph codes -> twins -> capitals "
        "on the toy world's mixed task, and print each single model against the graph, overall and per "
        "question type. Writes a run directory.",
    )
    parser.add_argument("--preset", default="standard", help="zoo preset: standard (default) or quick")
    parser.add_argument("--split", choices=["dev", "test"], default="test", help="split to report (default test)")
    parser.add_argument("--run-dir", default="runs", help="where run directories go (default: runs/)")
    add_runtime_arguments(parser)
    parser.set_defaults(handler=handle)


def demo_config(preset: str):
    """The demo's run config, as a user would write it (it is saved as the run's config.yaml)."""
    from rayswarm.config import RunConfig
    from rayswarm.graphs.patterns import chain
    from rayswarm.graphs.spec import AgentSpec

    prefix = "" if preset == "standard" else f"{preset}/"
    agents = {name: AgentSpec(model=f"tiny:{prefix}{name}") for name in ("base", *DEMO_CHAIN)}
    graph = chain(list(DEMO_CHAIN), agents=agents)
    return RunConfig(name="demo", task={"name": f"toy:{prefix}mixed"}, graph=graph)


def single_config(config, agent: str):
    """The same run with one agent answering alone."""
    from rayswarm.graphs.patterns import chain

    return config.model_copy(update={"graph": chain([agent], agents=config.graph.agents)})


def scores_by_kind(task, predictions: list[str]) -> dict[str, float]:
    """Accuracy overall and per question kind (a composed type, or a domain for single questions)."""
    groups = defaultdict(list)
    for example, score in zip(task.examples, task.score(predictions), strict=True):
        groups["all"].append(score)
        groups[example.meta.get("type") or example.meta.get("domain", "other")].append(score)
    return {kind: sum(v) / len(v) for kind, v in groups.items()}


def handle(args: argparse.Namespace) -> int:
    from rayswarm.agents.zoo import build_zoo, format_report
    from rayswarm.graphs.rundir import RunDir
    from rayswarm.graphs.tables import format_table
    from rayswarm.runner import evaluate_graph, graph_backend

    zoo = build_zoo(args.preset, progress=True)
    print(format_report(zoo.report), end="\n\n")
    config = demo_config(args.preset)
    task = config.load_task(split=args.split)
    systems = {f"{name} alone": single_config(config, name) for name in config.graph.agents}
    systems[" -> ".join(DEMO_CHAIN)] = config
    results = {}
    with graph_backend(config.graph.agents, config.seed, args.local, args.address) as backend:
        for label, system in systems.items():
            report = evaluate_graph(system, task, backend)
            results[label] = scores_by_kind(task, report.result.final)
    kinds = ["all", *sorted(k for k in results[label] if k != "all")]  # the same kinds for every system
    rows = [[label, *(scores.get(kind) for kind in kinds)] for label, scores in results.items()]
    print(format_table(["system", *kinds], rows,
                       title=f"{task.name} [{task.split}, {len(task.examples)} questions]: accuracy"))
    run_dir = RunDir(args.run_dir, config.name)
    run_dir.write_config(config.model_dump(mode="json", exclude_defaults=True))
    run_dir.write_summary({"task": task.name, "split": task.split, "examples": len(task.examples),
                           "systems": results})
    print(f"run directory: {run_dir.path}")
    return 0
