"""`OpenAIBackend` against the simulator's HTTP server (real HTTP on 127.0.0.1), and without one."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pydantic
import pytest
from aiohttp import web
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
from orchestrator.backends.openai import OpenAIBackend, OpenAIConfig, refuses_n
from orchestrator.backends.sim import ScriptOutput, ScriptRequest, SimConfig
from orchestrator.errors import BackendError, BackendUnavailable
from orchestrator.runner import Orchestrator
from orchestrator.simserver import Faults, SimServer, openai_api
from orchestrator.spec import Strategy

QUESTION = "Reason step by step and put the final answer in \\boxed{}. How many divisors does 360 have?"
FAST = SimConfig(time_scale=0, trace_tokens=80)
PACED = SimConfig(time_scale=1, trace_tokens=2000)  # real time: a token every few milliseconds
PLAN = "Write the plan as JSON."
SCHEMA_OBJECT = {"type": "object", "properties": {"steps": {"type": "array"}}, "required": ["steps"]}
SCHEMA = json.dumps(SCHEMA_OBJECT)


def config(server: SimServer, **options: Any) -> OpenAIConfig:
    return OpenAIConfig(base_url=f"{server.url}/v1", **options)


@pytest.fixture
async def server() -> AsyncIterator[SimServer]:
    async with SimServer(FAST) as running:
        yield running


@pytest.fixture(params=["completions", "chat"])
async def backend(server: SimServer, request: pytest.FixtureRequest) -> AsyncIterator[OpenAIBackend]:
    async with OpenAIBackend(config(server, api=request.param)) as client:
        yield client


def request(prompt: str = QUESTION, **params: Any) -> CompletionRequest:
    return CompletionRequest(prompt, SamplingParams(**params))


# --- without a server ------------------------------------------------------------------------------


def test_config_defaults_and_validation() -> None:
    default = OpenAIConfig()
    assert default.kind == "openai" and default.base_url == "http://127.0.0.1:30000/v1"
    assert default.model == "default" and default.api == "completions" and default.api_key_env == "OPENAI_API_KEY"
    with pytest.raises(pydantic.ValidationError):
        OpenAIConfig(api_key="sk-123")  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        OpenAIConfig(api="responses")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        OpenAIConfig(base_url="api.openai.com")


def test_loopback_servers_need_no_key_but_remote_ones_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCH_OPENAI_KEY", raising=False)
    assert isinstance(OpenAIBackend(OpenAIConfig(api_key_env="ORCH_OPENAI_KEY")), Backend)
    with pytest.raises(BackendError, match="environment variable ORCH_OPENAI_KEY is not set") as caught:
        OpenAIBackend(OpenAIConfig(base_url="https://api.example.com/v1", api_key_env="ORCH_OPENAI_KEY"))
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("ORCH_OPENAI_KEY", "sk-test")
    OpenAIBackend(OpenAIConfig(base_url="https://api.example.com/v1", api_key_env="ORCH_OPENAI_KEY"))


@pytest.mark.timeout(20)
async def test_an_unreachable_server_is_one_line_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    async with OpenAIBackend(OpenAIConfig(base_url=url)) as backend:
        with pytest.raises(BackendUnavailable) as caught:
            await complete(backend, request())
    assert str(caught.value).startswith(f"cannot reach the OpenAI-compatible server at {url}: connection refused")
    assert "\n" not in str(caught.value) and is_retryable(caught.value)


def test_refusals_of_n_are_recognised() -> None:
    def error(status: int, detail: str) -> ServerError:
        return ServerError("x", status=status, detail=detail)

    assert refuses_n(error(400, "Unsupported value: 'n' does not support 4 with this model."))
    assert refuses_n(error(400, "n must be 1 when using greedy sampling"))
    assert refuses_n(error(422, "n: Input should be less than or equal to 1"))
    assert not refuses_n(error(400, "max_tokens must be positive"))
    assert not refuses_n(error(500, "n is broken"))


# --- against the simulator's server ---------------------------------------------------------------


@pytest.mark.timeout(20)
async def test_streamed_text_is_the_final_text_with_usage(backend: OpenAIBackend) -> None:
    chunks, final = await collect(backend, request(seed=5))
    assert len(chunks) > 10 and "".join(chunk.text for chunk in chunks) == final.text
    assert final.finish_reason is FinishReason.STOP and "\\boxed{" in final.text
    assert final.usage.prompt_tokens > 10 and final.usage.completion_tokens >= sum(c.tokens for c in chunks)
    assert final.usage.completion_tokens - sum(c.tokens for c in chunks) <= 1  # the end-of-sequence token
    info = backend.info()
    assert info.kind == "openai" and info.model == "default" and info.simulated


@pytest.mark.timeout(20)
async def test_max_tokens_stop_and_seed(backend: OpenAIBackend) -> None:
    _, cut = await collect(backend, request(max_tokens=7))
    assert cut.finish_reason is FinishReason.LENGTH and cut.usage.completion_tokens == 7
    _, stopped = await collect(backend, request(stop=("</think>",), seed=1))
    assert stopped.finish_reason is FinishReason.STOP and "</think>" not in stopped.text
    again = await complete(backend, request(stop=("</think>",), seed=1))
    assert again.text == stopped.text


@pytest.mark.timeout(20)
async def test_logprobs_come_one_per_token(backend: OpenAIBackend) -> None:
    chunks, final = await collect(backend, request(max_tokens=40, logprobs=True, top_logprobs=3))
    assert sum(len(chunk.logprobs) for chunk in chunks) == sum(c.tokens for c in chunks) == 40
    assert final.usage.completion_tokens == 40
    assert all(len(c.top_logprobs) == c.tokens and all(len(t) == 3 for t in c.top_logprobs) for c in chunks)


@pytest.mark.timeout(20)
async def test_the_warm_up_sends_one_token_reports_none_and_caches_the_prefix(server: SimServer) -> None:
    async with OpenAIBackend(config(server)) as backend:
        chunks, warm = await collect(backend, request(max_tokens=0))
        assert chunks == [] and warm.text == "" and warm.finish_reason is FinishReason.LENGTH
        assert warm.usage.completion_tokens == 1 and warm.usage.prompt_tokens > 10
        after = await complete(backend, request(max_tokens=4))
    assert after.usage.cached_tokens == after.usage.prompt_tokens - 1


async def first_chunks(events: AsyncIterator[Any], count: int) -> list[TextChunk]:
    chunks: list[TextChunk] = []
    async for event in events:
        assert isinstance(event, TextChunk)
        chunks.append(event)
        if len(chunks) == count:
            return chunks
    raise AssertionError("the stream ended too early")


async def settled(server: SimServer) -> int:
    """Generated tokens once the server has had time to notice a disconnect."""
    before = -1
    while (now := int(server.backend.stats()["generated_tokens"])) != before:
        before = now
        await asyncio.sleep(0.05)
    return now


@pytest.mark.timeout(20)
async def test_abort_closes_the_stream_which_ends_with_abort() -> None:
    async with SimServer(PACED) as server, OpenAIBackend(config(server)) as backend:
        req = request(max_tokens=2000)
        events = backend.stream(req)
        chunks = await first_chunks(events, 3)
        await backend.abort(req.request_id)
        rest = [event async for event in events]
        final = rest[-1]
        assert isinstance(final, Completion) and final.finish_reason is FinishReason.ABORT
        streamed = "".join(c.text for c in chunks + [e for e in rest if isinstance(e, TextChunk)])
        assert final.text == streamed and final.usage.completion_tokens < 2000
        stopped_at = await settled(server)
        assert stopped_at < 2000 and server.backend.stats()["aborted"] == 1
        assert backend.info().stats["aborted"] == 1


@pytest.mark.timeout(20)
async def test_a_consumer_that_stops_early_aborts_the_request() -> None:
    async with SimServer(PACED) as server, OpenAIBackend(config(server)) as backend:
        events = backend.stream(request(max_tokens=2000))
        await first_chunks(events, 2)
        await events.aclose()
        assert await settled(server) < 2000
        assert server.backend.stats()["aborted"] == 1


@pytest.mark.timeout(20)
async def test_an_abort_that_comes_while_the_request_starts_takes_effect_once_it_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with SimServer(PACED) as server, OpenAIBackend(config(server)) as backend:
        started, original = asyncio.Event(), backend._create

        async def slow_start(prompt: str, params: SamplingParams, n: int) -> Any:
            await started.wait()
            return await original(prompt, params, n)

        monkeypatch.setattr(backend, "_create", slow_start)
        req = request(max_tokens=2000)
        task = asyncio.create_task(complete(backend, req))
        await asyncio.sleep(0.01)
        await backend.abort(req.request_id)
        started.set()
        final = await task
        assert final.finish_reason is FinishReason.ABORT and final.usage.completion_tokens < 2000
        assert await settled(server) < 2000


@pytest.mark.timeout(20)
async def test_a_bad_request_is_not_retryable_and_carries_the_server_message(backend: OpenAIBackend) -> None:
    with pytest.raises(ServerError) as caught:
        await complete(backend, request(max_tokens=-1))
    error = caught.value
    assert error.status == 400 and not is_retryable(error) and "max" in error.detail and "tokens" in error.detail
    assert str(error).startswith(f"the OpenAI-compatible server at {backend.config.base_url} answered HTTP 400: ")


class SchemaEcho:
    """Writes the JSON Schema its request is constrained to, or `unconstrained`."""

    name = "schema-echo"

    def matches(self, prompt: str) -> bool:
        return PLAN in prompt

    def write(self, request: ScriptRequest) -> ScriptOutput:
        return ScriptOutput(request.params.json_schema or "unconstrained")


def record_bodies(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The JSON bodies the server's OpenAI routes receive from now on."""
    bodies: list[dict[str, Any]] = []
    parse = openai_api.parse_body

    async def recording(request: web.Request, model_type: type[pydantic.BaseModel]) -> pydantic.BaseModel:
        bodies.append(json.loads(await request.read()))
        return await parse(request, model_type)

    monkeypatch.setattr(openai_api, "parse_body", recording)
    return bodies


@pytest.mark.timeout(20)
async def test_a_json_schema_is_sent_as_response_format_and_reaches_the_model(
    server: SimServer, backend: OpenAIBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.backend.model.register(SchemaEcho())
    bodies = record_bodies(monkeypatch)
    constrained = await complete(backend, request(PLAN, json_schema=SCHEMA))
    free = await complete(backend, request(PLAN))
    expected = {"type": "json_schema", "json_schema": {"name": "output", "schema": SCHEMA_OBJECT}}
    assert [body.get("response_format") for body in bodies] == [expected, None]
    assert all("json_schema" not in body and "guided_json" not in body for body in bodies)
    assert constrained.text == SCHEMA and free.text == "unconstrained"


@pytest.mark.timeout(20)
async def test_a_schema_that_is_not_json_fails_before_it_is_sent(
    backend: OpenAIBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = record_bodies(monkeypatch)
    with pytest.raises(BackendError, match="json_schema is not valid JSON") as caught:
        await complete(backend, request(PLAN, json_schema='{"type": "object"'))
    assert bodies == [] and not is_retryable(caught.value) and backend.info().stats["failed"] == 1


@pytest.mark.parametrize(("faults", "status"), [(Faults(error_rate=1.0), 500), (Faults(unavailable_rate=1.0), 503)])
@pytest.mark.timeout(20)
async def test_server_errors_are_retryable(faults: Faults, status: int) -> None:
    async with SimServer(FAST, faults=faults) as server, OpenAIBackend(config(server)) as backend:
        with pytest.raises(ServerError) as caught:
            await complete(backend, request())
    assert caught.value.status == status and is_retryable(caught.value)


@pytest.mark.timeout(20)
async def test_a_cut_stream_is_a_retryable_error_with_its_reason() -> None:
    async with SimServer(FAST, faults=Faults(cut_rate=1.0)) as server, OpenAIBackend(config(server)) as backend:
        with pytest.raises(ServerError, match=r"ended before the request finished \(\d+ tokens received\)") as caught:
            await complete(backend, request())
    assert is_retryable(caught.value)


@pytest.mark.timeout(20)
async def test_chat_with_a_reasoning_parser_keeps_the_think_block() -> None:
    async with SimServer(FAST, reasoning_parser=True) as server, OpenAIBackend(config(server, api="chat")) as backend:
        chunks, final = await collect(backend, request(seed=2))
    assert final.text.startswith("<think>") and "</think>" in final.text and "\\boxed{" in final.text
    assert "".join(c.text for c in chunks) == final.text
    assert 0 < final.usage.reasoning_tokens < final.usage.completion_tokens


@pytest.mark.timeout(20)
async def test_sample_n_in_one_request(server: SimServer) -> None:
    async with OpenAIBackend(config(server)) as backend:
        samples = await backend.sample_n(QUESTION, SamplingParams(max_tokens=300), 3)
        assert backend.info().stats["requests"] == 1 and backend.info().stats["n_supported"] is True
    assert len(samples) == 3 and len({s.text for s in samples}) > 1
    assert all(s.finish_reason in (FinishReason.STOP, FinishReason.LENGTH) and s.text for s in samples)
    assert samples[0].usage.prompt_tokens > 10 and all(s.usage.prompt_tokens == 0 for s in samples[1:])
    assert all(s.usage.completion_tokens > 0 for s in samples)


@pytest.mark.timeout(20)
async def test_sample_n_falls_back_to_separate_requests_when_n_is_refused(
    server: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with OpenAIBackend(config(server)) as backend:
        original = backend._create

        async def refuse_n(prompt: str, params: SamplingParams, n: int) -> Any:
            if n > 1:
                raise ServerError("x", status=400, detail="Unsupported value: 'n' does not support 3 with this model.")
            return await original(prompt, params, n)

        monkeypatch.setattr(backend, "_create", refuse_n)
        samples = await backend.sample_n(QUESTION, SamplingParams(max_tokens=300, seed=4), 3)
        assert len(samples) == 3 and len({s.text for s in samples}) > 1
        assert backend.info().stats["n_supported"] is False and backend.info().stats["requests"] == 4
        again = await backend.sample_n(QUESTION, SamplingParams(max_tokens=50), 2)
        assert len(again) == 2 and backend.info().stats["requests"] == 6


@pytest.mark.timeout(60)
async def test_orchestrator_end_to_end(server: SimServer) -> None:
    async with OpenAIBackend(config(server)) as backend:
        result = await Orchestrator(backend, Strategy(threads=4, max_tokens=400)).run(QUESTION)
    assert result.answer is not None and len(result.threads) == 4
    assert result.usage.cached_tokens > 0 and result.backend.kind == "openai"
