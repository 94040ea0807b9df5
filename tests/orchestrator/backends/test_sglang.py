"""`SGLangBackend` against the simulator's HTTP server (real HTTP on 127.0.0.1), and without one."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pydantic
import pytest
from support import collect, free_port

from orchestrator.backends._http import ServerError, is_retryable
from orchestrator.backends.base import (
    Backend,
    Completion,
    CompletionRequest,
    FinishReason,
    SamplingParams,
    TextChunk,
    complete,
)
from orchestrator.backends.sglang import SGLangBackend, SGLangConfig, payload
from orchestrator.backends.sim import ScriptOutput, ScriptRequest, SimBackend, SimConfig
from orchestrator.errors import BackendError, BackendUnavailable
from orchestrator.runner import Orchestrator
from orchestrator.simserver import Faults, SimServer, native
from orchestrator.simserver.contract import GenerateBody
from orchestrator.spec import Strategy

QUESTION = "Reason step by step and put the final answer in \\boxed{}. How many divisors does 360 have?"
FAST = SimConfig(time_scale=0, trace_tokens=80)
PACED = SimConfig(time_scale=1, trace_tokens=2000)  # real time: a token every few milliseconds
PLAN = "Write the plan as JSON."
SCHEMA = '{"type": "object", "properties": {"steps": {"type": "array"}}, "required": ["steps"]}'


@pytest.fixture
async def server() -> AsyncIterator[SimServer]:
    async with SimServer(FAST) as running:
        yield running


@pytest.fixture
async def backend(server: SimServer) -> AsyncIterator[SGLangBackend]:
    async with SGLangBackend(SGLangConfig(url=server.url)) as client:
        yield client


def request(prompt: str = QUESTION, **params: Any) -> CompletionRequest:
    return CompletionRequest(prompt, SamplingParams(**params))


# --- without a server ------------------------------------------------------------------------------


def test_config_defaults_validation_and_kind() -> None:
    config = SGLangConfig(url="http://127.0.0.1:30000/")
    assert config.kind == "sglang" and config.url == "http://127.0.0.1:30000" and config.timeout_s == 600
    with pytest.raises(pydantic.ValidationError):
        SGLangConfig(warmup=True)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        SGLangConfig(url="127.0.0.1:30000")
    with pytest.raises(pydantic.ValidationError):
        SGLangConfig(timeout_s=0)
    with pytest.raises(pydantic.ValidationError):
        config.url = "http://other"  # type: ignore[misc]
    assert SGLangConfig.model_validate({"kind": "sglang", "url": "http://h:1"}).url == "http://h:1"


def test_payload_is_sglang_native_and_leaves_logprob_start_len_alone() -> None:
    req = CompletionRequest("p", SamplingParams(16, 0.5, 0.9, ("</s>",), 7, True, 3), "a" * 32)
    assert payload(req) == {
        "text": "p",
        "sampling_params": {
            "max_new_tokens": 16,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["</s>"],
            "sampling_seed": 7,
        },
        "stream": True,
        "rid": "a" * 32,
        "return_logprob": True,
        "top_logprobs_num": 3,
    }
    plain = payload(request(max_tokens=0))
    assert "return_logprob" not in plain and "stop" not in plain["sampling_params"] and "logprob_start_len" not in plain
    assert "json_schema" not in plain["sampling_params"]
    assert payload(request(json_schema=SCHEMA))["sampling_params"]["json_schema"] == SCHEMA


@pytest.mark.timeout(20)
async def test_an_unreachable_server_is_one_line_naming_the_url_and_how_to_start_sglang() -> None:
    port = free_port()
    async with SGLangBackend(SGLangConfig(url=f"http://127.0.0.1:{port}")) as backend:
        with pytest.raises(BackendUnavailable) as caught:
            await complete(backend, request())
    assert str(caught.value) == (
        f"cannot reach SGLang at http://127.0.0.1:{port}: connection refused; "
        f"start it with: python -m sglang.launch_server --model-path <model> --port {port}"
    )
    assert is_retryable(caught.value)


def test_a_missing_api_key_variable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCH_SGLANG_KEY", raising=False)
    with pytest.raises(BackendError, match="environment variable ORCH_SGLANG_KEY is not set"):
        SGLangBackend(SGLangConfig(api_key_env="ORCH_SGLANG_KEY"))


def test_it_is_a_backend() -> None:
    assert isinstance(SGLangBackend(), Backend)


# --- against a scripted transport: protocol variants the simulator does not serve ------------------

WORDS = ["Two", " plus", " two", " is", " 4", "."]


def wire(*, incremental: bool) -> bytes:
    """A `/generate` stream, cumulative (SGLang's default) or incremental, two tokens per event."""
    events: list[dict[str, Any]] = []
    for n in range(2, len(WORDS) + 1, 2):
        start = n - 2 if incremental else 0
        meta: dict[str, Any] = {"finish_reason": None, "prompt_tokens": 5, "completion_tokens": n, "cached_tokens": 4}
        meta["output_token_logprobs"] = [[-0.5, 10 + i, None] for i in range(start, n)]
        events.append(
            {"text": "".join(WORDS[start:n]), "output_ids": list(range(10 + start, 10 + n)), "meta_info": meta}
        )
    events[-1]["meta_info"]["finish_reason"] = {"type": "stop", "matched": 2}
    lines = [f"data: {json.dumps(event)}\n\n" for event in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def scripted(
    *, incremental: bool = False, split: int = 7, seen: list[str] | None = None, limited: bool = False
) -> httpx.MockTransport:
    """An SGLang server without `/server_info` (only the old path) that streams in `split`-byte pieces.

    `limited`: `/generate` answers 429 with a Retry-After header.
    """
    body = wire(incremental=incremental)

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(body), split):
            yield body[i : i + split]

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request.url.path)
        if request.url.path == "/get_server_info":
            return httpx.Response(
                200, json={"model_path": "Qwen/Qwen3-8B", "incremental_streaming_output": incremental}
            )
        if request.url.path == "/generate" and limited:
            return httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after": "3"})
        if request.url.path == "/generate":
            return httpx.Response(200, content=pieces(), headers={"content-type": "text/event-stream"})
        return httpx.Response(404, json={"detail": "Not Found"})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("incremental", [False, True])
@pytest.mark.timeout(20)
async def test_cumulative_and_incremental_servers_stream_the_same_chunks(incremental: bool) -> None:
    seen: list[str] = []
    async with SGLangBackend(transport=scripted(incremental=incremental, seen=seen)) as backend:
        chunks, final = await collect(backend, request())
        await collect(backend, request())
        assert backend.info().model == "Qwen/Qwen3-8B" and not backend.info().simulated
    assert [c.text for c in chunks] == ["Two plus", " two is", " 4."] and final.text == "Two plus two is 4."
    assert [c.token_ids for c in chunks] == [(10, 11), (12, 13), (14, 15)]
    assert all(c.logprobs == (-0.5, -0.5) and c.tokens == 2 for c in chunks)
    assert final.usage.prompt_tokens == 5 and final.usage.cached_tokens == 4
    assert seen == ["/server_info", "/get_server_info", "/generate", "/generate"]


@pytest.mark.timeout(20)
async def test_a_rate_limit_is_retryable_and_says_when_to_retry() -> None:
    async with SGLangBackend(transport=scripted(limited=True)) as backend:
        with pytest.raises(ServerError, match="answered HTTP 429: slow down") as caught:
            await complete(backend, request())
    assert caught.value.status == 429 and is_retryable(caught.value) and caught.value.retry_after == 3.0


# --- against the simulator's server ---------------------------------------------------------------


@pytest.mark.timeout(20)
async def test_streamed_text_is_the_final_text_and_matches_the_simulator(backend: SGLangBackend) -> None:
    chunks, final = await collect(backend, request(seed=3))
    assert len(chunks) > 10 and "".join(chunk.text for chunk in chunks) == final.text
    assert sum(chunk.tokens for chunk in chunks) == final.usage.completion_tokens
    assert final.finish_reason is FinishReason.STOP and "\\boxed{" in final.text
    assert final.request_id and final.usage.prompt_tokens > 10
    assert 0 < final.usage.reasoning_tokens < final.usage.completion_tokens
    reference = await complete(SimBackend(FAST), request(seed=3))
    assert final.text == reference.text and final.usage.completion_tokens == reference.usage.completion_tokens


@pytest.mark.timeout(20)
async def test_max_tokens_and_stop_strings(backend: SGLangBackend) -> None:
    _, cut = await collect(backend, request(max_tokens=7))
    assert cut.finish_reason is FinishReason.LENGTH and cut.usage.completion_tokens == 7
    _, stopped = await collect(backend, request(stop=("</think>",)))
    assert stopped.finish_reason is FinishReason.STOP and stopped.matched_stop == "</think>"
    assert "</think>" not in stopped.text


@pytest.mark.timeout(20)
async def test_logprobs_come_one_per_token(backend: SGLangBackend) -> None:
    chunks, final = await collect(backend, request(max_tokens=40, logprobs=True, top_logprobs=3))
    assert sum(len(chunk.logprobs) for chunk in chunks) == final.usage.completion_tokens == 40
    assert all(len(c.logprobs) == len(c.top_logprobs) == len(c.token_ids) == c.tokens for c in chunks)
    assert all(len(top) == 3 and top[0] >= top[-1] for c in chunks for top in c.top_logprobs)


@pytest.mark.timeout(20)
async def test_a_warm_up_with_max_tokens_0_makes_the_prefix_cached(backend: SGLangBackend) -> None:
    warm = await complete(backend, request(max_tokens=0))
    assert warm.usage.completion_tokens in (0, 1) and warm.text in ("", warm.text)
    after = await complete(backend, request(max_tokens=4))
    assert after.usage.prompt_tokens == warm.usage.prompt_tokens
    assert after.usage.cached_tokens == after.usage.prompt_tokens - 1


@pytest.mark.timeout(20)
async def test_server_info_health_and_info(backend: SGLangBackend) -> None:
    assert await backend.health()
    info = await backend.server_info()
    assert isinstance(info, dict) and info
    described = backend.info()
    assert described.kind == "sglang" and described.model != backend.url and described.simulated
    await complete(backend, request(max_tokens=3))
    assert backend.info().stats["requests"] == 1 and backend.info().stats["finished"] == 1


async def first_chunks(events: AsyncIterator[Any], count: int) -> list[TextChunk]:
    chunks: list[TextChunk] = []
    async for event in events:
        assert isinstance(event, TextChunk)
        chunks.append(event)
        if len(chunks) == count:
            return chunks
    raise AssertionError("the stream ended too early")


async def generated(server: SimServer) -> int:
    return int(server.backend.stats()["generated_tokens"])


@pytest.mark.timeout(20)
async def test_abort_mid_stream_stops_the_server_and_ends_with_abort() -> None:
    async with SimServer(PACED) as server, SGLangBackend(SGLangConfig(url=server.url)) as backend:
        req = request(max_tokens=2000)
        events = backend.stream(req)
        chunks = await first_chunks(events, 3)
        await backend.abort(req.request_id)
        rest = [event async for event in events]
        final = rest[-1]
        assert isinstance(final, Completion) and final.finish_reason is FinishReason.ABORT
        streamed = "".join(c.text for c in chunks + [e for e in rest if isinstance(e, TextChunk)])
        assert final.text == streamed and final.usage.completion_tokens < 2000
        assert server.backend.stats()["aborted"] == 1
        before = await generated(server)
        await asyncio.sleep(0.1)
        assert await generated(server) == before


@pytest.mark.timeout(20)
async def test_a_consumer_that_stops_early_aborts_the_request() -> None:
    async with SimServer(PACED) as server, SGLangBackend(SGLangConfig(url=server.url)) as backend:
        events = backend.stream(request(max_tokens=2000))
        await first_chunks(events, 2)
        await events.aclose()
        assert server.backend.stats()["aborted"] == 1
        before = await generated(server)
        await asyncio.sleep(0.1)
        assert await generated(server) == before and before < 2000
        assert backend.info().stats["aborts_sent"] == 1


@pytest.mark.timeout(20)
async def test_a_cancelled_consumer_aborts_the_request() -> None:
    async with SimServer(PACED) as server, SGLangBackend(SGLangConfig(url=server.url)) as backend:
        task = asyncio.create_task(complete(backend, request(max_tokens=2000)))
        while await generated(server) < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert server.backend.stats()["aborted"] == 1 and backend.info().stats["aborts_sent"] == 1
        before = await generated(server)
        await asyncio.sleep(0.1)
        assert await generated(server) == before


@pytest.mark.timeout(20)
async def test_a_request_rejected_before_streaming_is_a_400_with_the_server_message(backend: SGLangBackend) -> None:
    with pytest.raises(ServerError) as caught:
        await complete(backend, request(stop=(1,)))  # SGLang's JSON contract wants strings
    error = caught.value
    assert error.status == 400 and not is_retryable(error)
    assert str(error) == f"SGLang at {backend.url} answered HTTP 400: {error.detail}"
    assert "expected a string" in error.detail and "\n" not in str(error)


@pytest.mark.timeout(20)
async def test_a_request_rejected_after_streaming_began_is_a_400_error_event(backend: SGLangBackend) -> None:
    req = request(max_tokens=-1)
    with pytest.raises(ServerError) as caught:
        await complete(backend, req)
    error = caught.value
    assert error.status == 400 and not is_retryable(error)
    assert str(error) == f"request {req.request_id}: SGLang at {backend.url} reported: {error.detail}"
    assert "max_new_tokens" in error.detail


class SchemaEcho:
    """Writes the JSON Schema its request is constrained to, or `unconstrained`."""

    name = "schema-echo"

    def matches(self, prompt: str) -> bool:
        return PLAN in prompt

    def write(self, request: ScriptRequest) -> ScriptOutput:
        return ScriptOutput(request.params.json_schema or "unconstrained")


def record_bodies(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The JSON bodies the server's `/generate` receives from now on."""
    bodies: list[dict[str, Any]] = []
    parse = native.parse_generate

    def recording(body: bytes) -> GenerateBody:
        bodies.append(json.loads(body))
        return parse(body)

    monkeypatch.setattr(native, "parse_generate", recording)
    return bodies


@pytest.mark.timeout(20)
async def test_a_json_schema_is_sent_in_sampling_params_and_reaches_the_model(
    server: SimServer, backend: SGLangBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.backend.model.register(SchemaEcho())
    bodies = record_bodies(monkeypatch)
    constrained = await complete(backend, request(PLAN, json_schema=SCHEMA))
    free = await complete(backend, request(PLAN))
    assert [body["sampling_params"].get("json_schema") for body in bodies] == [SCHEMA, None]
    assert constrained.text == SCHEMA and free.text == "unconstrained"


@pytest.mark.timeout(20)
async def test_a_schema_the_server_cannot_compile_is_a_400(backend: SGLangBackend) -> None:
    with pytest.raises(ServerError) as caught:
        await complete(backend, request(PLAN, json_schema='{"type": "object"'))
    assert caught.value.status == 400 and not is_retryable(caught.value)
    assert caught.value.detail.startswith("Invalid grammar request: ")


@pytest.mark.parametrize(("faults", "status"), [(Faults(error_rate=1.0), 500), (Faults(unavailable_rate=1.0), 503)])
@pytest.mark.timeout(20)
async def test_server_errors_are_retryable(faults: Faults, status: int) -> None:
    async with SimServer(FAST, faults=faults) as server, SGLangBackend(SGLangConfig(url=server.url)) as backend:
        with pytest.raises(ServerError) as caught:
            await complete(backend, request())
    assert caught.value.status == status and is_retryable(caught.value)


@pytest.mark.timeout(20)
async def test_a_loading_server_answers_503_which_is_retryable() -> None:
    async with (
        SimServer(FAST, faults=Faults(loading_s=60)) as server,
        SGLangBackend(SGLangConfig(url=server.url)) as backend,
    ):
        assert not await backend.health()
        with pytest.raises(ServerError) as caught:
            await complete(backend, request())
    assert caught.value.status == 503 and is_retryable(caught.value)


@pytest.mark.timeout(20)
async def test_a_cut_stream_is_a_retryable_error_with_its_reason() -> None:
    async with (
        SimServer(FAST, faults=Faults(cut_rate=1.0)) as server,
        SGLangBackend(SGLangConfig(url=server.url)) as backend,
    ):
        with pytest.raises(ServerError, match=r"ended before the request finished \(\d+ tokens received\)") as caught:
            await complete(backend, request())
    assert is_retryable(caught.value) and caught.value.status is None


@pytest.mark.timeout(60)
async def test_orchestrator_end_to_end_reuses_the_warmed_prefix(backend: SGLangBackend) -> None:
    result = await Orchestrator(backend, Strategy(threads=4, max_tokens=400)).run(QUESTION)
    assert result.answer is not None and len(result.threads) == 4
    assert result.usage.cached_tokens > 0
    assert all(thread.cached_tokens == thread.prompt_tokens - 1 for thread in result.threads)
    assert result.backend.kind == "sglang"
