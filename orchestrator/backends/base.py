"""The Backend protocol: stream a completion, abort it, close.

A backend's `stream()` yields zero or more `TextChunk`s (deltas, in order) and then exactly one
`Completion`, always last. An aborted request still ends with a `Completion` whose finish reason is
`ABORT` and whose text is what was generated before the abort. Failures raise `BackendError`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, Self, runtime_checkable

from orchestrator.errors import BackendError


def new_request_id() -> str:
    """A fixed-length unique id: SGLang matches abort rids by prefix, so lengths must not vary."""
    return uuid.uuid4().hex


MAX_SEED = 2**31 - 1
"""The largest sampling, simulator or replay-order seed a task file may give."""


class FinishReason(StrEnum):
    STOP = "stop"
    LENGTH = "length"
    ABORT = "abort"


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """`json_schema` (a JSON Schema as a JSON string) constrains the output where the server supports it."""

    max_tokens: int = 2048
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int = 0
    json_schema: str | None = None


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """`prompt_ids`, when given, are the prompt's exact tokens (SGLang's `input_ids`): the prefix cache
    then matches on them and no re-tokenisation can merge tokens across a prefix/suffix boundary."""

    prompt: str
    params: SamplingParams = SamplingParams()
    request_id: str = field(default_factory=new_request_id)
    prompt_ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True, slots=True)
class TextChunk:
    """Newly generated text; `logprobs` (and `token_ids`, where the server sends them) have one entry per token."""

    text: str
    tokens: int
    logprobs: tuple[float, ...] = ()
    top_logprobs: tuple[tuple[float, ...], ...] = ()
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Completion:
    """The final record of a request: the whole generated text, why it ended, what it used."""

    request_id: str
    text: str
    finish_reason: FinishReason
    usage: Usage
    matched_stop: str | None = None


StreamEvent = TextChunk | Completion


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """What a run reports about its backend; `simulated` marks every figure as a simulator's.

    `logprobs` is False for a backend that cannot return token log-probabilities (its chunks then carry
    none even when a request asks for them).
    """

    kind: str
    model: str
    simulated: bool
    stats: dict[str, Any] = field(default_factory=dict)
    logprobs: bool = True


@runtime_checkable
class Backend(Protocol):
    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Generate for `request`, yielding text chunks and then its `Completion`."""
        ...

    async def abort(self, request_id: str) -> None:
        """Stop a running request at once; its stream ends with an `ABORT` completion."""
        ...

    async def close(self) -> None: ...

    def info(self) -> BackendInfo: ...


class AsyncClosing:
    """`async with thing:` closes it on the way out; for anything with an async `close()`."""

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def close_stream(events: AsyncIterator[StreamEvent]) -> None:
    """Close a stream the consumer is done with, so its backend can abort what is still running."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


async def complete(backend: Backend, request: CompletionRequest) -> Completion:
    """Run `request` to the end and return its `Completion`."""
    async for event in backend.stream(request):
        if isinstance(event, Completion):
            return event
    raise BackendError(f"request {request.request_id}: the stream ended without a final record")
