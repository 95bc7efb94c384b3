"""One module per `rayswarm` verb: add_parser(subparsers) registers it, its handler runs it."""
