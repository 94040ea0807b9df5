"""The Python API: `await Orchestrator(backend, strategy).run(task)` on the embedded simulator."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator import (
    BackendError,
    CompletionRequest,
    Event,
    Orchestrator,
    PrefixWarmed,
    RunError,
    SimBackend,
    SimConfig,
    StepFinished,
    StepStarted,
    Strategy,
    StreamEvent,
    ThreadFinished,
    ThreadStarted,
    ThreadStatus,
    parse_task,
    run_task,
)

QUESTION = "How many positive divisors does 360 have?"


def sim(**overrides: object) -> SimBackend:
    return SimBackend(SimConfig(time_scale=0, **overrides))  # type: ignore[arg-type]


async def run(backend: SimBackend, **strategy: object) -> object:
    async with Orchestrator(backend, Strategy(**strategy)) as orchestrator:  # type: ignore[arg-type]
        return await orchestrator.run(QUESTION)


async def test_majority_answer_wins_and_votes_are_kept() -> None:
    result = await run(sim(answers={"24": 0.7, "20": 0.3}), threads=16, max_tokens=8192, seed=1)
    answered = [thread.answer for thread in result.threads if thread.answer]
    assert result.answer == "24"
    assert sum(result.votes.values()) == len(answered) == 16
    assert result.votes["24"] == max(result.votes.values()) == answered.count("24")
    assert result.support == pytest.approx(answered.count("24") / 16, abs=1e-3)


async def test_threads_after_the_warm_up_find_the_shared_prefix_cached() -> None:
    result = await run(sim(), threads=8, max_tokens=256)
    prompt_tokens = result.threads[0].prompt_tokens
    assert prompt_tokens > 20
    assert all(thread.prompt_tokens == prompt_tokens for thread in result.threads)
    assert all(thread.cached_tokens >= prompt_tokens - 1 for thread in result.threads)
    assert result.usage.cached_tokens >= 8 * (prompt_tokens - 1)


async def test_usage_counts_every_request_and_token() -> None:
    result = await run(sim(), threads=5, max_tokens=300)
    assert result.usage.requests == 6  # the warm-up and five threads
    assert result.usage.completion_tokens == sum(thread.tokens for thread in result.threads)
    assert result.usage.prompt_tokens == 6 * result.threads[0].prompt_tokens
    assert result.critical_path_tokens == max(thread.tokens for thread in result.threads)
    assert result.backend.simulated and result.backend.kind == "sim"
    assert result.backend.stats["gpu_s"] > 0


async def test_same_seed_gives_the_same_run() -> None:
    first, second = [await run(sim(seed=7), threads=6, max_tokens=512) for _ in range(2)]
    assert [t.text for t in first.threads] == [t.text for t in second.threads]
    assert first.votes == second.votes


async def test_threads_cut_by_max_tokens_are_reported_as_length() -> None:
    result = await run(sim(), threads=4, max_tokens=12)
    assert {thread.status for thread in result.threads} == {ThreadStatus.LENGTH}
    assert all(thread.tokens == 12 for thread in result.threads)
    assert result.answer is None and result.votes == {}


class FailEvery:
    """A wrapper backend whose every `period`-th thread fails mid-stream (the warm-up is request 0)."""

    def __init__(self, inner: SimBackend, period: int) -> None:
        self.inner, self.period, self.count = inner, period, 0

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        self.count += 1
        fail = request.params.max_tokens > 0 and self.count % self.period == 0
        async for event in self.inner.stream(request):
            if fail:
                await self.inner.abort(request.request_id)
                raise BackendError("connection reset by peer")
            yield event

    async def abort(self, request_id: str) -> None:
        await self.inner.abort(request_id)

    async def close(self) -> None:
        await self.inner.close()

    def info(self):  # type: ignore[no-untyped-def]
        return self.inner.info()


async def test_a_failing_thread_is_a_result_not_a_crash() -> None:
    result = await run(FailEvery(sim(), period=2), threads=4, max_tokens=2048)  # type: ignore[arg-type]
    failed = [thread for thread in result.threads if thread.status is ThreadStatus.FAILED]
    assert len(failed) == 2
    assert all(thread.error == "connection reset by peer" for thread in failed)
    assert result.answer is not None


async def test_a_run_where_every_thread_fails_raises_one_clear_error() -> None:
    with pytest.raises(RunError, match="all 3 threads failed; first error: connection reset by peer"):
        await run(FailEvery(sim(), period=1), threads=3)  # type: ignore[arg-type]


async def test_cancelling_a_run_aborts_its_requests_on_the_server() -> None:
    backend = SimBackend(SimConfig(time_scale=1.0))
    task = asyncio.create_task(run(backend, threads=6, max_tokens=4096))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    stats = backend.stats()
    assert stats["aborted"] == 6
    assert stats["running"] == 0


async def test_observer_sees_the_run_unfold() -> None:
    events: list[Event] = []
    async with Orchestrator(sim(), Strategy(threads=3, max_tokens=200), observer=events.append) as orchestrator:
        await orchestrator.run(QUESTION)
    assert isinstance(events[0], StepStarted) and isinstance(events[-1], StepFinished)
    assert isinstance(events[1], PrefixWarmed)
    assert sum(isinstance(event, ThreadStarted) for event in events) == 3
    assert sum(isinstance(event, ThreadFinished) for event in events) == 3


async def test_run_task_uses_the_task_files_backend_and_strategy() -> None:
    spec = parse_task({"task": QUESTION, "backend": {"time_scale": 0, "answers": {"7": 1}}, "strategy": {"threads": 3}})
    result = await run_task(spec)
    assert result.answer == "7" and len(result.threads) == 3
