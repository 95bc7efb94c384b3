"""Ray Serve for whole graphs: OpenAI-compatible HTTP, answers equal to in-process runs, errors, CLI.

One application (two host deployments: agents on the chatty tiny llama share one, a tiny olmo2
gets the other) serves every test of the module; the CLI test starts its own server.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import openai
import pytest
import requests
import yaml
from ray import serve

from rayswarm.agents.backend import LocalBackend
from rayswarm.cli import main
from rayswarm.clusters.serve import APP_NAME, deploy_failure, group_hosts, home_hosts, layout
from rayswarm.graphs import BudgetForcing, ConfigError, GenerationOptions, Graph, RayswarmError, run_graph
from rayswarm.graphs.schema import parse
from rayswarm.serve import ServeArgs, build_graph_app, load_graphs

EXAMPLES = Path(__file__).parents[2] / "examples"
QUESTIONS = ["What is 1+1?", "Sort: cba", "What is the capital of Bokia?", "hello", "Name a colour.", "x"]


def trio(model: str) -> dict:
    """Two wavefronts of agents, then a node reading both by name: two agents share `model`."""
    return {
        "agents": {
            "writer": {"model": model, "num_cpus": 0.5, "generation": {"max_new_tokens": 6}},
            "critic": {"model": model, "system": "You check answers.", "num_cpus": 0.5},
            "other": {"model": "tiny:random-olmo2", "num_cpus": 0.5, "generation": {"max_new_tokens": 5}},
        },
        "nodes": [
            {"name": "draft", "agent": "writer"},
            {"name": "aside", "agent": "other"},
            {"name": "check", "agent": "critic", "generation": {"max_new_tokens": 4}},
            {"name": "final", "agent": "writer", "template": "Q: {question}\nA: {draft}\nCheck: {check}"},
        ],
        "edges": ["draft -> check", "aside -> check", "draft -> final", "check -> final"],
    }


def duo(model: str) -> dict:
    """`trio` without its other-model agent: every agent on one host, so the graph runs inside it."""
    graph = trio(model)
    del graph["agents"]["other"]
    graph["nodes"] = [node for node in graph["nodes"] if node["name"] != "aside"]
    graph["edges"] = [edge for edge in graph["edges"] if not edge.startswith("aside")]
    return graph


def careful(model: str) -> dict:
    """A cascade over two models of different bases, then a node reading its answer: a whole-graph deployment."""
    agents = {"writer": {"model": model, "num_cpus": 0.25, "generation": {"max_new_tokens": 6}},
              "other": {"model": "tiny:random-olmo2", "num_cpus": 0.25, "generation": {"max_new_tokens": 5}}}
    return {"agents": agents,
            "ensembles": {"careful": {"kind": "cascade", "agents": ["other", "writer"], "threshold": -0.1}},
            "nodes": [{"name": "first", "agent": "careful"}, {"name": "second", "agent": "writer"}],
            "edges": ["first -> second"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OverridingBackend(LocalBackend):
    """In-process reference for a request's options: applied on top of every node's own."""

    def __init__(self, agents, **overrides):
        super().__init__(agents)
        self.overrides = overrides

    def generate(self, requests):
        return super().generate([replace(r, generation=r.generation.model_copy(update=self.overrides))
                                 for r in requests])


def expected(graph: Graph, questions: list[str], **overrides):
    return run_graph(graph, questions, OverridingBackend(graph.agents, **overrides))


@pytest.fixture(scope="module")
def graph(chatty_folder) -> Graph:
    return Graph.from_dict(trio(str(chatty_folder)))


@pytest.fixture(scope="module")
def flexolmo_folder(tmp_path_factory) -> Path:
    """A merged FlexOlmo checkpoint of three owners whose expert FFNs differ (so a mask changes answers)."""
    import torch

    from rayswarm.agents import flexolmo_model as fm
    from rayswarm.agents.tiny import build_tiny_model
    from rayswarm.agents.tokenizer import build_char_tokenizer

    public = build_tiny_model("olmo2", seed=0, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              initializer_range=0.3).eval()
    owners = {}
    for seed, name in enumerate(("codes", "capitals", "twins")):
        generator = torch.Generator().manual_seed(seed)
        model = fm.upcycle(public, torch.stack([torch.full((32,), 32**-0.5), torch.randn(32, generator=generator)]))
        with torch.no_grad():
            for layer in model.model.layers:  # the owner's half moves, as its training would move it
                layer.mlp.experts.gate_up_proj[1] += torch.randn(layer.mlp.experts.gate_up_proj[1].shape,
                                                                 generator=generator)
        owners[name] = model
    merged, names = fm.merge(public, owners, top_k=2)
    return fm.save(merged, tmp_path_factory.mktemp("models") / "flexolmo", names, tokenizer=build_char_tokenizer())


@pytest.fixture(scope="module")
def server(ray_local, graph, flexolmo_folder, tmp_path_factory):
    """The app serving `trio`, `raw` and `moe` (inline) and `solo` (a run-config file); its base URL."""
    config = tmp_path_factory.mktemp("serve") / "solo.yaml"
    config.write_text(yaml.safe_dump({"name": "solo", "task": "toy:codes", "graph": {
        "agents": {"a": graph.agents["writer"].model_dump()}, "nodes": [{"name": "only", "agent": "a"}]}}))
    port = free_port()
    serve.start(http_options={"port": port})  # no host: Serve's default must be loopback only
    raw = {"agents": {"raw": {"model": graph.agents["writer"].model, "num_cpus": 0.5,  # prompt = the question
                              "generation": {"chat_template": False}}},
           "nodes": [{"name": "only", "agent": "raw", "template": "{question}"}]}
    moe = {"agents": {"moe": {"model": str(flexolmo_folder), "num_cpus": 0.5}},
           "nodes": [{"name": "only", "agent": "moe", "template": "{question}"}]}
    graphs = [{"name": "trio", "graph": graph}, str(config), {"name": "raw", "graph": raw},
              {"name": "moe", "graph": moe}, {"name": "duo", "graph": duo(graph.agents["writer"].model)},
              {"name": "careful", "graph": careful(graph.agents["writer"].model)}]
    serve.run(build_graph_app({"graphs": graphs}), name=APP_NAME)
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="x", max_retries=0)


def chat(server: str, question: str, model: str = "trio", **fields) -> requests.Response:
    body = {"model": model, "messages": [{"role": "user", "content": question}], **fields}
    return requests.post(f"{server}/v1/chat/completions", json=body, timeout=60)


def test_models_lists_every_graph(server, client):
    assert [model.id for model in client.models.list()] == ["trio", "solo", "raw", "moe", "duo", "careful"]
    assert requests.get(f"{server}/v1/models", timeout=10).json()["object"] == "list"


def test_binds_loopback_only(server):
    port = int(server.rsplit(":", 1)[1])
    with pytest.raises(OSError):  # 127.0.0.2 reaches this machine too, but not a 127.0.0.1-only socket
        socket.create_connection(("127.0.0.2", port), timeout=2).close()


def test_a_graph_whose_agents_share_a_host_runs_in_that_host(graph):
    graphs = {"trio": graph, "duo": Graph.from_dict(duo(graph.agents["writer"].model))}
    groups = group_hosts(graphs)
    assert len(groups) == 2 and home_hosts(graphs, groups) == {"duo": "host-0"}  # trio spans two hosts
    # A graph with ensembles is no host's: a deployment of its own holds all of its agents.
    graphs["careful"] = Graph.from_dict(careful(graph.agents["writer"].model))
    assert layout(graphs) == {"host-0": ["trio/writer", "trio/critic", "duo/writer", "duo/critic"],
                              "host-1": ["trio/other"], "graph-careful": ["careful/writer", "careful/other"]}


def test_colocated_graphs_each_get_one_host_whatever_their_bases(graph):
    graphs = {"trio": graph, "duo": Graph.from_dict(duo(graph.agents["writer"].model))}
    groups = group_hosts(graphs, colocate=True)
    assert groups == {"host-0": {f"trio/{a}": graph.agents[a] for a in ("writer", "critic", "other")},
                      "host-1": {f"duo/{a}": graph.agents[a] for a in ("writer", "critic")}}
    assert home_hosts(graphs, groups) == {"trio": "host-0", "duo": "host-1"}  # every graph runs in a replica


def test_a_colocated_graph_of_two_bases_answers_as_in_process_over_http(server, chatty_folder):
    light = trio(str(chatty_folder))
    for spec in light["agents"].values():  # the module's app holds most of the 2 CPUs already
        spec["num_cpus"] = 0.1
    graph = Graph.from_dict(light)
    app = build_graph_app({"graphs": [{"name": "trio", "graph": graph}], "colocate": True})
    serve.run(app, name="colocated", route_prefix="/colocated")
    try:
        status = serve.status().applications["colocated"].deployments
        assert sorted(status) == ["GraphIngress", "host-0"], "one host holds both bases"
        reference = expected(graph, QUESTIONS)
        with ThreadPoolExecutor(len(QUESTIONS)) as pool:
            replies = [r.json() for r in pool.map(lambda q: chat(f"{server}/colocated", q), QUESTIONS)]
        assert [r["choices"][0]["message"]["content"] for r in replies] == reference.final
        assert [r["rayswarm"]["nodes"]["aside"] for r in replies] == reference.outputs["aside"]  # the olmo2 base
        assert all(r["usage"]["prompt_tokens"] > 0 for r in replies)
    finally:
        serve.delete("colocated")


@pytest.mark.parametrize("name", ["trio", "duo"])  # run by the ingress, hop by hop; run inside its host
def test_concurrent_answers_equal_an_in_process_run(server, graph, name):
    graph = graph if name == "trio" else Graph.from_dict(duo(graph.agents["writer"].model))
    reference = expected(graph, QUESTIONS)
    with ThreadPoolExecutor(len(QUESTIONS)) as pool:  # at once, so the hosts batch them together
        replies = [r.json() for r in pool.map(lambda q: chat(server, q, model=name), QUESTIONS)]
    assert [r["choices"][0]["message"]["content"] for r in replies] == reference.final
    for i, reply in enumerate(replies):
        assert reply["rayswarm"]["nodes"] == {name: outs[i] for name, outs in reference.outputs.items()}
        assert reply["usage"]["prompt_tokens"] > 0
    assert len(set(reference.final)) > 1 and all(reference.final), "a vacuous comparison"


def test_a_graph_with_an_ensemble_answers_as_a_local_run(server, client, graph):
    local = Graph.from_dict(careful(graph.agents["writer"].model))
    reference = run_graph(local, QUESTIONS, LocalBackend(local.agents, ensembles=local.ensembles))
    with ThreadPoolExecutor(len(QUESTIONS)) as pool:
        replies = [r.json() for r in pool.map(lambda q: chat(server, q, model="careful"), QUESTIONS)]
    assert [r["choices"][0]["message"]["content"] for r in replies] == reference.final
    assert [r["rayswarm"]["nodes"]["first"] for r in replies] == reference.outputs["first"]
    assert all(r["usage"]["completion_tokens"] > 0 and r["usage"]["prompt_tokens"] > 0 for r in replies)
    # Streamed, it is the same answer (in one piece: the graph runs whole in its deployment).
    question = [{"role": "user", "content": QUESTIONS[1]}]
    chunks = list(client.chat.completions.create(model="careful", messages=question, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == reference.final[1]


def test_openai_client_options_reach_every_node(client, graph):
    reply = client.chat.completions.create(
        model="trio", messages=[{"role": "system", "content": "ignored"}, {"role": "user", "content": "hi"}],
        max_tokens=2, temperature=0.0, stop=["zz"])
    reference = expected(graph, ["hi"], max_new_tokens=2, stop=["zz"])
    assert reply.choices[0].message.content == reference.final[0]
    assert reply.rayswarm["nodes"] == {name: outs[0] for name, outs in reference.outputs.items()}
    assert 0 < reply.usage.completion_tokens <= 2 * 4  # four agent nodes, two tokens each at most


def test_budget_forcing_passes_through(client, graph):
    budget = {"max_thinking_tokens": 3, "max_answer_tokens": 2}
    reply = client.chat.completions.create(
        model="trio", messages=[{"role": "user", "content": "hi"}], extra_body={"budget": budget})
    reference = expected(graph, ["hi"], budget=BudgetForcing(**budget))
    assert reply.choices[0].message.content == reference.final[0]
    assert "Final Answer:" in reply.choices[0].message.content


def test_a_run_config_file_is_served_under_its_name(server, graph):
    answer = chat(server, "Sort: cba", model="solo").json()["choices"][0]["message"]["content"]
    assert answer == expected(graph, ["Sort: cba"]).outputs["draft"][0] and answer  # same agent, same prompt


def test_streaming_sends_the_output_nodes_tokens_as_they_come(client):
    question = [{"role": "user", "content": "Sort: cba"}]
    whole = client.chat.completions.create(model="trio", messages=question, max_tokens=24).choices[0].message.content
    chunks = list(client.chat.completions.create(model="trio", messages=question, max_tokens=24, stream=True))
    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices[0].delta.content]
    assert "".join(pieces) == whole and len(pieces) > 1  # the same answer, in several pieces
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason == "stop"


def test_a_request_opts_flexolmo_experts_in_and_out(server, client, flexolmo_folder):
    from rayswarm.agents.agent import Agent

    local = Agent.load(str(flexolmo_folder))
    question = [{"role": "user", "content": "What is the code of Bokia?"}]

    def answer(**mask) -> str:
        reply = client.chat.completions.create(model="moe", messages=question, max_tokens=12, extra_body=mask)
        return reply.choices[0].message.content

    everyone = answer()
    for mask in ({"exclude_experts": ["twins"]}, {"experts": ["public", "codes"]}):
        expected = local.generate(["What is the code of Bokia?"], max_new_tokens=12, **mask)[0]
        assert answer(**mask) == expected != everyone  # the mask reached the model, and it mattered
    unknown = chat(server, "hi", model="moe", experts=["nobody"])
    assert unknown.status_code == 400 and "unknown expert 'nobody'" in unknown.json()["error"]["message"]
    plain = chat(server, "hi", experts=["codes"])  # trio's models are no mixtures
    assert plain.status_code == 400 and "not a FlexOlmo mixture" in plain.json()["error"]["message"]


# ---- ChatEndpoint: a served graph as a generator (ParaPO's paraphraser), over HTTP ----------------------


def test_an_endpoint_client_answers_as_the_served_graph(server, graph):
    from rayswarm.clusters.endpoint import ChatEndpoint, EndpointSpec

    client = ChatEndpoint(EndpointSpec(endpoint=f"{server}/v1/", model="trio", concurrency=3))
    client.check()
    assert client.generate(QUESTIONS, max_new_tokens=3) == expected(graph, QUESTIONS, max_new_tokens=3).final
    # Sampled: prompt i is asked with seed + i, so each answer is that of a local run with that seed.
    sampled = client.generate(QUESTIONS[:3], max_new_tokens=6, temperature=1.0, seed=5)
    assert sampled == [expected(graph, [q], max_new_tokens=6, temperature=1.0, seed=5 + i).final[0]
                       for i, q in enumerate(QUESTIONS[:3])]
    assert client.generate([]) == []


def test_an_endpoint_client_says_what_went_wrong_in_one_line(server):
    from rayswarm.clusters.endpoint import ChatEndpoint, EndpointError, EndpointSpec

    typo = ChatEndpoint(EndpointSpec(endpoint=f"{server}/v1", model="tri"))
    with pytest.raises(ConfigError, match=r"does not serve 'tri' \(did you mean \"trio\"\?\); it serves: trio, solo"):
        typo.check()
    with pytest.raises(EndpointError, match=r"HTTP 404: model 'tri' does not exist"):
        typo.generate(["hi"])
    client = ChatEndpoint(EndpointSpec(endpoint=f"{server}/v1", model="trio"))
    with pytest.raises(EndpointError, match=r"chat/completions: HTTP 400: .*temperature"):
        client.generate(["hi"], temperature=-1.0)
    with pytest.raises(ConfigError, match="cannot be given 'chat_template'"):  # refused before any request
        client.generate(["hi"], chat_template=False)
    nobody = ChatEndpoint(EndpointSpec(endpoint=f"http://127.0.0.1:{free_port()}/v1", model="trio"))
    with pytest.raises(EndpointError, match="cannot reach http://127.0.0.1:.*/v1/models"):
        nobody.check()


def test_parapo_paraphrases_through_a_served_graph(server, chatty_folder, tmp_path):
    """A ParaPO config whose paraphraser is the endpoint: its pairs' chosen texts are the graph's answers."""
    from rayswarm.agents import paraphrase as para
    from rayswarm.agents.agent import Agent
    from rayswarm.clusters.endpoint import ChatEndpoint
    from rayswarm.graphs.rundir import RunDir
    from rayswarm.preference import check_paraphraser, parapo_pairs
    from rayswarm.train_config import load_train_config

    (tmp_path / "corpus.txt").write_text("\n".join(f"Document {i} tells of the {w} that slept by the old mill "
                                                  "until the rain came." for i, w in enumerate(["fox", "owl"])))
    (tmp_path / "parapo.yaml").write_text(yaml.safe_dump({
        "recipe": "parapo", "model": {"model": str(chatty_folder)}, "corpus": str(tmp_path / "corpus.txt"),
        "heldout": str(tmp_path / "corpus.txt"), "paraphraser": {"endpoint": f"{server}/v1", "model": "raw"},
        "mining": {"prefix_tokens": 24, "continuation_tokens": 8, "min_score": 0.0},
        "paraphrase": {"max_new_tokens": 40, "length_tolerance": 3.0}}))
    config = load_train_config(tmp_path / "parapo.yaml", "parapo")
    check_paraphraser(config, None)
    pairs, windows = parapo_pairs(config, Agent.from_spec(config.model), RunDir(tmp_path / "runs", "parapo"))
    texts = [w.text for w in windows]
    assert len(texts) == 2 and all(pair["rejected"] in texts for pair in pairs)
    p = config.paraphrase
    asked = ChatEndpoint(config.paraphraser).generate([para.PARAPHRASE_PROMPT.format(text=t) for t in texts],
                                                      max_new_tokens=p.max_new_tokens, temperature=p.temperature,
                                                      top_p=p.top_p, seed=config.seed)
    kept = [para.clean(a) for t, a in zip(texts, asked, strict=True) if para.keep(t, para.clean(a), 3.0)]
    assert kept and [pair["chosen"] for pair in pairs] == kept


USER = [{"role": "user", "content": "hi"}]
BAD_REQUESTS = {
    "malformed JSON": (b'{"model": "trio", ', 400, "invalid_json"),
    "not an object": (b"[1, 2]", 400, "invalid_value"),
    "no model": ({"messages": USER}, 400, "invalid_value"),
    "no messages": ({"model": "trio"}, 400, "invalid_value"),
    "unknown model": ({"model": "tiro", "messages": USER}, 404, "model_not_found"),
    "negative temperature": ({"model": "trio", "messages": USER, "temperature": -1}, 400, "invalid_value"),
    "zero max_tokens": ({"model": "trio", "messages": USER, "max_tokens": 0}, 400, "invalid_value"),
    "top_p above 1": ({"model": "trio", "messages": USER, "top_p": 1.5}, 400, "invalid_value"),
    "misspelt budget": ({"model": "trio", "messages": USER, "budget": {"num_wait": 1}}, 400, "invalid_value"),
    "no user message": ({"model": "trio", "messages": [{"role": "system", "content": "s"}]}, 400, "invalid_value"),
    "image content": ({"model": "trio", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
                      400, "invalid_value"),
    "two choices": ({"model": "trio", "messages": USER, "n": 2}, 400, "invalid_value"),
}


@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_bad_requests_get_an_openai_error(server, name):
    body, status, code = BAD_REQUESTS[name]
    data = body if isinstance(body, bytes) else json.dumps(body)
    reply = requests.post(f"{server}/v1/chat/completions", data=data, timeout=30)
    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]


def test_an_error_inside_a_model_replica_is_the_clients_when_the_input_caused_it(server):
    reply = chat(server, "", model="raw")  # without a chat template, the prompt is the empty question
    assert reply.status_code == 400 and "empty" in reply.json()["error"]["message"]
    assert chat(server, "Sort: cba", model="raw").json()["choices"][0]["message"]["content"]


def test_the_server_keeps_serving_after_errors(server, client):
    assert requests.get(f"{server}/v1/chat/completions", timeout=10).status_code == 405
    assert requests.get(f"{server}/v2/nothing", timeout=10).json()["error"]["code"] == "not_found"
    with pytest.raises(openai.NotFoundError, match="did you mean"):
        client.chat.completions.create(model="tri", messages=USER)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model="trio", messages=USER, temperature=-0.5)
    for body, _, _ in BAD_REQUESTS.values():
        requests.post(f"{server}/v1/chat/completions", data=body if isinstance(body, bytes) else json.dumps(body))
    assert chat(server, "hi").status_code == 200


def test_a_batch_decodes_each_group_in_one_call_and_a_failing_group_alone(graph):
    """The host's batch function, without Ray: merged calls give each request its own outputs."""
    from rayswarm.clusters.serve_host import HostDeployment
    from rayswarm.graphs.errors import DataError
    from rayswarm.graphs.execute import NodeRequest

    specs = {name: graph.agents[name] for name in ("writer", "critic")}
    deployment = HostDeployment.func_or_class(specs, 32, 0.0)
    host = deployment.host_of["writer"]
    calls, generate = [], host.generate
    host.generate = lambda *args: calls.append(args) or generate(*args)
    short, raw = specs["writer"].generation, GenerationOptions(chat_template=False)
    requests_ = [NodeRequest("n1", "writer", ["Sort: cba"], None, short),
                 NodeRequest("n2", "critic", ["hi", "x"], "You check answers.", short),
                 NodeRequest("n3", "writer", ["hello", "What is 1+1?"], None, short),  # joins n1's call
                 NodeRequest("n4", "writer", [""], None, raw)]  # an empty prompt: fails alone
    replies = deployment._decode_batch(requests_)
    assert len(calls) == 3 and calls[0][1] == ["Sort: cba", "hello", "What is 1+1?"]
    for request, reply in zip(requests_[:3], replies, strict=False):
        assert reply.texts == generate(request.agent, request.prompts, request.generation, request.system)
    assert isinstance(replies[3], DataError)
    assert replies[2].prompt_tokens == len("hello") + len("What is 1+1?")  # one token per character


# ---- building the app: from a Serve config file, and what is refused before Serve starts ------------


def test_a_serve_config_file_builds_the_app(tmp_path, chatty_folder):
    """What `serve run` / `serve deploy` do with a config file: import `import_path`, call it with `args`."""
    (tmp_path / "trio.yaml").write_text(yaml.safe_dump(trio(str(chatty_folder)), sort_keys=False))
    app_config = {"name": APP_NAME, "import_path": "rayswarm.serve:build_graph_app",
                  "args": {"graphs": [str(tmp_path / "trio.yaml")], "max_batch_size": 8},
                  "deployments": [{"name": "host-1", "num_replicas": 2}]}
    module, _, attr = app_config["import_path"].partition(":")
    builder = getattr(__import__(module, fromlist=[attr]), attr)
    assert isinstance(builder(app_config["args"]), serve.Application)
    graphs = load_graphs(parse(ServeArgs, app_config["args"]))
    assert list(group_hosts(graphs)) == ["host-0", "host-1"]  # the names a config's `deployments:` uses
    assert list(group_hosts(graphs)["host-1"]) == ["trio/other"]


def test_the_shipped_serve_config_validates():
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.model_validate(yaml.safe_load((EXAMPLES / "serve.yaml").read_text()))
    (app,) = config.applications
    assert app.import_path == "rayswarm.serve:build_graph_app"
    args = dict(app.args)
    args["graphs"] = [str(EXAMPLES.parent / path) for path in args["graphs"]]  # relative to the repo root
    assert set(load_graphs(parse(ServeArgs, args))) == {"chain", "vote", "critique"}  # checks, builds nothing


@pytest.mark.parametrize("args, message", [
    ({"graphs": ["missing.yaml"]}, "no such graph or config file"),
    ({"graphs": []}, "graphs"),
    ({"graph": ["x.yaml"]}, 'did you mean "graphs"'),
    ({"graphs": [str(EXAMPLES / "chain.yaml")] * 2}, "two graphs are named 'chain'"),
    ({"graphs": [{"name": "g", "graph": {"agents": {"a": {"model": "tiny:nope"}},
                                         "nodes": [{"name": "n", "agent": "a"}]}}]}, "unknown tiny model"),
    ({"graphs": [str(EXAMPLES / "chain.yaml")], "max_batch_size": 0}, "max_batch_size"),
])
def test_bad_serve_args_fail_before_serve_starts(args, message):
    with pytest.raises(RayswarmError, match=message):
        build_graph_app(args)


# ---- the `rayswarm serve` command -------------------------------------------------------------------


def test_serve_command_refuses_bad_input(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing.yaml")]) == 2
    assert "no such graph or config file" in capsys.readouterr().err


def test_serve_command_serves_until_interrupted(tmp_path, chatty_folder):
    (tmp_path / "trio.yaml").write_text(yaml.safe_dump(trio(str(chatty_folder)), sort_keys=False))
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"} | {"RAY_AUTH_MODE": "disabled"}
    server = subprocess.Popen([sys.executable, "-m", "rayswarm", "serve", str(tmp_path / "trio.yaml"),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=env)
    watchdog = threading.Timer(180, server.kill)  # a hung start fails the test instead of hanging it
    watchdog.start()
    try:
        lines = iter(server.stdout.readline, "")  # ends if the command dies
        banner = next((line for line in lines if line.startswith("serving")), "")  # printed once ready
        assert banner.startswith(f"serving trio at http://127.0.0.1:{port}/v1"), banner
        assert "host-0: trio/writer, trio/critic" in next(lines)
        assert chat(f"http://127.0.0.1:{port}", "hi").status_code == 200
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
    finally:
        watchdog.cancel()
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_deploy_failure_names_the_replicas_error():
    message = ("Deploying application rayswarm failed: Failed to update the deployments ['host-0'].\n"
               "Traceback (most recent call last):\n  File \"/x/host.py\", line 3, in __init__\n"
               "    load(folder)\nOSError: no file named model.safetensors in /m\n")
    assert deploy_failure(message) == "OSError: no file named model.safetensors in /m"
    assert deploy_failure("rayswarm.graphs.errors.SourceError: bad") == "SourceError: bad"


def test_a_model_that_fails_to_load_is_one_line_and_exit_2(tmp_path, chatty_folder):
    import shutil

    broken = shutil.copytree(chatty_folder, tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"not weights")  # passes validation, fails to load
    (tmp_path / "trio.yaml").write_text(yaml.safe_dump(trio(str(broken)), sort_keys=False))
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"} | {"RAY_AUTH_MODE": "disabled"}
    done = subprocess.run([sys.executable, "-m", "rayswarm", "serve", str(tmp_path / "trio.yaml"),
                           "--port", str(free_port())], capture_output=True, text=True, env=env, timeout=300)
    ours = [line for line in done.stderr.splitlines() if line.startswith("rayswarm:")]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(ours) == 1 and ours[0].startswith("rayswarm: error: a model failed to load: "), ours
    assert "serving" not in done.stdout
