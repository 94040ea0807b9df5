"""Limits, retries and timeouts wrapped around a backend, as a user configures them under `limits:`."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator.backends import Completion, CompletionRequest, FinishReason, SamplingParams, SimBackend, SimConfig
from orchestrator.backends.base import BackendInfo, StreamEvent, complete
from orchestrator.backends.limits import ConcurrencyLimit, RateLimit
from orchestrator.backends.retry import Retrying
from orchestrator.backends.stack import Limits, with_limits
from orchestrator.backends.timeouts import Timeouts
from orchestrator.errors import BackendError, BackendUnavailable

PROMPT = "Think step by step and put the answer in \\boxed{}. What is 6 times 7?"


def sim(time_scale: float = 0.0) -> SimBackend:
    return SimBackend(SimConfig(time_scale=time_scale, trace_tokens=200))


def request(max_tokens: int = 4096) -> CompletionRequest:
    return CompletionRequest(PROMPT, SamplingParams(max_tokens=max_tokens))


class Flaky:
    """Fails the first `failures` attempts of every request with `error`, before or after some output."""

    def __init__(self, inner: SimBackend, failures: int, error: BackendError, after_output: bool = False) -> None:
        self.inner, self.failures, self.error, self.after_output = inner, failures, error, after_output
        self.attempts: dict[str, int] = {}

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        attempt = self.attempts[request.request_id] = self.attempts.get(request.request_id, 0) + 1
        if attempt <= self.failures and not self.after_output:
            raise self.error
        async for event in self.inner.stream(request):
            yield event
            if attempt <= self.failures:
                raise self.error

    async def abort(self, request_id: str) -> None:
        await self.inner.abort(request_id)

    async def close(self) -> None:
        await self.inner.close()

    def info(self) -> BackendInfo:
        return self.inner.info()


async def test_retries_a_retryable_failure_before_output() -> None:
    flaky = Flaky(sim(), failures=2, error=BackendError("HTTP 503", status=503, retryable=True))
    backend = Retrying(flaky, attempts=3, backoff_s=0.001)  # type: ignore[arg-type]
    final = await complete(backend, request())
    assert final.finish_reason is FinishReason.STOP
    assert backend.retries == 2 and backend.info().stats["retries"] == 2


async def test_connection_errors_are_retried_until_attempts_run_out() -> None:
    flaky = Flaky(sim(), failures=5, error=BackendUnavailable("cannot reach the server"))
    backend = Retrying(flaky, attempts=3, backoff_s=0.001)  # type: ignore[arg-type]
    with pytest.raises(BackendUnavailable, match="cannot reach"):
        await complete(backend, request())
    assert backend.retries == 2


async def test_a_400_is_never_retried() -> None:
    flaky = Flaky(sim(), failures=1, error=BackendError("HTTP 400: bad sampling_params", status=400))
    backend = Retrying(flaky, attempts=5, backoff_s=0.001)  # type: ignore[arg-type]
    with pytest.raises(BackendError, match="400"):
        await complete(backend, request())
    assert backend.retries == 0


async def test_a_failure_after_output_is_final() -> None:
    error = BackendError("stream cut", retryable=True)
    backend = Retrying(Flaky(sim(), failures=1, error=error, after_output=True), attempts=3, backoff_s=0.001)  # type: ignore[arg-type]
    with pytest.raises(BackendError, match="stream cut"):
        await complete(backend, request())
    assert backend.retries == 0


async def test_concurrency_limit_bounds_requests_in_flight() -> None:
    inner = sim()
    backend = ConcurrencyLimit(inner, limit=3)
    peak = 0

    async def run_one() -> Completion:
        nonlocal peak
        async for event in backend.stream(request()):
            peak = max(peak, inner.stats()["running"] + inner.stats()["waiting"])
            if isinstance(event, Completion):
                return event
        raise AssertionError

    finals = await asyncio.gather(*(run_one() for _ in range(10)))
    assert all(final.finish_reason is FinishReason.STOP for final in finals)
    assert peak <= 3 and inner.stats()["peak_running"] <= 3
    assert backend.info().stats["held_back_by_concurrency"] >= 7


async def test_a_request_aborted_while_held_back_is_never_sent() -> None:
    inner = sim(time_scale=1.0)
    backend = ConcurrencyLimit(inner, limit=1)
    first, second = request(), request()
    running = asyncio.create_task(complete(backend, first))
    waiting = asyncio.create_task(complete(backend, second))
    await asyncio.sleep(0.05)
    await backend.abort(second.request_id)
    assert (await waiting).finish_reason is FinishReason.ABORT
    await backend.abort(first.request_id)
    assert (await running).finish_reason is FinishReason.ABORT
    assert inner.stats()["submitted"] == 1


async def test_rate_limit_spaces_request_starts() -> None:
    backend = RateLimit(sim(), per_second=20)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(complete(backend, request(max_tokens=1)) for _ in range(30)))
    assert loop.time() - started >= 0.4  # 20 pass at once, the other 10 at 20 per second
    assert backend.info().stats["held_back_by_rate"] >= 5


async def test_request_timeout_aborts_and_fails_the_request() -> None:
    inner = sim(time_scale=1.0)
    backend = Timeouts(inner, request_timeout_s=0.2)
    with pytest.raises(BackendError, match="timed out after 0.2 s"):
        await complete(backend, request())
    await asyncio.sleep(0.01)
    assert inner.stats()["aborted"] == 1 and inner.stats()["running"] == 0


async def test_run_timeout_ends_every_stream_with_its_partial_text() -> None:
    inner = sim(time_scale=1.0)
    backend = Timeouts(inner, run_timeout_s=0.3)
    finals = await asyncio.gather(*(complete(backend, request()) for _ in range(4)))
    assert all(final.finish_reason is FinishReason.ABORT for final in finals)
    assert all(final.usage.completion_tokens > 0 and final.text for final in finals)
    assert (await complete(backend, request())).finish_reason is FinishReason.ABORT  # nothing new starts
    assert backend.info().stats["run_timed_out"] is True


def test_limits_build_the_documented_stack() -> None:
    inner = sim()
    stacked = with_limits(inner, Limits(concurrency=4, requests_per_second=10, retries=1, run_timeout_s=5))
    layers = []
    while stacked is not inner:
        layers.append(type(stacked).__name__)
        stacked = stacked.inner  # type: ignore[attr-defined]
    assert layers == ["Timeouts", "Retrying", "RateLimit", "ConcurrencyLimit"]
    assert with_limits(inner, Limits(retries=0)) is inner
