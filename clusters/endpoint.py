"""An OpenAI-compatible chat endpoint as a generator: the `generate(prompts, **overrides)` of an Agent.

    client = ChatEndpoint(EndpointSpec(endpoint="http://127.0.0.1:8000/v1", model="chain"))
    client.check()                                  # the server answers and serves "chain", else ConfigError
    client.generate(["Rewrite: ..."], max_new_tokens=64, temperature=0.6, top_p=0.9, seed=0)

Any server with OpenAI's POST /chat/completions works; for a graph served by `rayswarm serve` (or
rayswarm.serve.build_graph_app) `model` is the graph's name and each answer is its output node's.
Each prompt is one request whose only message is the prompt as the user's; several are in flight
at once (`concurrency`) so the server can batch them. Overrides are GenerationOptions fields:
max_new_tokens (sent as max_tokens), temperature, top_p, seed, stop, and rayswarm's own budget,
experts and exclude_experts, which only a served graph reads. A seed s becomes s + i for prompt i:
each answer is then reproducible whatever the server batches together (a served graph decodes
requests with different options apart), and two prompts never share a random stream.

Plain urllib: the `openai` package is only in the serve extra, and this needs no more than JSON
over HTTP.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from pydantic import Field, field_validator, model_validator

from rayswarm.graphs.errors import ConfigError, RayswarmError
from rayswarm.graphs.schema import StrictModel, did_you_mean

# GenerationOptions fields a request can carry, by their name in the request body.
REQUEST_FIELDS = {"max_new_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "seed": "seed",
                  "stop": "stop", "budget": "budget", "experts": "experts", "exclude_experts": "exclude_experts"}


class EndpointError(RayswarmError):
    """The endpoint refused a request or could not be reached."""


class EndpointSpec(StrictModel):
    """Where a remote model answers: an OpenAI-compatible base URL and the model's name there."""

    endpoint: str = Field(description="base URL of the API, e.g. http://127.0.0.1:8000/v1 (`rayswarm serve`)")
    model: str = Field(min_length=1, description="the model to ask; for a served rayswarm graph, its name")
    api_key_env: str | None = Field(None, description="environment variable holding a key, sent as a Bearer "
                                    "token (a rayswarm server needs none)")
    timeout_s: float = Field(600.0, gt=0.0, description="seconds one request may take")
    concurrency: int = Field(8, ge=1, description="requests in flight at once")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data):
        # Said here, with a did-you-mean: as one side of a union, the generic report could not name the right model.
        for key in data if isinstance(data, dict) else ():
            if key not in cls.model_fields:
                raise ValueError(f"unknown key '{key}'{did_you_mean(key, cls.model_fields)}")
        return data

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL such as http://127.0.0.1:8000/v1, not {value!r}")
        return value.rstrip("/")


class ChatEndpoint:
    """A remote model with rayswarm's `generate(prompts, **overrides) -> list[str]`."""

    def __init__(self, spec: EndpointSpec):
        self.spec = spec
        self.name = f"{spec.model}@{spec.endpoint}"

    def __repr__(self) -> str:
        return f"ChatEndpoint({self.name!r})"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.spec.api_key_env:
            key = os.environ.get(self.spec.api_key_env)
            if not key:
                raise ConfigError(f"endpoint {self.spec.endpoint}: ${self.spec.api_key_env} is not set")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _call(self, path: str, body: dict | None = None) -> dict:
        url = f"{self.spec.endpoint}/{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=self._headers(), method="GET" if data is None
                                         else "POST")
        try:
            with urllib.request.urlopen(request, timeout=self.spec.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise EndpointError(f"{url}: HTTP {err.code}: {error_message(err.read())}") from None
        except (urllib.error.URLError, OSError) as err:  # refused, unknown host, timed out
            reason = getattr(err, "reason", err)
            raise EndpointError(f"cannot reach {url}: {reason}") from None
        except json.JSONDecodeError:
            raise EndpointError(f"{url}: the answer is not JSON") from None

    def check(self) -> None:
        """Fail now, with one line, unless the endpoint answers and lists the model (GET /models)."""
        served = [entry.get("id") for entry in self._call("models").get("data", [])]
        if self.spec.model not in served:
            raise ConfigError(f"endpoint {self.spec.endpoint} does not serve '{self.spec.model}'"
                              f"{did_you_mean(self.spec.model, served)}; it serves: {', '.join(map(str, served))}")

    def request(self, prompt: str, overrides: dict) -> dict:
        """The body of one chat request for a prompt."""
        unknown = sorted(set(overrides) - set(REQUEST_FIELDS))
        if unknown:
            raise ConfigError(f"endpoint {self.spec.endpoint}: a remote model cannot be given '{unknown[0]}' "
                              f"(it takes {', '.join(REQUEST_FIELDS)})")
        body = {"model": self.spec.model, "messages": [{"role": "user", "content": prompt}]}
        body.update({REQUEST_FIELDS[key]: value for key, value in overrides.items() if value is not None})
        return body

    def _answer(self, body: dict) -> str:
        reply = self._call("chat/completions", body)
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"{self.spec.endpoint}/chat/completions: no choices[0].message.content in the "
                                "answer") from None

    def generate(self, prompts: list[str], **overrides) -> list[str]:
        """One answer per prompt, in order; overrides are GenerationOptions fields (see the module doc)."""
        if isinstance(prompts, str):
            raise ConfigError("prompts must be a list of strings, not one string")
        seed = overrides.pop("seed", None)
        bodies = [self.request(prompt, {**overrides, "seed": None if seed is None else seed + i})
                  for i, prompt in enumerate(prompts)]
        if not bodies:
            return []
        with ThreadPoolExecutor(min(self.spec.concurrency, len(bodies)), thread_name_prefix="endpoint") as pool:
            return list(pool.map(self._answer, bodies))


def error_message(body: bytes) -> str:
    """The message of an error answer: OpenAI's {"error": {"message"}}, else its text's first line."""
    try:
        data = json.loads(body)
        message = data["error"]["message"] if isinstance(data.get("error"), dict) else data.get("detail") or data
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
        message = body.decode(errors="replace")
    return (str(message).strip().splitlines() or ["(no message)"])[0]
