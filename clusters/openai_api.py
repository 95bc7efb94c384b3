"""The HTTP side of a served graph: OpenAI's /v1/models and /v1/chat/completions over run_graph.

The ingress runs the DAG with `arun_graph`, the event-loop twin of the `run_graph` of `rayswarm run`
(one stepper underneath: same prompts, fan-in and order), so a served answer is the answer of a
local run by construction; each wavefront's node requests go to their host deployments at once. A
graph whose agents all share one host deployment runs inside that host's replica instead
(HostDeployment.run), which saves a round trip per hop; a graph with ensembles runs whole in its own
deployment (GraphDeployment.run), and a stream of it is its answer in one piece. Any other streamed
request runs its nodes up to the output one with the synchronous run_to_output, in a worker thread.

Errors are JSON in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with a 4xx
status for anything the client can fix; nothing a request does stops the server.

No `from __future__ import annotations` here: FastAPI reads the endpoint annotations at runtime.
"""

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from starlette.exceptions import HTTPException

from rayswarm.clusters.serve import MAX_ONGOING_REQUESTS
from rayswarm.clusters.serve_host import GraphBackend
from rayswarm.graphs.errors import RayswarmError
from rayswarm.graphs.execute import GraphResult, NodeRequest, arun_graph, run_to_output
from rayswarm.graphs.graph import Graph
from rayswarm.graphs.schema import did_you_mean, parse
from rayswarm.graphs.spec import GenerationOptions


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.code, self.kind = status, code, kind

    def response(self) -> JSONResponse:
        error = {"message": str(self), "type": self.kind, "param": None, "code": self.code}
        return JSONResponse({"error": error}, status_code=self.status)


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The request fields rayswarm reads; OpenAI fields it does not use are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, gt=0)
    max_completion_tokens: int | None = Field(None, gt=0)
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    budget: dict[str, Any] | None = None  # BudgetForcing fields; the openai client sends it via extra_body
    # A FlexOlmo agent's expert mask for this request (extra_body too): opt experts in, or out.
    experts: list[str] | None = None
    exclude_experts: list[str] | None = None
    stream: bool = False
    n: int = Field(1, ge=1, le=1, description="one choice per request")


@dataclass(frozen=True)
class ChatCall:
    model: str
    question: str
    overrides: dict[str, Any]  # GenerationOptions fields applied to every node
    stream: bool


def parse_chat(body: bytes, models: dict[str, Graph]) -> ChatCall:
    """A validated call from a request body, or an ApiError saying what to fix."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, f"the request body is not valid JSON: {err}", "invalid_json") from None
    try:
        request = parse(ChatRequest, data, source="request")
        options = {"max_new_tokens": request.max_tokens or request.max_completion_tokens,
                   "temperature": request.temperature, "top_p": request.top_p, "seed": request.seed,
                   "stop": [request.stop] if isinstance(request.stop, str) else request.stop,
                   "budget": request.budget, "experts": request.experts,
                   "exclude_experts": request.exclude_experts}
        checked = parse(GenerationOptions, {k: v for k, v in options.items() if v is not None}, source="request")
    except RayswarmError as err:
        raise ApiError(400, str(err), "invalid_value") from None
    if request.model not in models:
        raise ApiError(404, f"model '{request.model}' does not exist{did_you_mean(request.model, models)}; "
                            f"served: {', '.join(models)}", "model_not_found")
    users = [message for message in request.messages if message.role == "user"]
    if not users:
        raise ApiError(400, "messages: no user message to answer", "invalid_value")
    overrides = {name: getattr(checked, name) for name in checked.model_fields_set}
    return ChatCall(request.model, text_of(users[-1]), overrides, request.stream)


def text_of(message: Message) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    if any(part.get("type") != "text" for part in message.content):
        raise ApiError(400, "messages: only text content parts are supported", "invalid_value")
    return "".join(str(part.get("text", "")) for part in message.content)


class HandleBackend(GraphBackend):
    """A graph run in the ingress: each node request goes to its host deployment over a handle."""

    def __init__(self, hosts: dict[str, Any], routes: dict[str, str], graph: str, overrides: dict[str, Any],
                 loop: asyncio.AbstractEventLoop):
        super().__init__(graph, overrides, loop)
        self.hosts, self.routes = hosts, routes

    def call(self, request: NodeRequest):
        return self.hosts[self.routes[request.agent]].generate.remote(request)

    def host_of(self, request: NodeRequest) -> Any:
        return self.hosts[self.routes[request.agent]]


def completion(call: ChatCall, result: GraphResult, usage: dict[str, int]) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": call.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": result.final[0]},
                     "finish_reason": "stop"}],
        "usage": usage,
        "rayswarm": {"output_node": result.output_node,
                     "nodes": {name: outputs[0] for name, outputs in result.outputs.items()}},
    }


def sse(data: dict | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


async def stream_events(call: ChatCall, pieces):
    """OpenAI's server-sent chunks: the role, a chunk per piece of text as it comes, the finish, [DONE].

    A failure after the first chunk cannot change the HTTP status any more: it is sent as an
    {"error": ...} event before [DONE], as OpenAI's own streams do.
    """
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": call.model}

    def chunk(delta: dict, finish: str | None = None) -> str:
        return sse(head | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for piece in pieces:
            yield chunk({"content": piece})
    except Exception as err:
        error = failure(err)
        yield sse({"error": {"message": str(error), "type": error.kind, "param": None, "code": error.code}})
    else:
        yield chunk({}, "stop")
    yield sse("[DONE]")


async def one_piece(text: str):
    yield text


def failure(err: Exception) -> ApiError:
    """An error raised while a graph ran: the client's (a RayswarmError) or the server's."""
    cause = getattr(err, "cause", None) or err  # a replica's exception arrives wrapped in a RayTaskError
    message = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if isinstance(cause, RayswarmError):
        return ApiError(400, message, "invalid_value")
    return ApiError(500, message, "internal_error", kind="server_error")


api = FastAPI(title="rayswarm", description="Collaboration graphs of LLMs behind OpenAI's chat API")


@api.exception_handler(HTTPException)
async def _http_error(request: Request, err: HTTPException) -> JSONResponse:
    """Unknown paths and wrong methods in OpenAI's error shape too."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "bad_request")
    return ApiError(err.status_code, str(err.detail), code).response()


@serve.deployment(ray_actor_options={"num_cpus": 0})  # it only routes and waits: the CPUs go to the models
@serve.ingress(api)
class GraphIngress:
    def __init__(self, graphs: dict[str, Graph], hosts: dict[str, Any], routes: dict[str, str],
                 homes: dict[str, str]):
        self.graphs, self.routes = graphs, routes
        # A graph whose agents share one host runs in that host's replica: no round trip per hop.
        self.homes = homes
        # By value over gRPC rather than through the object store: node requests and replies are a
        # few kB, and on 2 cores this halved the round trip of an empty call (~3.5 -> ~1.6 ms).
        self.hosts = {name: handle.options(_by_reference=False) for name, handle in hosts.items()}
        self.created = int(time.time())
        self.threads = ThreadPoolExecutor(max_workers=MAX_ONGOING_REQUESTS, thread_name_prefix="graph")

    @api.get("/v1/models")
    async def models(self) -> dict:
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": self.created, "owned_by": "rayswarm"}
            for name in self.graphs]}

    @api.post("/v1/chat/completions")
    async def chat(self, request: Request):
        try:
            call = parse_chat(await request.body(), self.graphs)
            loop = asyncio.get_running_loop()
            if call.stream and self.graphs[call.model].ensembles:  # run whole: the answer in one piece
                body = await self._answer_at_home(call)
                text = body["choices"][0]["message"]["content"]
                return StreamingResponse(stream_events(call, one_piece(text)), media_type="text/event-stream")
            if call.stream:  # every node before the output runs first; errors there are still plain HTTP errors
                pieces = await loop.run_in_executor(self.threads, self._run_to_output, call, loop)
                return StreamingResponse(stream_events(call, pieces), media_type="text/event-stream")
            body = await (self._answer_at_home(call) if call.model in self.homes else self._answer(call, loop))
        except ApiError as err:
            return err.response()
        return body

    def _run_to_output(self, call: ChatCall, loop: asyncio.AbstractEventLoop):
        """Run the graph up to its output node; the output node's tokens as an async iterator of pieces."""
        backend = HandleBackend(self.hosts, self.routes, call.model, call.overrides, loop)
        try:
            pending = run_to_output(self.graphs[call.model], [call.question], backend)
        except Exception as err:
            raise failure(err) from None
        if pending.request is None:  # an aggregator is the output: its answer is ready, in one piece
            return one_piece(pending.finish().final[0])
        request = backend.routed(pending.request)
        return backend.host_of(request).options(stream=True).stream.remote(request)

    async def _answer_at_home(self, call: ChatCall) -> dict:
        try:
            result, usage = await self.hosts[self.homes[call.model]].run.remote(call.model, call.question,
                                                                               call.overrides)
        except Exception as err:
            raise failure(err) from None
        return completion(call, result, usage)

    async def _answer(self, call: ChatCall, loop: asyncio.AbstractEventLoop) -> dict:
        backend = HandleBackend(self.hosts, self.routes, call.model, call.overrides, loop)
        try:
            result = await arun_graph(self.graphs[call.model], [call.question], backend.agenerate)
        except Exception as err:  # every failure becomes an HTTP error; the server stays up
            raise failure(err) from None
        return completion(call, result, backend.usage())
