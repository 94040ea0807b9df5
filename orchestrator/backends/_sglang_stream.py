"""The events of one SGLang `/generate` stream, turned into text chunks and a completion.

An event is `{"text", "output_ids", "meta_info"}`. By default its text, `output_ids` and logprob
arrays are cumulative (everything so far); a server started with `--incremental-streaming-output`
sends deltas instead, and some 0.4.x servers sent cumulative text with incremental `output_ids`.
`meta_info.completion_tokens` is always cumulative, so arrays are cut by length against it: an
array as long as the new tokens is a delta, a longer one is cumulative. Text cannot be told apart
that way, so its mode comes from the server's `incremental_streaming_output` setting.

When the request finishes on a stop string the server trims it from the final text, even though
it may have streamed part of it; the completion carries the server's final text.

Failures: a `{"error": {...}}` event, and an abort finish reason that carries an HTTP
`status_code` (how recent SGLang ends a request it cannot serve: 400 for bad input, 500 or 503 for
server trouble) are errors, retryable by that status; an abort without one is an `ABORT` completion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.backends._http import ServerError, error_message, retryable_status
from orchestrator.backends._transcript import Transcript, finish_reason
from orchestrator.backends.base import Completion, TextChunk, Usage

Event = Mapping[str, Any]


class SGLangStream:
    """Reads the events of one request's stream, in order."""

    def __init__(self, request_id: str, server: str, *, incremental: bool = False) -> None:
        self.transcript = Transcript(request_id)
        self.server = server
        self.incremental = incremental
        self.completion: Completion | None = None
        self.failed = False
        self.abandoned = False
        self.given_up = False
        self._text = ""

    @property
    def finished(self) -> bool:
        return self.completion is not None

    @property
    def over(self) -> bool:
        """Whether the server has ended the request, with a finish reason or an error."""
        return self.finished or self.failed

    def absorb(self, event: Event) -> TextChunk | None:
        """The new output in `event`, if any; an event that finishes the request also sets `completion`."""
        if "error" in event:
            self.failed = True
            raise self._error(event["error"])
        meta: Event = event.get("meta_info") or {}
        chunk = self._chunk(event, meta)
        if meta.get("finish_reason"):
            self._finish(meta)
        return chunk

    def _chunk(self, event: Event, meta: Event) -> TextChunk | None:
        seen = self.transcript.tokens
        ids: Sequence[int] = event.get("output_ids") or ()
        new = self._new_tokens(meta.get("completion_tokens"), len(ids))
        text = self._delta(event.get("text"))
        if not text and not new:
            return None
        logprobs = [float(entry[0]) for entry in _tail(meta.get("output_token_logprobs") or (), seen, new)]
        tops = [_top(entry) for entry in _tail(meta.get("output_top_logprobs") or (), seen, new)]
        chunk = TextChunk(text, new, tuple(logprobs), tuple(tops), tuple(_tail(ids, seen, new)))
        return self.transcript.add(chunk)

    def _new_tokens(self, total: object, ids: int) -> int:
        if isinstance(total, int):
            return max(0, total - self.transcript.tokens)
        return ids if self.incremental else max(0, ids - self.transcript.tokens)

    def _delta(self, text: str | None) -> str:
        if not text:
            return ""
        if self.incremental:
            return text
        delta = text[len(self._text) :] if text.startswith(self._text) else ""
        self._text = text
        return delta

    def _finish(self, meta: Event) -> None:
        reason = meta["finish_reason"]
        kind = str(reason.get("type") if isinstance(reason, Mapping) else reason)
        if isinstance(reason, Mapping) and kind == "abort" and reason.get("status_code"):
            self.failed = True
            raise self._failed_abort(reason)
        matched = reason.get("matched") if isinstance(reason, Mapping) else None
        if not self.incremental:
            self.transcript.replace_text(self._text)
        self.transcript.end(finish_reason(kind), matched if isinstance(matched, str) else None)
        self.completion = self.transcript.completion(self._usage(meta))

    def _usage(self, meta: Event) -> Usage:
        completion = meta.get("completion_tokens")
        return Usage(
            _count(meta.get("prompt_tokens")),
            _count(completion) if completion is not None else self.transcript.tokens,
            _count(meta.get("cached_tokens")),
            _count(meta.get("reasoning_tokens")),
        )

    def _error(self, error: object) -> ServerError:
        status = error.get("code") if isinstance(error, Mapping) else None
        status = status if isinstance(status, int) and status >= 400 else None
        detail = error_message(error)
        message = f"request {self.transcript.request_id}: {self.server} reported: {detail}"
        said = error.get("retryable") if isinstance(error, Mapping) else None
        retryable = said if isinstance(said, bool) else status is not None and retryable_status(status)
        return ServerError(message, status=status, retryable=retryable, detail=detail)

    def _failed_abort(self, reason: Event) -> ServerError:
        """SGLang ends a request it could not serve as an abort that carries an HTTP status."""
        status = _count(reason.get("status_code"))
        detail = error_message(reason.get("message")) or "request aborted"
        message = f"request {self.transcript.request_id}: {self.server} answered HTTP {status}: {detail}"
        return ServerError(message, status=status, retryable=retryable_status(status), detail=detail)


def _tail(items: Sequence[Any], seen: int, new: int) -> Sequence[Any]:
    """The entries of the `new` tokens, from an array that holds either them or every token so far."""
    return items if len(items) == new else items[seen : seen + new]


def _top(entry: Sequence[Sequence[Any]] | None) -> tuple[float, ...]:
    return tuple(float(candidate[0]) for candidate in entry or ())


def _count(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0
