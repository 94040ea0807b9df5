"""Helpers shared by tests.

`tests/_support` is on the path (`pythonpath` in pyproject.toml). It is a folder of its own because
`tests/` itself would shadow the real packages with its `judges/`, `orchestrator/` and `tools/` folders.
"""

from __future__ import annotations

import socket

from orchestrator.backends.base import Backend, Completion, CompletionRequest, TextChunk


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
