"""`rayswarm zoo build|show`: the toy world's tiny base model and LoRA experts."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "zoo",
        help="build or show the toy zoo (tiny base model + one LoRA expert per domain)",
        description="The toy world: a tiny public base model and one LoRA expert per domain, trained on the "
        "CPU and cached by content hash under $RAYSWARM_CACHE (default ~/.cache/rayswarm).",
    )
    verbs = parser.add_subparsers(dest="zoo_verb", metavar="<action>", required=True)
    build = verbs.add_parser("build", help="train what is not cached yet and print the zoo's table",
                             description="Train the base model and every expert not cached yet, then print "
                             "each model's accuracy per domain (test splits) and the chain headline.")
    build.add_argument("--force", action="store_true", help="retrain everything, ignoring the cache")
    show = verbs.add_parser("show", help="print a built zoo's table and where its models are",
                            description="Print the table and paths of a zoo that is already built.")
    for sub in (build, show):
        sub.add_argument("--preset", default="standard",
                         help="standard (the demo's, ~10 min to build), quick (the tests', ~1 min) or "
                         "smollm2 (LoRA experts on SmolLM2-135M-Instruct: minutes on a GPU, hours on a CPU)")
    build.set_defaults(handler=handle_build)
    show.set_defaults(handler=handle_show)


def handle_build(args: argparse.Namespace) -> int:
    from rayswarm.agents.zoo import build_zoo, format_report

    zoo = build_zoo(args.preset, force=args.force, progress=True)
    print(format_report(zoo.report))
    return 0


def handle_show(args: argparse.Namespace) -> int:
    from rayswarm.agents.zoo import built_zoo, format_report

    zoo = built_zoo(args.preset)
    print(format_report(zoo.report))
    print(f"base: {zoo.base}")
    for domain, path in zoo.experts.items():
        print(f"{domain} expert: {path}")
    return 0
