"""The `rayswarm` command: one verb per job, each with its own --help.

Each verb lives in rayswarm/commands/<verb>.py with `add_parser(subparsers)` and `run(args)`, so
adding a verb is one file plus one line in VERBS. User mistakes (RayswarmError) become one line
on stderr and exit code 2; anything else keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rayswarm import __version__
from rayswarm.graphs.errors import RayswarmError

VERBS = ["run", "compare", "swarm", "resume", "submit", "serve", "train", "zoo", "demo", "flexolmo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rayswarm",
        description="Many LLMs collaborating as one system: graphs of agents, swarm optimization, on Ray.",
    )
    parser.add_argument("--version", action="version", version=f"rayswarm {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="<verb>", required=True)
    for verb in VERBS:
        importlib.import_module(f"rayswarm.commands.{verb}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # One "Loading weights" bar per model load drowns the bars that matter (zoo, swarm rounds).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except RayswarmError as err:
        print(f"rayswarm: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rayswarm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
