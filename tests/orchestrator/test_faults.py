"""Whole runs through `Orchestrator` over real HTTP on 127.0.0.1 against a `sim-server` that misbehaves.

Each run is a task as users write it: `backend:` (`kind: sglang` or `kind: openai`), `strategy:` and a
`limits:` section, built by `Orchestrator.from_spec`. The faults: 500 and 503 bursts, streams cut
mid-way, slow tokens (with and without time limits), ignored aborts, a server that restarts mid-run,
and a server still loading. What each test checks is what a user would notice: the run ends (inside
`asyncio.timeout`), every thread is in the result, a thread that finished is kept with its text and
answer (against what the HTTP client itself received, and against the server's own count), a thread
that failed says why in one line, and `result.backend.stats["retries"]` reports the retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import pytest

from orchestrator import Orchestrator, ThreadStatus
from orchestrator.backends._wrapper import BackendWrapper
from orchestrator.backends.base import Completion, CompletionRequest, FinishReason, StreamEvent
from orchestrator.backends.sim import SimConfig
from orchestrator.errors import RunError
from orchestrator.events import Event, StepStarted, ThreadFinished
from orchestrator.result import RunResult, ThreadReport
from orchestrator.simserver import Faults, SimServer
from orchestrator.spec import TaskSpec, parse_task

QUESTION = "How many positive divisors does 360 have?"
KINDS = ("sglang", "openai")
FAST = SimConfig(time_scale=0, trace_tokens=60, answers={"24": 0.9, "20": 0.1})
QUICK_RETRIES = {"retries": 6, "backoff_s": 0.01, "backoff_max_s": 0.05}
LIMIT_S = 20.0


def task(url: str, kind: str, *, threads: int = 8, stop: Any = None, **sections: Any) -> TaskSpec:
    """The task file a user would write for this server."""
    backend: dict[str, Any] = (
        {"kind": "sglang", "url": url}
        if kind == "sglang"
        else {"kind": "openai", "base_url": f"{url}/v1", "model": "sim-model"}
    )
    strategy: dict[str, Any] = {"threads": threads, "max_tokens": 4096, "seed": 0}
    if stop is not None:
        strategy["stop"] = stop
    return parse_task({"task": QUESTION, "backend": backend, "strategy": strategy, **sections})


class Delivered(BackendWrapper):
    """Innermost wrapper: the completions the HTTP client delivered, by request id (warm-ups left out).

    `finished` holds those that ended on the server's own word (stop or length) with their text.
    """

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.finished: dict[str, str] = {}

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        async with aclosing(self.inner.stream(request)) as events:
            async for event in events:
                if isinstance(event, Completion) and _finished_thread(request, event):
                    self.finished[request.request_id] = event.text
                yield event


def _finished_thread(request: CompletionRequest, completion: Completion) -> bool:
    return request.params.max_tokens > 0 and completion.finish_reason is not FinishReason.ABORT


def deliveries(orchestrator: Orchestrator) -> Delivered:
    """Put a `Delivered` recorder under the task's limits stack, right on the HTTP client."""
    holder: Any = orchestrator
    backend = orchestrator.backend
    while isinstance(backend, BackendWrapper):
        holder, backend = backend, backend.inner
    recorder = Delivered(backend)
    if holder is orchestrator:
        orchestrator.backend = recorder
    else:
        holder.inner = recorder
    return recorder


async def run(
    spec: TaskSpec, observer: Callable[[Event], None] | None = None, limit_s: float = LIMIT_S
) -> tuple[RunResult, Delivered]:
    async with asyncio.timeout(limit_s):
        async with Orchestrator.from_spec(spec, observer or (lambda event: None)) as orchestrator:
            delivered = deliveries(orchestrator)
            result = await orchestrator.run(spec)
    return result, delivered


def of(result: RunResult, *statuses: ThreadStatus) -> list[ThreadReport]:
    return [thread for thread in result.threads if thread.status in statuses]


def check_every_thread_reported(result: RunResult, delivered: Delivered, threads: int = 8) -> None:
    """Every thread once; every finished one kept, whole; every failed one with a one-line reason."""
    assert sorted(thread.index for thread in result.threads) == list(range(threads))
    finished = of(result, ThreadStatus.DONE, ThreadStatus.LENGTH)
    assert {thread.request_id: thread.text for thread in finished} == delivered.finished  # zero finished lost
    assert all(thread.answer and thread.text.rstrip().endswith("}.") for thread in of(result, ThreadStatus.DONE))
    assert sum(result.votes.values()) == len(finished)
    for thread in of(result, ThreadStatus.FAILED):
        assert thread.error and "\n" not in thread.error and len(thread.error) < 400, thread.error


def finished_on(server: SimServer, warmups: int = 1) -> int:
    """Requests the server itself finished (stop or length), less the prefix warm-ups."""
    return int(server.backend.stats()["finished"]) - warmups


# --- 500 and 503 bursts ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("faults", "status"), [
    (Faults(error_rate=0.15, burst=3, seed=0), 500),
    (Faults(unavailable_rate=0.15, burst=4, seed=0), 503),
])  # fmt: skip
async def test_error_bursts_are_retried_and_every_thread_finishes(kind: str, faults: Faults, status: int) -> None:
    async with SimServer(FAST, faults=faults) as server:
        result, delivered = await run(task(server.url, kind, limits=QUICK_RETRIES))
        injected = server.state.faults.injected
        assert len(of(result, ThreadStatus.DONE)) == 8 == finished_on(server)
    check_every_thread_reported(result, delivered)
    assert injected[status] == faults.burst  # requests 2.. of the run drew one whole burst
    assert result.backend.stats["retries"] == injected[status]  # each failed attempt was sent again
    assert result.answer == "24"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_burst_longer_than_the_retries_fails_threads_with_the_status_and_keeps_the_rest(kind: str) -> None:
    """Requests 1-10 are 503 (warm-up 0 passes); with one retry each, every thread whose two attempts
    both land in the burst fails: at least 2 of 8, and exactly 10 failed attempts in all."""
    faults = Faults(unavailable_rate=0.1, burst=10, seed=1)
    async with SimServer(FAST, faults=faults) as server:
        result, delivered = await run(task(server.url, kind, limits={"retries": 1, "backoff_s": 0.01}))
        done = finished_on(server)
    check_every_thread_reported(result, delivered)
    failed = of(result, ThreadStatus.FAILED)
    assert len(failed) >= 2 and len(of(result, ThreadStatus.DONE)) == 8 - len(failed) == done
    assert all("HTTP 503: Service unavailable" in (thread.error or "") for thread in failed)
    assert result.backend.stats["retries"] + len(failed) == 10
    assert result.answer == "24"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_server_that_never_recovers_ends_the_run_with_one_line(kind: str) -> None:
    async with SimServer(FAST, faults=Faults(unavailable_rate=1.0)) as server:
        spec = task(server.url, kind, limits={"retries": 2, "backoff_s": 0.01}, execution={"retry_delay_s": 0.01})
        with pytest.raises(RunError) as failure:
            await run(spec)
        assert server.state.faults.injected[503] >= 3
    message = str(failure.value)
    assert "\n" not in message and "HTTP 503" in message


# --- streams cut mid-way ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_cut_streams_fail_their_threads_with_the_reason_and_keep_every_finished_one(kind: str) -> None:
    async with SimServer(FAST, faults=Faults(cut_rate=0.3, seed=2)) as server:
        result, delivered = await run(task(server.url, kind, limits=QUICK_RETRIES))
    check_every_thread_reported(result, delivered)
    failed, done = of(result, ThreadStatus.FAILED), of(result, ThreadStatus.DONE)
    assert failed and done and len(failed) + len(done) == 8
    assert all("ended before the request finished" in (thread.error or "") for thread in failed)
    assert all(thread.tokens > 0 and thread.answer is None for thread in failed)  # the partial text is kept, not voted
    assert "retries" in result.backend.stats


# --- slow tokens -----------------------------------------------------------------------------------

SLOW = Faults(token_delay_s=0.01)  # the threads here have 68 to 131 tokens: 0.7 to 1.3 s


@pytest.mark.parametrize("kind", KINDS)
async def test_slow_tokens_without_a_limit_finish_every_thread(kind: str) -> None:
    async with SimServer(FAST, faults=SLOW) as server:
        result, delivered = await run(task(server.url, kind, threads=4))
        assert finished_on(server) == 4
    check_every_thread_reported(result, delivered, threads=4)
    assert len(of(result, ThreadStatus.DONE)) == 4
    assert result.wall_s >= 0.01 * max(thread.tokens for thread in result.threads)


@pytest.mark.parametrize("kind", KINDS)
async def test_slow_tokens_past_the_request_timeout_fail_those_threads_and_the_run_ends_in_time(kind: str) -> None:
    limit = 0.95
    async with SimServer(FAST, faults=SLOW) as server:
        started = time.monotonic()
        result, delivered = await run(task(server.url, kind, limits={"request_timeout_s": limit}))
        took = time.monotonic() - started
        assert server.backend.stats()["running"] == 0  # the timed-out requests were aborted on the server
    check_every_thread_reported(result, delivered)
    failed, done = of(result, ThreadStatus.FAILED), of(result, ThreadStatus.DONE)
    assert failed and done and len(failed) + len(done) == 8
    assert all(thread.error and thread.error.endswith(f"timed out after {limit:g} s") for thread in failed)
    assert all(0.01 * thread.tokens < limit for thread in failed + done)
    assert result.backend.stats["timed_out_requests"] == len(failed)
    assert took < limit + 1.5


@pytest.mark.parametrize("kind", KINDS)
async def test_slow_tokens_and_a_run_timeout_end_with_partial_threads(kind: str) -> None:
    async with SimServer(FAST, faults=SLOW) as server:
        started = time.monotonic()
        result, delivered = await run(task(server.url, kind, limits={"run_timeout_s": 0.4}))
        took = time.monotonic() - started
    check_every_thread_reported(result, delivered)
    aborted = of(result, ThreadStatus.ABORTED)
    assert len(aborted) == 8 and all(thread.tokens > 0 and thread.text for thread in aborted)
    assert result.backend.stats["run_timed_out"] is True and took < 2.0


async def test_slow_tokens_past_the_step_timeout_keep_the_threads_that_finished() -> None:
    finished: list[ThreadReport] = []

    def keep(event: Event) -> None:
        if isinstance(event, ThreadFinished) and event.report.status is ThreadStatus.DONE:
            finished.append(event.report)

    async with SimServer(FAST, faults=SLOW) as server:
        spec = task(server.url, "sglang", execution={"step_timeout_s": 0.95, "retries": 0})
        result, _ = await run(spec, keep)
    assert finished and {t.request_id for t in finished} <= {t.request_id for t in of(result, ThreadStatus.DONE)}


async def test_a_step_retried_after_its_timeout_keeps_what_had_finished_and_runs_only_the_rest() -> None:
    first_attempt: list[ThreadReport] = []
    attempts: list[int] = []

    def keep(event: Event) -> None:
        if isinstance(event, StepStarted):
            attempts.append(event.attempt)
        elif isinstance(event, ThreadFinished) and event.report.status is ThreadStatus.DONE and attempts == [1]:
            first_attempt.append(event.report)

    async with SimServer(FAST, faults=SLOW) as server:
        spec = task(server.url, "sglang", execution={"step_timeout_s": 0.95, "retries": 1, "retry_delay_s": 0.01})
        result, _ = await run(spec, keep)
        submitted = server.backend.stats()["submitted"]
    assert result.steps[0].attempts == 2 and first_attempt
    assert sorted(thread.index for thread in result.threads) == list(range(8))  # each thread once
    kept = {thread.request_id for thread in of(result, ThreadStatus.DONE)}
    assert {thread.request_id for thread in first_attempt} <= kept
    assert submitted == 2 + 8 + (8 - len(first_attempt))  # two warm-ups; the kept threads never ran again


# --- ignored aborts --------------------------------------------------------------------------------

SETTLE_AT_FIRST_ANSWER = {"rule": "adaptive", "threshold": 0.7, "window": 8}  # P(leader) = 0.75 after one answer


async def settled_run(kind: str) -> tuple[RunResult, Delivered, float]:
    """8 threads on a server that runs one request at a time (0.25-0.5 s each) and ignores aborts. The
    rule settles on the first answer and aborts the other 7: one running, six queued. Returns the
    result and the seconds from that first answer to the end of the run."""
    first: list[float] = []

    def note(event: Event) -> None:
        if isinstance(event, ThreadFinished) and not first:
            first.append(time.monotonic())

    config = SimConfig(time_scale=1.0, trace_tokens=60, max_running=1, answers={"24": 0.9, "20": 0.1})
    async with SimServer(config, faults=Faults(ignore_abort=True)) as server:
        result, delivered = await run(task(server.url, kind, stop=SETTLE_AT_FIRST_ANSWER), note)
        assert server.backend.stats()["running"] == 0
    return result, delivered, time.monotonic() - first[0]


@pytest.mark.parametrize("kind", KINDS)
async def test_ignored_aborts_the_run_still_ends_and_reports_every_thread(kind: str) -> None:
    result, delivered, _ = await settled_run(kind)
    check_every_thread_reported(result, delivered)
    assert result.settled_early and result.answer == "24"
    assert result.backend.stats["aborts_sent"] >= 1


@pytest.mark.parametrize("kind", KINDS)
async def test_ignored_aborts_do_not_hold_the_run(kind: str) -> None:
    result, _, after_settling = await settled_run(kind)
    assert len(of(result, ThreadStatus.ABORTED)) == 7, [(t.status, t.tokens, t.error) for t in result.threads]
    assert after_settling < 1.5, after_settling  # unheeded, the seven stopped requests run about 2 s more


# --- a server that restarts mid-run ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_restart_mid_run_keeps_finished_threads_and_retries_the_waiting_ones(kind: str) -> None:
    """Two requests run at a time (`max_running`), 0.25-0.5 s each. Once two threads have finished the
    server crashes and is back 0.2 s later: a thread streaming then is cut (it fails, with its partial
    text); those whose requests had no output yet are retried (refused while the server is down) and
    finish on the new server."""
    config = SimConfig(time_scale=1.0, trace_tokens=60, max_running=2, answers={"24": 0.9, "20": 0.1})
    before: list[ThreadReport] = []
    two_done = asyncio.Event()

    def watch(event: Event) -> None:
        if isinstance(event, ThreadFinished) and not two_done.is_set():
            before.append(event.report)
            if len(before) == 2:
                two_done.set()

    async with SimServer(config) as server:
        url, old = server.url, server.backend

        async def crash() -> None:
            await two_done.wait()
            await server.restart(down_s=0.2)

        crashing = asyncio.create_task(crash())
        spec = task(server.url, kind, limits={"retries": 8, "backoff_s": 0.05, "backoff_max_s": 0.2})
        result, delivered = await run(spec, watch)
        await crashing
        assert server.url == url and server.restarts == 1
        finished_before, finished_after = int(old.stats()["finished"]) - 1, finished_on(server, warmups=0)
    check_every_thread_reported(result, delivered)
    kept = {thread.request_id: thread for thread in result.threads}
    assert all(kept[thread.request_id] == thread for thread in before)  # finished before the crash: unchanged
    done, failed = of(result, ThreadStatus.DONE), of(result, ThreadStatus.FAILED)
    assert len(done) == finished_before + finished_after and len(done) + len(failed) == 8, [
        (t.index, t.status.value, t.tokens, t.error) for t in result.threads
    ]
    assert failed and finished_after >= 1 and result.backend.stats["retries"] >= 1
    assert all(thread.error and "ended before the request finished" in thread.error for thread in failed)
    assert result.answer == "24"


# --- a server still loading ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_loading_server_is_waited_for_with_retries(kind: str) -> None:
    async with SimServer(FAST, faults=Faults(loading_s=0.4)) as server:
        spec = task(server.url, kind, limits={"retries": 8, "backoff_s": 0.05, "backoff_max_s": 0.2})
        result, delivered = await run(spec)
        assert finished_on(server) == 8
    check_every_thread_reported(result, delivered)
    assert len(of(result, ThreadStatus.DONE)) == 8 and result.answer == "24"
    assert result.backend.stats["retries"] >= 1 and result.wall_s >= 0.4


@pytest.mark.parametrize("kind", KINDS)
async def test_a_server_loading_for_longer_than_the_retries_ends_the_run_with_one_line(kind: str) -> None:
    async with SimServer(FAST, faults=Faults(loading_s=60)) as server:
        spec = task(server.url, kind, limits={"retries": 1, "backoff_s": 0.01}, execution={"retries": 0})
        with pytest.raises(RunError) as failure:
            await run(spec)
    message = str(failure.value)
    assert "\n" not in message and "HTTP 503" in message and "loading" in message
