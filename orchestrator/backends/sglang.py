"""`SGLangBackend`: a client of SGLang's native HTTP API (`/generate`, `/abort_request`, `/server_info`).

Each request is one streamed `POST /generate` with its request id as SGLang's `rid`. Aborts are
posted to `/abort_request` *before* the stream is closed (some 0.5.x servers leave zombie requests
when only the connection goes away); a consumer that stops reading early, a cancelled task and a
broken connection get the same treatment. `logprob_start_len` is left at SGLang's default -1: a
non-negative value makes the server compute prompt logprobs, which reduces prefix caching. Prefix
warm-up (`max_tokens=0`) is the caller's job and works as is; servers report 0 or 1 completion
tokens for it. The first request asks `/server_info` (`/get_server_info` on older servers) whether
the server streams deltas (`--incremental-streaming-output`) or, by default, cumulative outputs,
which cost O(n^2) bytes over a long generation; `info()` reports the model path it names.
`SamplingParams.json_schema` goes as is into `sampling_params.json_schema` (a string, as SGLang's
`SamplingParams` takes it); a schema the server's grammar backend cannot compile fails the request
as a non-retryable 400 ("Invalid grammar request ...").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncGenerator
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.backends._http import (
    ServerError,
    api_key,
    connect_failure,
    normalize_url,
    one_line,
    status_error,
    tls_context,
)
from orchestrator.backends._sglang_stream import SGLangStream
from orchestrator.backends._sse import DONE, aiter_sse
from orchestrator.backends._transcript import Transcript
from orchestrator.backends.base import (
    AsyncClosing,
    BackendInfo,
    Completion,
    CompletionRequest,
    FinishReason,
    StreamEvent,
)
from orchestrator.errors import BackendError, BackendUnavailable

ABORT_TIMEOUT_S = 5.0
ABORT_GRACE_S = 0.25
"""How long a stream may go on after its abort was sent before the client closes it itself (SGLang also
aborts a request whose client has gone, so closing early loses nothing but the final usage figures)."""
KEEPALIVE_EXPIRY_S = 4.0  # below uvicorn's 5 s keep-alive, so an idle connection is never reused as it closes


class SGLangConfig(BaseModel):
    """A running SGLang server (`backend: {kind: sglang, ...}` in a task file).

    - `url`: where `python -m sglang.launch_server` listens.
    - `timeout_s`: the longest wait for the next bytes of an answer (a stream may run longer in all).
    - `connect_timeout_s`: the longest wait to open a connection.
    - `api_key_env`: the environment variable holding the server's `--api-key`, sent as a bearer token.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sglang"] = "sglang"
    url: str = "http://127.0.0.1:30000"
    timeout_s: float = Field(default=600.0, gt=0.0, le=86_400.0)
    connect_timeout_s: float = Field(default=5.0, gt=0.0, le=600.0)
    api_key_env: str | None = Field(default=None, min_length=1)

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, url: str) -> str:
        return normalize_url(url)


class SGLangBackend(AsyncClosing):
    """Streams completions from an SGLang server over its native API."""

    def __init__(
        self, config: SGLangConfig | None = None, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """`transport` replaces the network (httpx's `MockTransport` in tests)."""
        self.config = config or SGLangConfig()
        self.url = self.config.url
        self.server = f"SGLang at {self.url}"
        self._client = _client(self.config, transport)
        self._server_info: dict[str, Any] | None = None
        self._info_lock = asyncio.Lock()
        self._stats: Counter[str] = Counter()
        self._open: dict[str, tuple[httpx.Response, SGLangStream]] = {}
        self._closing: set[asyncio.Future[None]] = set()

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """POST the request to `/generate` and yield its text as it streams, then its `Completion`.

        A request that ends any other way than by the server's own word (the consumer stopped, the
        task was cancelled, the connection broke) is aborted on the server.
        """
        reader = SGLangStream(request.request_id, self.server, incremental=await self._incremental())
        self._stats["requests"] += 1
        try:
            async with self._client.stream("POST", "/generate", json=payload(request)) as response:
                reader.failed = response.status_code != 200
                await self._raise_for_status(response)
                self._open[request.request_id] = (response, reader)
                async with contextlib.aclosing(self._read(response, reader)) as events:
                    async for event in events:
                        yield event
        except httpx.RequestError as error:
            reader.failed = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)  # it never left
            self._stats["failed"] += 1
            raise self._transport_error(error, reader.transcript) from error
        except BackendError:
            self._stats["failed"] += 1
            raise
        finally:
            self._open.pop(request.request_id, None)
            await self._settle(reader)

    async def abort(self, request_id: str) -> None:
        """Ask the server to abort `request_id`; its stream then ends with an `ABORT` completion.

        A server that does not end the stream within `ABORT_GRACE_S` has ignored the abort: the
        client closes the stream itself, and it ends with an `ABORT` completion all the same.
        """
        self._stats["aborts_sent"] += 1
        if (stream := self._open.get(request_id)) is not None:
            asyncio.get_running_loop().call_later(ABORT_GRACE_S, self._give_up, request_id, stream)
        response = await self._send("POST", "/abort_request", json={"rid": request_id}, timeout=ABORT_TIMEOUT_S)
        await self._raise_for_status(response)

    async def server_info(self) -> dict[str, Any]:
        """The server's arguments and state (`/server_info`, or `/get_server_info` on older servers)."""
        response = await self._send("GET", "/server_info")
        if response.status_code == 404:
            response = await self._send("GET", "/get_server_info")
        await self._raise_for_status(response)
        self._server_info = _json_object(response)
        return self._server_info

    async def health(self) -> bool:
        """Whether `/health` answers 200 (SGLang then has generated a token); unreachable raises."""
        response = await self._send("GET", "/health")
        return response.status_code == 200

    def info(self) -> BackendInfo:
        known = self._server_info or {}
        model = str(known.get("served_model_name") or known.get("model_path") or self.url)
        return BackendInfo(kind="sglang", model=model, simulated=bool(known.get("simulated")), stats=self.stats())

    def stats(self) -> dict[str, Any]:
        keys = ("requests", "finished", "aborted", "failed", "aborts_sent", "aborts_ignored", "completion_tokens")
        return {"url": self.url, **{key: self._stats[key] for key in keys}}

    async def close(self) -> None:
        await self._client.aclose()

    # --- internals -------------------------------------------------------------------------------

    async def _read(self, response: httpx.Response, reader: SGLangStream) -> AsyncGenerator[StreamEvent, None]:
        """Yield the chunks of the stream; its completion comes once the stream has ended."""
        try:
            async for data in aiter_sse(response.aiter_bytes()):
                if data == DONE:
                    break
                chunk = reader.absorb(_event(data, self.server))
                if chunk is not None:
                    yield chunk
        except (httpx.HTTPError, httpx.StreamError):
            if not reader.given_up:
                raise
        finally:
            await self._settle(reader)  # before the response closes: some servers leave zombies otherwise
        if reader.completion is None and reader.given_up:
            reader.completion = reader.transcript.aborted()
        if reader.completion is None:
            raise reader.transcript.cut(self.server)
        self._count(reader.completion)
        yield reader.completion

    def _count(self, completion: Completion) -> None:
        self._stats["aborted" if completion.finish_reason is FinishReason.ABORT else "finished"] += 1
        self._stats["completion_tokens"] += completion.usage.completion_tokens

    async def _incremental(self) -> bool:
        """Whether the server streams deltas (`--incremental-streaming-output`).

        Asked once, from `/server_info`; a server without it streams cumulative outputs (the default),
        a server that fails to answer (still loading, say) is asked again by the next request.
        """
        async with self._info_lock:
            if self._server_info is None:
                try:
                    await self.server_info()
                except ServerError as error:
                    if error.status == 404:
                        self._server_info = {}
        return bool((self._server_info or {}).get("incremental_streaming_output"))

    def _give_up(self, request_id: str, stream: tuple[httpx.Response, SGLangStream]) -> None:
        """The server ignored the abort of a stream that is still open: close it from this side.

        Only that stream: a retry of the same request (same id) after it is not touched."""
        response, reader = stream
        if self._open.get(request_id) is not stream or reader.over:
            return
        reader.given_up = reader.abandoned = True
        self._stats["aborts_ignored"] += 1
        self._closing.add(task := asyncio.ensure_future(response.aclose()))
        task.add_done_callback(self._closing.discard)

    async def _settle(self, reader: SGLangStream) -> None:
        """Abort the request, once, unless the server has ended it."""
        if reader.over or reader.abandoned:
            return
        reader.abandoned = True
        with contextlib.suppress(BackendError):
            await asyncio.shield(self.abort(reader.transcript.request_id))

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return await self._client.request(method, path, **options)
        except httpx.RequestError as error:
            raise self._transport_error(error) from error

    async def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            await response.aread()
            raise status_error(self.server, response.status_code, _body(response), response.headers)

    def _transport_error(self, error: httpx.RequestError, transcript: Transcript | None = None) -> BackendError:
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return BackendUnavailable(
                f"cannot reach SGLang at {self.url}: {connect_failure(error)}; start it with: "
                f"python -m sglang.launch_server --model-path <model> --port {urlsplit(self.url).port or 30000}"
            )
        reason = self._why(error)
        if transcript is not None:
            return transcript.cut(self.server, reason)
        return ServerError(f"{self.server}: {reason}", retryable=True)

    def _why(self, error: httpx.RequestError) -> str:
        if isinstance(error, httpx.ReadTimeout):
            return f"no data for {self.config.timeout_s:g} s"
        return one_line(str(error)) or type(error).__name__


def payload(request: CompletionRequest) -> dict[str, Any]:
    """The `/generate` body for `request` (streamed, with its id as `rid`)."""
    params = request.params
    sampling: dict[str, Any] = {
        "max_new_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
    }
    if params.stop:
        sampling["stop"] = list(params.stop)
    if params.seed is not None:
        sampling["sampling_seed"] = params.seed
    if params.json_schema is not None:
        sampling["json_schema"] = params.json_schema
    prompt = {"input_ids": list(request.prompt_ids)} if request.prompt_ids is not None else {"text": request.prompt}
    body = prompt | {"sampling_params": sampling, "stream": True, "rid": request.request_id}
    if params.logprobs or params.top_logprobs > 0:
        body |= {"return_logprob": True, "top_logprobs_num": params.top_logprobs}
    return body


def _client(config: SGLangConfig, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    key = api_key(config.api_key_env, config.url, required=True)
    return httpx.AsyncClient(
        base_url=config.url,
        transport=transport,
        verify=tls_context(),
        headers={"Authorization": f"Bearer {key}"} if key else None,
        timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=256, keepalive_expiry=KEEPALIVE_EXPIRY_S),
    )


def _event(data: str, server: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise ServerError(f"{server} sent an event that is not JSON: {one_line(data, 120)}") from None
    if not isinstance(event, dict):
        raise ServerError(f"{server} sent an event that is not a JSON object: {one_line(data, 120)}")
    return event


def _body(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = _body(response)
    if not isinstance(body, dict):
        raise ServerError(f"answer of {response.url} is not a JSON object")
    return body
