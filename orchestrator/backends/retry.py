"""A wrapper that sends a request again when it failed before producing anything.

Connection errors and errors the backend marks `retryable` (429 and 5xx) are retried with
exponential backoff and full jitter (tenacity); a 400 never is. Once a stream has produced output a
failure is final: the text already delivered cannot be taken back, so the caller sees the error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from orchestrator.backends._http import is_retryable
from orchestrator.backends._wrapper import BackendWrapper
from orchestrator.backends.base import Backend, CompletionRequest, StreamEvent, close_stream


class Retrying(BackendWrapper):
    def __init__(self, inner: Backend, attempts: int = 3, backoff_s: float = 0.5, backoff_max_s: float = 30.0) -> None:
        super().__init__(inner)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.retries = 0

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        events, first = await self._open(request)
        try:
            yield first
            async for event in events:
                yield event
        finally:
            await close_stream(events)

    async def _open(self, request: CompletionRequest) -> tuple[AsyncIterator[StreamEvent], StreamEvent]:
        """Start the request and wait for its first event, retrying failures before it."""
        async for attempt in self._policy():
            with attempt:
                events = self.inner.stream(request)
                return events, await anext(events)  # type: ignore[arg-type]
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    def _policy(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.backoff_s, max=self.backoff_max_s),
            retry=retry_if_exception(is_retryable),
            before_sleep=self._count,
            reraise=True,
        )

    def _count(self, state: RetryCallState) -> None:
        self.retries += 1

    def stats(self) -> dict[str, Any]:
        return {"retries": self.retries}
