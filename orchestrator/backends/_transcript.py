"""What one streamed request has produced so far, and how it ends; shared by the HTTP backends."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.backends._http import ServerError
from orchestrator.backends.base import Completion, FinishReason, TextChunk, Usage

FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "eos": FinishReason.STOP,
    "tool_calls": FinishReason.STOP,
    "function_call": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "abort": FinishReason.ABORT,
    "cancelled": FinishReason.ABORT,
    "content_filter": FinishReason.ABORT,
}


def finish_reason(name: str | None) -> FinishReason:
    """A server's finish reason as ours: a content filter counts as an abort, anything unknown as a stop."""
    return FINISH_REASONS.get((name or "stop").lower(), FinishReason.STOP)


@dataclass(slots=True)
class Transcript:
    """The text and tokens a request has streamed, and its end once the server has said it."""

    request_id: str
    pieces: list[str] = field(default_factory=list)
    tokens: int = 0
    finish: FinishReason | None = None
    matched_stop: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def finished(self) -> bool:
        return self.finish is not None

    def add(self, chunk: TextChunk) -> TextChunk:
        self.pieces.append(chunk.text)
        self.tokens += chunk.tokens
        return chunk

    def replace_text(self, text: str) -> None:
        """Take the server's final word on the whole text (it may trim a stop string it streamed)."""
        self.pieces = [text]

    def end(self, reason: FinishReason, matched_stop: str | None = None) -> None:
        self.finish, self.matched_stop = reason, matched_stop

    def completion(self, usage: Usage) -> Completion:
        assert self.finish is not None, "a transcript completes only once it has finished"
        return Completion(self.request_id, self.text, self.finish, usage, self.matched_stop)

    def aborted(self, usage: Usage | None = None) -> Completion:
        """The ABORT completion of what has streamed so far."""
        return Completion(self.request_id, self.text, FinishReason.ABORT, usage or Usage(completion_tokens=self.tokens))

    def cut(self, server: str, reason: str = "") -> ServerError:
        """The error for a stream that ended before the server finished the request."""
        why = f": {reason}" if reason else ""
        message = (
            f"request {self.request_id}: the stream from {server} ended before the request finished "
            f"({self.tokens} tokens received){why}"
        )
        return ServerError(message, retryable=True)
