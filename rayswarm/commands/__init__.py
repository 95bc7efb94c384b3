"""One module per `rayswarm` verb: add_parser(subparsers) registers it, its handler runs it."""


def add_runtime_arguments(parser) -> None:
    """Where the agents run: the flags every verb that executes a graph shares."""
    group = parser.add_argument_group("runtime")
    group.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else an embedded local Ray)")
    group.add_argument("--local", action="store_true",
                       help="run every agent in this process, without Ray (quick checks, debugging)")
