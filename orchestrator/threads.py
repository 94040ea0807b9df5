"""One thread of a reasoning step: stream it, let a reviewer stop it, report it.

`warm_prefix` prefills the shared prompt with a request that generates nothing, so that a
RadixAttention server computes it once and every thread after it finds it cached (SGLang's own
`n > 1` path does the same).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.aggregate import extract_answer
from orchestrator.backends.base import (
    Backend,
    Completion,
    CompletionRequest,
    FinishReason,
    SamplingParams,
    StreamEvent,
    TextChunk,
    Usage,
    complete,
)
from orchestrator.errors import BackendError
from orchestrator.events import Observer, ThreadFinished, ThreadProgress, ThreadStarted
from orchestrator.result import ANSWERED, ThreadReport, ThreadStatus
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
    top = strategy.stop.top_logprobs if strategy.stop.rule == "deepconf" else 0
    return SamplingParams(strategy.max_tokens, strategy.temperature, strategy.top_p, seed=seed, top_logprobs=top)


class Review(Protocol):
    async def __call__(self, index: int, text: str, chunk: TextChunk) -> bool:
        """After each chunk: True to abort the thread now (it is then reported PRUNED)."""
        ...


async def _keep(index: int, text: str, chunk: TextChunk) -> bool:
    return False


async def run_thread(
    backend: Backend,
    index: int,
    request: CompletionRequest,
    observer: Observer,
    review: Review = _keep,
    pattern: re.Pattern[str] | None = None,
) -> ThreadReport:
    """Stream one thread to its end; a backend failure becomes a FAILED report, not an exception."""
    thread = _Thread(index, request, pattern)
    observer(ThreadStarted(index))
    try:
        async for event in backend.stream(request):
            thread.absorb(event, observer)
            if isinstance(event, TextChunk) and not thread.pruned and await review(index, thread.text, event):
                thread.pruned = True
                await abort_quietly(backend, request.request_id)
    except BackendError as error:
        thread.error = str(error)
    except asyncio.CancelledError:
        await abort_quietly(backend, request.request_id)
        raise
    report = thread.report()
    observer(ThreadFinished(report))
    return report


@dataclass(slots=True)
class _Thread:
    index: int
    request: CompletionRequest
    pattern: re.Pattern[str] | None = None
    pieces: list[str] = field(default_factory=list)
    tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    final: Completion | None = None
    error: str | None = None
    pruned: bool = False

    @property
    def text(self) -> str:
        """The partial trace so far (joined once per call, kept joined)."""
        if len(self.pieces) > 1:
            self.pieces[:] = ["".join(self.pieces)]
        return self.pieces[0] if self.pieces else ""

    def absorb(self, event: StreamEvent, observer: Observer) -> None:
        if isinstance(event, Completion):
            self.final = event
            return
        self.pieces.append(event.text)
        self.tokens += event.tokens
        observer(ThreadProgress(self.index, self.tokens))

    def report(self) -> ThreadReport:
        final = self.final
        text = final.text if final else self.text
        usage = final.usage if final else Usage(completion_tokens=self.tokens)
        status = self._status()
        return ThreadReport(
            index=self.index,
            request_id=self.request.request_id,
            status=status,
            answer=extract_answer(text, self.pattern) if status in ANSWERED else None,
            tokens=usage.completion_tokens,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            wall_s=round(time.perf_counter() - self.started, 6),
            text=text,
            error=self.error or (None if final else "the stream ended without a final record"),
        )

    def _status(self) -> ThreadStatus:
        if self.final is None or self.error:
            return ThreadStatus.FAILED
        if self.pruned and self.final.finish_reason is FinishReason.ABORT:
            return ThreadStatus.PRUNED
        return _STATUS[self.final.finish_reason]


def usage_of(report: ThreadReport) -> Usage:
    return Usage(report.prompt_tokens, report.tokens, report.cached_tokens, report.reasoning_tokens)


async def abort_quietly(backend: Backend, request_id: str) -> None:
    try:
        await backend.abort(request_id)
    except BackendError:
        pass
