"""`OpenAIBackend`: any OpenAI-compatible server (SGLang, vLLM, hosted APIs) through the `openai` SDK.

- `api: completions` sends the prompt as is to `/v1/completions`; `api: chat` sends it as one user
  message to `/v1/chat/completions` (the server applies its chat template).
- Requests stream with `stream_options: {include_usage: true}`; see `_openai_stream` for how chunks,
  reasoning content and usage are read.
- `max_tokens=0` (the prefix warm-up) is sent as `max_tokens=1`: OpenAI-compatible servers reject 0
  (vLLM and the OpenAI API require at least 1). The one token is left out of the text and the
  completion ends with `LENGTH`, but it stays in the usage, since the server did generate it.
- Aborting closes the request's HTTP stream (the API has no abort call; vLLM and SGLang stop a request
  whose client disconnects). The stream then ends with an `ABORT` completion of the text so far.
- `SamplingParams.json_schema` (a JSON Schema as a string) constrains the output. Chat sends OpenAI's
  `response_format: {type: json_schema, json_schema: {name, schema}}`, without `strict` (SGLang then
  always constrains; OpenAI's strict mode takes only a subset of JSON Schema). OpenAI's completions API
  has no `response_format`, so completions sends the same object as an extra body field: SGLang's and
  current vLLM's `/v1/completions` both read it (into `sampling_params.json_schema` and
  `structured_outputs.json`), whereas SGLang's own `json_schema` field and vLLM's older `guided_json`
  are each silently ignored by the other server. A schema that is not JSON fails before it is sent.
- The SDK's own retries are off (`max_retries=0`): retrying is a wrapper's job (see `_http`).
- The API key is read from the environment variable `api_key_env`; a server on this machine needs
  none (a placeholder is sent), any other one fails with a clear message when it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import Any, Literal

import httpx
import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.backends._http import (
    ServerError,
    api_key,
    connect_failure,
    error_message,
    is_connect_failure,
    is_loopback,
    normalize_url,
    one_line,
    redact,
    retryable_status,
    status_error,
    tls_context,
)
from orchestrator.backends._openai_stream import Exchange, chat_delta, completions_delta
from orchestrator.backends.base import (
    AsyncClosing,
    BackendInfo,
    Completion,
    CompletionRequest,
    FinishReason,
    SamplingParams,
    StreamEvent,
    TextChunk,
    complete,
    new_request_id,
)
from orchestrator.errors import BackendError, BackendUnavailable

PLACEHOLDER_KEY = "EMPTY"  # what SGLang and vLLM document for servers started without --api-key
# What a broken stream raises: the SDK wraps transport errors in APIConnectionError, older SDKs let httpx's through.
STREAM_FAILURES = (openai.APIError, httpx.HTTPError, httpx.StreamError)
MENTIONS_N = re.compile(r"(?<![\w.-])['\"`]?n['\"`]?(?![\w-])")
SCHEMA_NAME = "output"  # OpenAI requires a name ([a-zA-Z0-9_-]{1,64}); SGLang and vLLM only require one


class OpenAIConfig(BaseModel):
    """An OpenAI-compatible server (`backend: {kind: openai, ...}` in a task file).

    - `base_url`: the API root, ending in `/v1` for SGLang and vLLM.
    - `model`: the model name to send (SGLang accepts any; vLLM wants its served model name).
    - `api_key_env`: the environment variable holding the API key (never the key itself).
    - `api`: `completions` (raw prompt) or `chat` (one user message, chat template applied by the server).
    - `timeout_s`: the longest wait for the next bytes of an answer; `connect_timeout_s` to connect.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["openai"] = "openai"
    base_url: str = "http://127.0.0.1:30000/v1"
    model: str = Field(default="default", min_length=1)
    api_key_env: str = Field(default="OPENAI_API_KEY", min_length=1)
    api: Literal["completions", "chat"] = "completions"
    timeout_s: float = Field(default=600.0, gt=0.0, le=86_400.0)
    connect_timeout_s: float = Field(default=5.0, gt=0.0, le=600.0)

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, url: str) -> str:
        return normalize_url(url)


class OpenAIBackend(AsyncClosing):
    """Streams completions from an OpenAI-compatible server."""

    def __init__(self, config: OpenAIConfig | None = None) -> None:
        self.config = config or OpenAIConfig()
        self.server = f"the OpenAI-compatible server at {self.config.base_url}"
        required = not is_loopback(self.config.base_url)
        self._key = api_key(self.config.api_key_env, self.config.base_url, required=required) or PLACEHOLDER_KEY
        self._client = AsyncOpenAI(
            base_url=self.config.base_url,
            api_key=self._key,
            timeout=openai.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s),
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(verify=tls_context()),
        )
        self._streams: dict[str, Any] = {}
        self._opening: set[str] = set()
        self._aborted: set[str] = set()
        self._n_supported: bool | None = None
        self._simulated = False
        self._stats: Counter[str] = Counter()

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Yield the request's text as it streams, then its `Completion`."""
        exchange = Exchange(request.request_id, hidden=request.params.max_tokens == 0)
        async with contextlib.aclosing(self._exchange(request.prompt, request.params, exchange)) as chunks:
            async for _, chunk in chunks:
                yield chunk
        yield exchange.completion()

    async def sample_n(self, prompt: str, params: SamplingParams, n: int) -> list[Completion]:
        """`n` samples of one prompt: one request with `n` where the server takes it, else `n` requests.

        A server that refuses `n` (HTTP 400/422 naming it) or ignores it (fewer choices come back) is
        remembered; the missing samples are then sent as separate concurrent requests, with seeds
        `seed + i` when a seed is set so that they differ as the choices of one request would.
        """
        if n <= 1 or self._n_supported is False:
            return await self._separately(prompt, params, n)
        try:
            together = await self._together(prompt, params, n)
        except ServerError as error:
            if not refuses_n(error):
                raise
            self._n_supported, together = False, []
        self._n_supported = len(together) == n
        return together + await self._separately(prompt, params, n - len(together), first=len(together))

    async def abort(self, request_id: str) -> None:
        """Close the request's stream; the server stops it, and its stream ends with `ABORT`.

        A request still waiting for its answer to start is closed as soon as it starts; an unknown
        or finished request is left alone.
        """
        if request_id not in self._streams and request_id not in self._opening:
            return
        self._aborted.add(request_id)
        self._stats["aborts_sent"] += 1
        if request_id in self._streams:
            await self._streams[request_id].close()

    def info(self) -> BackendInfo:
        return BackendInfo(kind="openai", model=self.config.model, simulated=self._simulated, stats=self.stats())

    def stats(self) -> dict[str, Any]:
        keys = ("requests", "finished", "aborted", "failed", "aborts_sent", "completion_tokens")
        stats: dict[str, Any] = {"base_url": self.config.base_url, "api": self.config.api}
        return stats | {key: self._stats[key] for key in keys} | {"n_supported": self._n_supported}

    async def close(self) -> None:
        await self._client.close()

    # --- internals -------------------------------------------------------------------------------

    async def _together(self, prompt: str, params: SamplingParams, n: int) -> list[Completion]:
        exchange = Exchange(new_request_id(), n, hidden=params.max_tokens == 0)
        async with contextlib.aclosing(self._exchange(prompt, params, exchange)) as chunks:
            async for _ in chunks:
                pass
        return exchange.completions()

    async def _separately(self, prompt: str, params: SamplingParams, n: int, first: int = 0) -> list[Completion]:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(complete(self, CompletionRequest(prompt, _nth(params, first + i)))) for i in range(n)
            ]
        return [task.result() for task in tasks]

    async def _exchange(
        self, prompt: str, params: SamplingParams, exchange: Exchange
    ) -> AsyncGenerator[tuple[int, TextChunk], None]:
        """Send the request and yield (choice index, chunk) as its choices stream."""
        self._stats["requests"] += 1
        try:
            stream = await self._open(prompt, params, exchange)
            try:
                async for item in self._chunks(stream, params, exchange):
                    yield item
            finally:
                self._streams.pop(exchange.request_id, None)
                self._aborted.discard(exchange.request_id)
                await stream.close()
        except BackendError:
            self._stats["failed"] += 1
            raise
        self._count(exchange)

    async def _open(self, prompt: str, params: SamplingParams, exchange: Exchange) -> Any:
        """Start the request; one aborted while it started is closed at once."""
        self._opening.add(exchange.request_id)
        try:
            stream = await self._create(prompt, params, exchange.n)
        finally:
            self._opening.discard(exchange.request_id)
        self._streams[exchange.request_id] = stream
        if exchange.request_id in self._aborted:
            await stream.close()
        return stream

    async def _chunks(
        self, stream: Any, params: SamplingParams, exchange: Exchange
    ) -> AsyncGenerator[tuple[int, TextChunk], None]:
        read = chat_delta if self.config.api == "chat" else completions_delta
        try:
            async for data in stream:
                for item in exchange.absorb(data, read, params.top_logprobs):
                    yield item
        except STREAM_FAILURES as error:  # closing the stream is how an abort stops it: then this is expected
            if exchange.request_id not in self._aborted:
                raise self._stream_error(error, exchange) from error
        except Exception:
            if exchange.request_id not in self._aborted:
                raise
        if not exchange.finished and exchange.request_id not in self._aborted:
            raise self._cut(exchange)

    async def _create(self, prompt: str, params: SamplingParams, n: int) -> Any:
        try:
            if self.config.api == "chat":
                stream = await self._client.chat.completions.create(**self._chat_arguments(prompt, params, n))
            else:
                stream = await self._client.completions.create(**self._completions_arguments(prompt, params, n))
        except openai.APIStatusError as error:
            raise self._status_error(error) from None
        except openai.APIConnectionError as error:
            raise self._connection_error(error) from None
        self._simulated |= stream.response.headers.get("x-simulated", "").lower() == "true"
        return stream

    def _arguments(self, params: SamplingParams, n: int) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": params.max_tokens or 1,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        optional = {"stop": list(params.stop) or None, "seed": params.seed, "n": n if n > 1 else None}
        return arguments | {key: value for key, value in optional.items() if value is not None}

    def _completions_arguments(self, prompt: str, params: SamplingParams, n: int) -> dict[str, Any]:
        arguments = self._arguments(params, n) | {"prompt": prompt}
        if params.logprobs or params.top_logprobs > 0:
            arguments["logprobs"] = params.top_logprobs
        if params.json_schema is not None:
            arguments["extra_body"] = {"response_format": response_format(params.json_schema)}
        return arguments

    def _chat_arguments(self, prompt: str, params: SamplingParams, n: int) -> dict[str, Any]:
        arguments = self._arguments(params, n) | {"messages": [{"role": "user", "content": prompt}]}
        if params.logprobs or params.top_logprobs > 0:
            arguments["logprobs"] = True
        if params.top_logprobs > 0:
            arguments["top_logprobs"] = params.top_logprobs
        if params.json_schema is not None:
            arguments["response_format"] = response_format(params.json_schema)
        return arguments

    def _count(self, exchange: Exchange) -> None:
        for completion in exchange.completions():
            self._stats["aborted" if completion.finish_reason is FinishReason.ABORT else "finished"] += 1
            self._stats["completion_tokens"] += completion.usage.completion_tokens

    def _status_error(self, error: openai.APIStatusError) -> ServerError:
        body = error.body if error.body is not None else error.message
        return status_error(self.server, error.status_code, body, error.response.headers, secret=self._key)

    def _connection_error(self, error: openai.APIConnectionError) -> BackendError:
        if is_connect_failure(error):
            return BackendUnavailable(
                f"cannot reach {self.server}: {connect_failure(error)}; check base_url and that the server is running"
            )
        if isinstance(error, openai.APITimeoutError):
            return ServerError(f"{self.server} did not answer within {self.config.timeout_s:g} s", retryable=True)
        return ServerError(f"{self.server}: {self._reason(error)}", retryable=True)

    def _stream_error(self, error: Exception, exchange: Exchange) -> BackendError:
        if isinstance(error, openai.APIError) and not isinstance(error, openai.APIConnectionError):
            status = int(error.code) if error.code and error.code.isdigit() else None
            detail = redact(error_message(error.body) or error.message, self._key)
            message = f"request {exchange.request_id}: {self.server} reported: {detail}"
            return ServerError(
                message, status=status, retryable=bool(status and retryable_status(status)), detail=detail
            )
        return self._cut(exchange, self._reason(error))

    def _cut(self, exchange: Exchange, reason: str = "") -> ServerError:
        unfinished = next((c for c in exchange.choices if not c.transcript.finished), exchange.choices[0])
        return unfinished.transcript.cut(self.server, reason)

    def _reason(self, error: BaseException) -> str:
        cause = error.__cause__ or error
        return redact(one_line(str(cause)) or type(cause).__name__, self._key)


def response_format(json_schema: str) -> dict[str, Any]:
    """OpenAI's `response_format` constraining the output to `json_schema` (a JSON Schema as a string)."""
    try:
        schema = json.loads(json_schema)
    except json.JSONDecodeError as error:
        raise BackendError(f"json_schema is not valid JSON: {error}") from None
    return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": schema}}


def refuses_n(error: ServerError) -> bool:
    """Whether a server's error answer says it does not take `n` (more than one choice per request)."""
    return error.status in (400, 422) and bool(MENTIONS_N.search(error.detail))


def _nth(params: SamplingParams, index: int) -> SamplingParams:
    return params if params.seed is None else replace(params, seed=params.seed + index)
