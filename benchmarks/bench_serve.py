"""Serving whole graphs: the latency each DAG hop adds, and 200 concurrent requests with and without batching.

    OMP_NUM_THREADS=1 RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/bench_serve.py [--repeats 3]

The graphs are chains of 1 and 3 nodes of one agent, an untrained tiny llama initialised to write
varied text (rather than stop at once), and a 3-node chain alternating it with a second such model
(another base, so another host deployment), on an embedded 2-CPU Ray.
(a) Hop latency: one request at a time over HTTP. A request's overhead is its median served latency
    minus the median in-process `run_graph` time of the same graph and question (one math thread in
    both, interleaved request by request); the cost per hop is (overhead(3 nodes) - overhead(1 node)) / 2, goal
    <= 5 ms. A chain of one agent runs inside its host's replica; the alternating chain runs in the
    ingress, a round trip to a host per hop, or (a third app, `colocate: true`) inside one replica
    holding both bases. The overhead of the 1-node chain adds one hop to the fixed
    cost of HTTP, proxy and ingress, which a request the ingress answers itself (unknown model: 404)
    shows alone.
(b) Load: --concurrent requests at once on loopback to the 3-node chain, served with dynamic
    batching and with max_batch_size 1 (no batching); every answer must equal the in-process one.
Every figure is the median over --repeats rounds; the ratios compare figures of the same run.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import torch
from ray import serve

from rayswarm.agents.backend import LocalBackend
from rayswarm.agents.tiny import build_tiny_model, save_tiny
from rayswarm.clusters.connect import connect
from rayswarm.graphs import AgentSpec, chain, run_graph
from rayswarm.serve import build_graph_app

QUESTION = "What is the capital of the country with code KQ?"


def chains(models: list[Path], tokens: int) -> dict:
    # A quarter CPU each: the three apps' hosts fit on 2 CPUs (a replica keeps one math thread either way).
    specs = [AgentSpec(model=str(model), num_cpus=0.25, generation={"max_new_tokens": tokens}) for model in models]
    graphs = {f"chain{k}": chain(["agent"] * k, agents={"agent": specs[0]}) for k in (1, 3)}
    graphs["cross3"] = chain(["a", "b", "a"], agents={"a": specs[0], "b": specs[1]})
    return graphs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ask(session: requests.Session, url: str, model: str, question: str) -> str:
    reply = session.post(f"{url}/v1/chat/completions", timeout=300,
                         json={"model": model, "messages": [{"role": "user", "content": question}]})
    reply.raise_for_status()
    return reply.json()["choices"][0]["message"]["content"]


def seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def hop_latency(url: str, colocated_url: str, graphs: dict, repeats: int, requests_per_round: int) -> None:
    local = LocalBackend({name: spec for graph in graphs.values() for name, spec in graph.agents.items()})
    session = requests.Session()
    calls = {}
    for name, graph in graphs.items():  # warm-up, and the served answer must be the in-process one
        assert ask(session, url, name, QUESTION) == run_graph(graph, [QUESTION], local).final[0]
        calls[name, "served"] = lambda n=name: ask(session, url, n, QUESTION)
        calls[name, "in-process"] = lambda g=graph: run_graph(g, [QUESTION], local)
    calls["cross3 colocated", "served"] = lambda: ask(session, colocated_url, "cross3", QUESTION)
    calls["cross3 colocated", "in-process"] = calls["cross3", "in-process"]
    # HTTP, proxy and ingress alone: a request the ingress answers itself (404, unknown model).
    calls["no model", "served"] = lambda: session.post(f"{url}/v1/chat/completions", json={"model": "none"})
    rounds: dict[tuple, list[float]] = {key: [] for key in calls}
    for _ in range(repeats):
        # Interleaved request by request, so that both sides see the same load on a shared machine.
        samples: dict[tuple, list[float]] = {key: [] for key in calls}
        for _ in range(requests_per_round):
            for key, call in calls.items():
                samples[key].append(seconds(call))
        for key, times in samples.items():
            rounds[key].append(statistics.median(times))
    overhead = {}
    for name in [*graphs, "cross3 colocated"]:
        served, inproc = (statistics.median(rounds[name, side]) for side in ("served", "in-process"))
        overhead[name] = served - inproc
        print(f"{name}: served {1e3 * served:.1f} ms, in-process {1e3 * inproc:.1f} ms, "
              f"overhead {1e3 * overhead[name]:.1f} ms (ratio {served / inproc:.2f})")
    print(f"HTTP, proxy and ingress alone (a 404 reply): {1e3 * statistics.median(rounds['no model', 'served']):.1f} ms")
    print(f"latency per DAG hop, inside a host: {1e3 * (overhead['chain3'] - overhead['chain1']) / 2:.2f} ms "
          "(goal <= 5 ms)")
    print(f"latency per DAG hop, host to host through the ingress: "
          f"{1e3 * (overhead['cross3'] - overhead['chain1']) / 2:.2f} ms")
    print(f"latency per DAG hop, between bases colocated in one replica: "
          f"{1e3 * (overhead['cross3 colocated'] - overhead['chain1']) / 2:.2f} ms")


def load(urls: dict[str, str], graph, concurrent: int, repeats: int) -> None:
    questions = [f"{QUESTION} ({i % 20})" for i in range(concurrent)]
    distinct = sorted(set(questions))
    answers = dict(zip(distinct, run_graph(graph, distinct, LocalBackend(graph.agents)).final, strict=True))
    rates: dict[str, list[float]] = {name: [] for name in urls}
    with ThreadPoolExecutor(concurrent) as pool:
        for _ in range(repeats):
            for name, url in urls.items():
                start = time.perf_counter()
                futures = [pool.submit(ask, requests.Session(), url, "chain3", q) for q in questions]
                errors = sum(f.exception() is not None for f in futures)  # waits for every reply
                wall = time.perf_counter() - start
                wrong = sum(f.result() != answers[q] for f, q in zip(futures, questions, strict=True)
                            if f.exception() is None)
                assert errors == 0 and wrong == 0, f"{name}: {errors} errors, {wrong} wrong answers"
                rates[name].append(concurrent / wall)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, rate in medians.items():
        print(f"{concurrent} concurrent requests, {name}: {rate:.1f} requests/s, 0 errors")
    print(f"throughput ratio batched / unbatched: {medians['batched'] / medians['unbatched']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20, help="sequential requests per latency round")
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=8, help="max_new_tokens of every node")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp())
    models = [save_tiny(build_tiny_model("llama", seed=seed, initializer_range=0.3), folder / f"chatty-llama-{seed}")
              for seed in (0, 1)]
    graphs = chains(models, args.tokens)
    connect(num_cpus=2)
    port = free_port()
    serve.start(http_options={"port": port})
    urls = {}
    for name, batch in (("batched", 32), ("unbatched", 1)):
        entries = [{"name": graph_name, "graph": graph} for graph_name, graph in graphs.items()]
        serve.run(build_graph_app({"graphs": entries, "max_batch_size": batch}), name=name, route_prefix=f"/{name}")
        urls[name] = f"http://127.0.0.1:{port}/{name}"
    cross = build_graph_app({"graphs": [{"name": "cross3", "graph": graphs["cross3"]}], "colocate": True})
    serve.run(cross, name="colocated", route_prefix="/colocated")
    try:
        hop_latency(urls["batched"], f"http://127.0.0.1:{port}/colocated", graphs, args.repeats, args.requests)
        load(urls, graphs["chain3"], args.concurrent, args.repeats)
    finally:
        serve.shutdown()


if __name__ == "__main__":
    main()
