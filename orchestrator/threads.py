"""Fan-out of one reasoning step into N threads on one shared prompt prefix.

The prefix is warmed first with a request that generates nothing, so that a RadixAttention server
computes it once and every thread after it finds it cached (SGLang's own `n > 1` path does the same).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from orchestrator.aggregate import extract_answer
from orchestrator.backends.base import (
    Backend,
    Completion,
    CompletionRequest,
    FinishReason,
    SamplingParams,
    StreamEvent,
    Usage,
    complete,
)
from orchestrator.errors import BackendError
from orchestrator.events import Observer, PrefixWarmed, ThreadFinished, ThreadProgress, ThreadStarted
from orchestrator.result import ThreadReport, ThreadStatus, UsageReport
from orchestrator.spec import Strategy

_STATUS = {
    FinishReason.STOP: ThreadStatus.DONE,
    FinishReason.LENGTH: ThreadStatus.LENGTH,
    FinishReason.ABORT: ThreadStatus.ABORTED,
}


async def warm_prefix(backend: Backend, prompt: str) -> Completion:
    """Prefill `prompt` into the server's prefix cache without generating."""
    return await complete(backend, CompletionRequest(prompt, SamplingParams(max_tokens=0)))


def thread_params(strategy: Strategy, index: int) -> SamplingParams:
    seed = None if strategy.seed is None else strategy.seed + index
    return SamplingParams(strategy.max_tokens, strategy.temperature, strategy.top_p, seed=seed)


async def fan_out(
    backend: Backend, prompt: str, strategy: Strategy, usage: UsageReport, observer: Observer
) -> list[ThreadReport]:
    """Warm the shared prefix, then run `strategy.threads` threads on it concurrently."""
    warmed = await warm_prefix(backend, prompt)
    usage.add(warmed.usage)
    observer(PrefixWarmed(warmed.usage.prompt_tokens, warmed.usage.cached_tokens))
    requests = [CompletionRequest(prompt, thread_params(strategy, i)) for i in range(strategy.threads)]
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(run_thread(backend, i, r, observer)) for i, r in enumerate(requests)]
    reports = [task.result() for task in tasks]
    for report in reports:
        usage.add(_usage_of(report))
    return reports


async def run_thread(backend: Backend, index: int, request: CompletionRequest, observer: Observer) -> ThreadReport:
    """Stream one thread to its end; a backend failure becomes a FAILED report, not an exception."""
    thread = _Thread(index, request)
    observer(ThreadStarted(index))
    try:
        async for event in backend.stream(request):
            thread.absorb(event, observer)
    except BackendError as error:
        thread.error = str(error)
    except asyncio.CancelledError:
        await _abort_quietly(backend, request.request_id)
        raise
    report = thread.report()
    observer(ThreadFinished(report))
    return report


@dataclass(slots=True)
class _Thread:
    index: int
    request: CompletionRequest
    pieces: list[str] = field(default_factory=list)
    tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    final: Completion | None = None
    error: str | None = None

    def absorb(self, event: StreamEvent, observer: Observer) -> None:
        if isinstance(event, Completion):
            self.final = event
            return
        self.pieces.append(event.text)
        self.tokens += event.tokens
        observer(ThreadProgress(self.index, self.tokens))

    def report(self) -> ThreadReport:
        final = self.final
        text = final.text if final else "".join(self.pieces)
        usage = final.usage if final else Usage(completion_tokens=self.tokens)
        status = _STATUS[final.finish_reason] if final and not self.error else ThreadStatus.FAILED
        return ThreadReport(
            index=self.index,
            request_id=self.request.request_id,
            status=status,
            answer=extract_answer(text) if status in (ThreadStatus.DONE, ThreadStatus.LENGTH) else None,
            tokens=usage.completion_tokens,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            wall_s=round(time.perf_counter() - self.started, 6),
            text=text,
            error=self.error or (None if final else "the stream ended without a final record"),
        )


def _usage_of(report: ThreadReport) -> Usage:
    return Usage(report.prompt_tokens, report.tokens, report.cached_tokens, report.reasoning_tokens)


async def _abort_quietly(backend: Backend, request_id: str) -> None:
    try:
        await backend.abort(request_id)
    except BackendError:
        pass
