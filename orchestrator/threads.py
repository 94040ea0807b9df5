"""One thread of a reasoning step: the requests it makes, a reviewer that may stop it, its report.

A `Lane` is one thread: a single request when sampling, several when a protocol (ThreadWeaver,
Skeleton-of-Thought, Hogwild) forks and joins inside it. Every request of a lane is streamed through
`Lane.generate`, so the reviewer (pruning, DeepConf) sees the thread's whole trace as it grows, and
stopping the lane aborts every request it still has running on the backend.

`warm_prefix` prefills the shared prompt with a request that generates nothing, so that a
RadixAttention server computes it once and every thread after it finds it cached (SGLang's own
`n > 1` path does the same).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.aggregate import extract_answer
from orchestrator.backends.base import (
    Backend,
    Completion,
    CompletionRequest,
    FinishReason,
    SamplingParams,
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
_NO_FINAL = "the stream ended without a final record"


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


@dataclass(frozen=True, slots=True)
class Output:
    """What one request produced; `finish` None means it failed (`error` says why)."""

    text: str
    finish: FinishReason | None
    usage: Usage
    matched_stop: str | None = None
    error: str | None = None

    @property
    def tokens(self) -> int:
        return self.usage.completion_tokens


@dataclass(frozen=True, slots=True)
class Trace:
    """A whole thread: its text, how it ended (`finish` None: failed), and what its protocol did.

    `rounds` counts the protocol's fork/join (or sync) rounds; `critical_tokens` the generated tokens
    on its longest chain of requests (its token latency); `notes` what it had to repair.
    """

    text: str
    finish: FinishReason | None
    critical_tokens: int
    rounds: int = 1
    error: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(eq=False, slots=True)
class Lane:
    """One thread of a step and every request it makes; stopping it aborts them all."""

    backend: Backend
    index: int
    observer: Observer
    review: Review = _keep
    live: set[str] = field(default_factory=set)
    usage: Usage = field(default_factory=Usage)
    tokens: int = 0
    requests: int = 0
    first_id: str | None = None
    streamed: str = ""
    pruned: bool = False
    aborted: bool = False
    started: float = field(default_factory=time.perf_counter)

    @property
    def stopped(self) -> bool:
        return self.pruned or self.aborted

    async def generate(
        self, request: CompletionRequest, shown: str = "", on_text: Callable[[str], None] | None = None
    ) -> Output:
        """Stream `request`; the reviewer sees `shown` (the thread's trace before it) plus its text."""
        if self.stopped:
            return Output("", FinishReason.ABORT, Usage())
        self._open(request.request_id)
        text, tokens = "", 0
        try:
            async for event in self.backend.stream(request):
                if isinstance(event, Completion):
                    return self._close(request.request_id, _output(event))
                text, tokens = text + event.text, tokens + event.tokens
                self.streamed += event.text
                await self._absorb(event, shown + text if shown else text)
                if on_text is not None:
                    on_text(text)
        except BackendError as error:
            return self._close(
                request.request_id, Output(text, None, Usage(completion_tokens=tokens), error=str(error))
            )
        except asyncio.CancelledError:
            await abort_quietly(self.backend, request.request_id)
            self.live.discard(request.request_id)
            raise
        return self._close(request.request_id, Output(text, None, Usage(completion_tokens=tokens), error=_NO_FINAL))

    async def stop(self, *, prune: bool = False) -> None:
        """Abort every running request of this thread and start no new one."""
        self.pruned = self.pruned or prune
        self.aborted = self.aborted or not prune
        for request_id in list(self.live):
            await abort_quietly(self.backend, request_id)

    def report(self, trace: Trace, pattern: re.Pattern[str] | None = None) -> ThreadReport:
        status = self._status(trace)
        usage = self.usage
        return ThreadReport(
            index=self.index,
            request_id=self.first_id or "",
            status=status,
            answer=extract_answer(trace.text, pattern) if status in ANSWERED else None,
            tokens=usage.completion_tokens,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            wall_s=round(time.perf_counter() - self.started, 6),
            text=trace.text,
            error=trace.error,
            requests=self.requests,
            rounds=trace.rounds,
            critical_tokens=trace.critical_tokens,
            notes=list(trace.notes),
        )

    def interrupted(self) -> ThreadReport:
        """The report of a thread cut off by the run stopping: ABORTED, with what it had streamed and spent."""
        trace = Trace(self.streamed, FinishReason.ABORT, self.tokens, notes=("stopped with the run",))
        report = self.report(trace)
        return report.model_copy(update={"tokens": max(report.tokens, self.tokens), "status": ThreadStatus.ABORTED})

    def _open(self, request_id: str) -> None:
        self.live.add(request_id)
        self.requests += 1
        self.first_id = self.first_id or request_id

    def _close(self, request_id: str, output: Output) -> Output:
        self.live.discard(request_id)
        self.usage += output.usage
        return output

    async def _absorb(self, chunk: TextChunk, text: str) -> None:
        self.tokens += chunk.tokens
        self.observer(ThreadProgress(self.index, self.tokens))
        if not self.pruned and await self.review(self.index, text, chunk):
            await self.stop(prune=True)

    def _status(self, trace: Trace) -> ThreadStatus:
        if trace.finish is None:
            return ThreadStatus.FAILED
        if trace.finish is FinishReason.ABORT and self.pruned:
            return ThreadStatus.PRUNED
        return _STATUS[trace.finish]


def _output(completion: Completion) -> Output:
    return Output(completion.text, completion.finish_reason, completion.usage, completion.matched_stop)


class ThreadProtocol(Protocol):
    """How one thread of a step reasons: one request (`sample`) or a spawn/join protocol."""

    name: str

    def prefix(self, prompt: str) -> str:
        """The text every request of the step starts with (warmed once, shared byte for byte)."""
        ...

    async def run(self, lane: Lane, prompt: str, params: SamplingParams) -> Trace:
        """Reason on `prompt` (this protocol's prefix) through `lane`; never raises for a backend failure."""
        ...


class Sampling:
    """The plain thread: one request, generated to its end."""

    name = "sample"

    def prefix(self, prompt: str) -> str:
        return prompt

    async def run(self, lane: Lane, prompt: str, params: SamplingParams) -> Trace:
        output = await lane.generate(CompletionRequest(prompt, params))
        return Trace(output.text, output.finish, output.tokens, error=output.error)


async def run_thread(
    protocol: ThreadProtocol,
    lane: Lane,
    prompt: str,
    params: SamplingParams,
    pattern: re.Pattern[str] | None = None,
) -> ThreadReport:
    """Run one thread to its end; a backend failure becomes a FAILED report, not an exception."""
    lane.observer(ThreadStarted(lane.index))
    report = lane.report(await protocol.run(lane, prompt, params), pattern)
    lane.observer(ThreadFinished(report))
    return report


def usage_of(report: ThreadReport) -> Usage:
    return Usage(report.prompt_tokens, report.tokens, report.cached_tokens, report.reasoning_tokens)


async def abort_quietly(backend: Backend, request_id: str) -> None:
    try:
        await backend.abort(request_id)
    except BackendError:
        pass
