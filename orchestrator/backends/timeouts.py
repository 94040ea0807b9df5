"""A wrapper that bounds time: each request (`request_timeout_s`) and the whole run (`run_timeout_s`).

A request that runs past its own limit is aborted and fails with a `BackendError`. When the run's
limit passes, every request in flight is aborted on the server and ends the normal way, with an
`abort` completion carrying its text so far, so the run stops cleanly with a partial result. A
server that ignores the abort gets `grace_s` more seconds before the stream is cut on our side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.backends._wrapper import BackendWrapper
from orchestrator.backends.base import (
    Backend,
    Completion,
    CompletionRequest,
    FinishReason,
    StreamEvent,
    TextChunk,
    Usage,
    close_stream,
)
from orchestrator.errors import BackendError


class Timeouts(BackendWrapper):
    def __init__(
        self,
        inner: Backend,
        request_timeout_s: float | None = None,
        run_timeout_s: float | None = None,
        grace_s: float = 1.0,
    ) -> None:
        super().__init__(inner)
        self.request_timeout_s = request_timeout_s
        self.run_timeout_s = run_timeout_s
        self.grace_s = grace_s
        self.run_deadline: float | None = None
        self.in_flight: set[str] = set()
        self.expired = False
        self.timed_out = 0

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        self._start_run_clock()
        if self.expired:
            yield Completion(request.request_id, "", FinishReason.ABORT, Usage())
            return
        self.in_flight.add(request.request_id)
        events = self.inner.stream(request)
        try:
            async for event in self._bounded(request, events):
                yield event
        finally:
            self.in_flight.discard(request.request_id)
            await close_stream(events)

    async def _bounded(
        self, request: CompletionRequest, events: AsyncIterator[StreamEvent]
    ) -> AsyncIterator[StreamEvent]:
        loop = asyncio.get_running_loop()
        request_deadline = loop.time() + self.request_timeout_s if self.request_timeout_s else None
        partial = _Partial()
        while True:
            try:
                async with asyncio.timeout_at(self._deadline(request_deadline)):
                    event = await anext(events)  # type: ignore[call-overload]
            except StopAsyncIteration:
                return
            except TimeoutError:
                yield await self._expire_request(request, request_deadline, partial)
                return
            partial.add(event)
            yield event

    def _deadline(self, request_deadline: float | None) -> float | None:
        run_cut = self.run_deadline + self.grace_s if self.run_deadline is not None else None
        deadlines = [d for d in (request_deadline, run_cut) if d is not None]
        return min(deadlines) if deadlines else None

    async def _expire_request(
        self, request: CompletionRequest, deadline: float | None, partial: _Partial
    ) -> Completion:
        await self.inner.abort(request.request_id)
        self.timed_out += 1
        if deadline is not None and asyncio.get_running_loop().time() >= deadline:
            raise BackendError(f"request {request.request_id} timed out after {self.request_timeout_s:g} s")
        return Completion(
            request.request_id, partial.text(), FinishReason.ABORT, Usage(completion_tokens=partial.tokens)
        )

    def _start_run_clock(self) -> None:
        if self.run_timeout_s is None or self.run_deadline is not None:
            return
        loop = asyncio.get_running_loop()
        self.run_deadline = loop.time() + self.run_timeout_s
        loop.call_at(self.run_deadline, lambda: loop.create_task(self._end_run()))

    async def _end_run(self) -> None:
        """The run's time is up: abort everything in flight; streams end with their `abort` completions."""
        self.expired = True
        await asyncio.gather(*(self.inner.abort(rid) for rid in list(self.in_flight)), return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        return {"timed_out_requests": self.timed_out, "run_timed_out": self.expired}


class _Partial:
    """What a stream delivered so far, for the completion of a stream cut on our side."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.tokens = 0

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextChunk):
            self.pieces.append(event.text)
            self.tokens += event.tokens

    def text(self) -> str:
        return "".join(self.pieces)
