"""A wrapper that counts the tokens a backend generates and calls back once a limit is passed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from orchestrator.backends._wrapper import BackendWrapper
from orchestrator.backends.base import Backend, CompletionRequest, StreamEvent, TextChunk


class TokenMeter(BackendWrapper):
    """Counts streamed tokens; `on_limit` is called once, when the count first exceeds `limit`."""

    def __init__(self, inner: Backend, limit: int | None = None, on_limit: Callable[[int], None] | None = None) -> None:
        super().__init__(inner)
        self.limit, self.on_limit = limit, on_limit
        self.tokens = 0
        self._called = False

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        async with aclosing(self.inner.stream(request)) as events:
            async for event in events:
                if isinstance(event, TextChunk):
                    self._count(event.tokens)
                yield event

    def stats(self) -> dict[str, Any]:
        return {"metered_tokens": self.tokens}

    def _count(self, tokens: int) -> None:
        self.tokens += tokens
        if self.limit is not None and self.tokens > self.limit and not self._called:
            self._called = True
            if self.on_limit is not None:
                self.on_limit(self.tokens)
