"""Wrappers that hold requests back: at most N in flight, at most R started per second.

A request aborted while it waits for its turn is never sent; its stream ends at once with an
`abort` completion, as it would on the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter

from orchestrator.backends._wrapper import BackendWrapper
from orchestrator.backends.base import Backend, Completion, CompletionRequest, FinishReason, StreamEvent, Usage


class _Gate(BackendWrapper):
    """A wrapper that makes each request pass `_acquire` before it reaches the inner backend."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self._waiting: dict[str, asyncio.Event] = {}
        self.held_back = 0

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        if not await self._wait_turn(request.request_id):
            yield Completion(request.request_id, "", FinishReason.ABORT, Usage())
            return
        try:
            async for event in self.inner.stream(request):
                yield event
        finally:
            self._release()

    async def abort(self, request_id: str) -> None:
        if request_id in self._waiting:
            self._waiting[request_id].set()
        else:
            await self.inner.abort(request_id)

    async def _wait_turn(self, request_id: str) -> bool:
        """Pass the gate; False when the request was aborted while it waited (the gate is not held then)."""
        if self._has_capacity():
            await self._acquire()
            return True
        self.held_back += 1
        aborted = self._waiting[request_id] = asyncio.Event()
        try:
            return await _first_of(self._acquire(), aborted.wait(), on_lost_win=self._release)
        finally:
            del self._waiting[request_id]

    def _has_capacity(self) -> bool: ...

    async def _acquire(self) -> None: ...

    def _release(self) -> None: ...


async def _first_of(
    turn: Coroutine[Any, Any, None], abort: Coroutine[Any, Any, Any], on_lost_win: Callable[[], None]
) -> bool:
    """True if `turn` finished first; if it also finished after `abort` won, give the turn back."""
    turn_task, abort_task = asyncio.ensure_future(turn), asyncio.ensure_future(abort)
    try:
        await asyncio.wait({turn_task, abort_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        abort_task.cancel()
        if not turn_task.done():
            turn_task.cancel()
        await asyncio.gather(turn_task, abort_task, return_exceptions=True)
    won = not turn_task.cancelled() and turn_task.exception() is None
    if won and abort_task.done() and not abort_task.cancelled():
        on_lost_win()
        return False
    return won


class ConcurrencyLimit(_Gate):
    """At most `limit` requests in flight on the inner backend at once."""

    def __init__(self, inner: Backend, limit: int) -> None:
        super().__init__(inner)
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)

    def _has_capacity(self) -> bool:
        return not self._slots.locked()

    async def _acquire(self) -> None:
        await self._slots.acquire()

    def _release(self) -> None:
        self._slots.release()

    def stats(self) -> dict[str, Any]:
        return {"concurrency_limit": self.limit, "held_back_by_concurrency": self.held_back}


class RateLimit(_Gate):
    """At most `per_second` requests started per second (a leaky bucket from aiolimiter)."""

    def __init__(self, inner: Backend, per_second: float) -> None:
        super().__init__(inner)
        self.per_second = per_second
        self._limiter = AsyncLimiter(max(per_second, 1.0), max(per_second, 1.0) / per_second)

    def _has_capacity(self) -> bool:
        return self._limiter.has_capacity()

    async def _acquire(self) -> None:
        await self._limiter.acquire()

    def _release(self) -> None:
        """A rate limit has nothing to give back."""

    def stats(self) -> dict[str, Any]:
        return {"rate_limit_per_s": self.per_second, "held_back_by_rate": self.held_back}
