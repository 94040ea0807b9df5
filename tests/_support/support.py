"""Helpers shared by tests.

`tests/_support` is on the path (`pythonpath` in pyproject.toml). It is a folder of its own because
`tests/` itself would shadow the real packages with its `judges/`, `orchestrator/` and `tools/` folders.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from orchestrator.backends.base import Backend, BackendInfo, Completion, CompletionRequest, StreamEvent, TextChunk
from orchestrator.backends.sim.script import ScriptOutput, ScriptRequest
from orchestrator.errors import BackendError


async def collect(backend: Backend, request: CompletionRequest) -> tuple[list[TextChunk], Completion]:
    """Every chunk of a stream and its completion, checking the completion comes once, last."""
    events = [event async for event in backend.stream(request)]
    final = events[-1]
    assert isinstance(final, Completion), "a stream ends with its completion"
    chunks = [event for event in events[:-1] if isinstance(event, TextChunk)]
    assert len(chunks) == len(events) - 1, "exactly one completion, last"
    return chunks, final


def free_port() -> int:
    """A loopback port nothing listens on (until someone binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Scripted:
    """A simulator script that answers every prompt with `respond(prompt)` (for scripted protocol runs)."""

    name = "scripted"

    def __init__(self, respond: Callable[[str], str]) -> None:
        self.respond = respond

    def matches(self, prompt: str) -> bool:
        return True

    def write(self, request: ScriptRequest) -> ScriptOutput:
        return ScriptOutput(self.respond(request.prompt))


@dataclass
class Exchange:
    prompt: str
    stop: tuple[str, ...]
    completion: Completion | None = None


class Recording:
    """A backend wrapper that keeps every request's prompt and completion; `fail(prompt)` True raises."""

    def __init__(self, backend: Backend, fail: Callable[[str], bool] = lambda prompt: False) -> None:
        self.backend, self.fail = backend, fail
        self.exchanges: list[Exchange] = []

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        exchange = Exchange(request.prompt, request.params.stop)
        self.exchanges.append(exchange)
        if self.fail(request.prompt):
            raise BackendError("injected failure")
        async for event in self.backend.stream(request):
            if isinstance(event, Completion):
                exchange.completion = event
            yield event

    async def abort(self, request_id: str) -> None:
        await self.backend.abort(request_id)

    async def close(self) -> None:
        await self.backend.close()

    def info(self) -> BackendInfo:
        return self.backend.info()
