"""`rayswarm serve <config.yaml> ...`: serve graphs behind an OpenAI-compatible HTTP API until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import time

EPILOG = """example:
  rayswarm serve examples/chain.yaml examples/vote.yaml
  curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model": "chain", "messages": [{"role": "user", "content": "What is the capital of France?"}]}'
see docs/serve.md for the request fields, Python and Serve-YAML use"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve graphs over an OpenAI-compatible HTTP API (Ray Serve)",
        description="Serve collaboration graphs with Ray Serve: GET /v1/models lists them,\n"
        "POST /v1/chat/completions runs the one its `model` names on the last user message.\n"
        "Every config is validated first; the server runs until Ctrl-C.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("configs", nargs="+", metavar="config",
                        help="run config (model name = its `name`) or graph-only YAML (model name = file stem)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 = every interface)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else an embedded Ray)")
    parser.add_argument("--max-batch-size", type=int, default=32,
                        help="node requests a replica decodes together (default 32; 1 = no dynamic batching)")
    parser.add_argument("--colocate", action="store_true",
                        help="all agents of a graph in one deployment, whatever their base models: no DAG hop "
                        "leaves a replica (lower latency); the agents of a graph then scale together")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ray import serve

    from rayswarm.clusters.connect import connect, shutdown
    from rayswarm.clusters.serve import APP_NAME, deploy_failure, graph_app, layout
    from rayswarm.graphs.errors import ConfigError
    from rayswarm.graphs.schema import parse
    from rayswarm.serve import ServeArgs, load_graphs

    serve_args = parse(ServeArgs, {"graphs": args.configs, "max_batch_size": args.max_batch_size,
                                   "colocate": args.colocate}, source="rayswarm serve")
    graphs = load_graphs(serve_args)
    embedded = not (args.address or os.environ.get("RAY_ADDRESS"))
    if embedded:  # a cluster's proxy may run on another machine: only a local port can be checked
        check_port(args.host, args.port)
    connect(args.address)
    # SIGTERM shuts down as cleanly as Ctrl-C (a bare SIGTERM would leave the embedded Ray's workers behind).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        try:
            serve.run(graph_app(graphs, serve_args), name=APP_NAME, route_prefix="/")
        except RuntimeError as err:  # a replica's model failed to load: the user's input, said in one line
            raise ConfigError(f"a model failed to load: {deploy_failure(str(err))}") from None
        print(f"serving {', '.join(graphs)} at http://{args.host}:{args.port}/v1  (Ctrl-C stops)")
        for name, held in layout(graphs, serve_args.colocate).items():
            print(f"  deployment {name}: {', '.join(held)}")
        print(flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("rayswarm: shutting down", flush=True)
    finally:
        # Leave a joined cluster's other Serve apps running; an embedded Ray goes away entirely.
        if embedded:
            serve.shutdown()
        else:
            serve.delete(APP_NAME)
        shutdown()
    return 0


def check_port(host: str, port: int) -> None:
    from rayswarm.graphs.errors import ConfigError

    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ConfigError(f"cannot serve on {host}:{port}: {err.strerror} (choose another --port)") from None
