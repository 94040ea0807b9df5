"""The base of backend wrappers: a Backend around another that delegates all it does not change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from orchestrator.backends.base import Backend, BackendInfo, CompletionRequest, StreamEvent


class BackendWrapper:
    """Wraps `inner`; subclasses override `stream` (and `stats` to add their counters to `info`)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        return self.inner.stream(request)

    async def abort(self, request_id: str) -> None:
        await self.inner.abort(request_id)

    async def close(self) -> None:
        await self.inner.close()

    def info(self) -> BackendInfo:
        info = self.inner.info()
        return replace(info, stats={**info.stats, **self.stats()})

    def stats(self) -> dict[str, Any]:
        return {}
