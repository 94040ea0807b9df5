"""Streamed OpenAI responses, chunk for chunk as SGLang's `serving_completions` and `serving_chat` emit them.

Completions: one `text_completion` chunk per engine output with the new text, its logprobs, and
the finish reason on the last; then, with `stream_options.include_usage`, a usage chunk with no
choices. Chat: a first chunk per choice with `role: assistant` and empty content; then content (or,
with the reasoning parser, `reasoning_content`) deltas; the finish-reason chunks of all choices
after every choice has ended; then the usage chunk when asked. Each event comes with whether it is
a finishing one (where a cut fault strikes at the latest).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from orchestrator.simserver.chat import ReasoningStream
from orchestrator.simserver.jobs import Batch
from orchestrator.simserver.openai_models import ChatBody, CompletionBody
from orchestrator.simserver.openai_shapes import (
    chat_logprobs,
    chunk,
    completion_logprobs,
    finish_fields,
    new_logprobs,
    usage,
)
from orchestrator.simserver.outputs import Out
from orchestrator.simserver.state import ServerState

Event = tuple[dict[str, Any], bool]


class _Stream:
    kind = ""

    def __init__(self, body: CompletionBody | ChatBody, state: ServerState) -> None:
        self.body = body
        self.state = state
        self.created = int(time.time())
        self.offsets: dict[int, int] = {}
        self.seen: dict[int, int] = {}
        self.last: dict[int, Out] = {}

    def _include_usage(self) -> bool:
        options = self.body.stream_options
        return bool(options and options.include_usage)

    def _delta_text(self, index: int, out: Out) -> str:
        text: str = out["text"]
        self.offsets[index], start = len(text), self.offsets.get(index, 0)
        return text[start:]

    def _new_logprobs(self, index: int, meta: dict[str, Any]) -> tuple[list[Any], list[Any] | None]:
        triples, tops = new_logprobs(meta, self.seen.get(index, 0))
        self.seen[index] = meta.get("output_token_logprobs_length", 0)
        return triples, tops

    def _usage(self) -> dict[str, Any]:
        outs = [self.last[i] for i in sorted(self.last)]
        return usage(outs, self.body.n, self.state.settings.enable_cache_report)

    def _chunk(self, chunk_id: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return chunk(self.kind, chunk_id, self.body.model, self.created, choices)

    def _last_id(self) -> str:
        return str(self.last[max(self.last)]["meta_info"]["id"])


class CompletionStream(_Stream):
    kind = "text_completion"
    body: CompletionBody

    async def events(self, batch: Batch) -> AsyncGenerator[Event, None]:
        async with aclosing(self.state.engine.outputs(batch)) as outs:
            async for out in outs:
                yield self._text_chunk(out), out["meta_info"]["finish_reason"] is not None
        if self._include_usage():
            yield self._chunk(self._last_id(), []) | {"usage": _without_none(self._usage())}, True

    def _text_chunk(self, out: Out) -> dict[str, Any]:
        index = out.get("index", 0)
        meta = out["meta_info"]
        echo = self._echo(index) if index not in self.offsets else ""
        self.last[index] = out
        choice = {"index": index, "text": echo + self._delta_text(index, out), "logprobs": self._logprobs(index, meta)}
        return self._chunk(meta["id"], [choice | finish_fields(meta)]) | {"usage": None}

    def _logprobs(self, index: int, meta: dict[str, Any]) -> dict[str, Any] | None:
        if self.body.logprobs is None:
            return None
        triples, tops = self._new_logprobs(index, meta)
        return completion_logprobs(triples, tops) if triples else None

    def _echo(self, index: int) -> str:
        prompt = self.body.prompt
        if not self.body.echo:
            return ""
        if isinstance(prompt, str):
            return prompt
        item = prompt[index // self.body.n]
        return item if isinstance(item, str) else ""


class ChatStream(_Stream):
    kind = "chat.completion.chunk"
    body: ChatBody

    def __init__(self, body: ChatBody, state: ServerState) -> None:
        super().__init__(body, state)
        self.split = state.settings.reasoning_parser and body.separate_reasoning
        self.parsers: dict[int, ReasoningStream] = {}
        self.finishes: dict[int, dict[str, Any]] = {}

    async def events(self, batch: Batch) -> AsyncGenerator[Event, None]:
        async with aclosing(self.state.engine.outputs(batch)) as outs:
            async for out in outs:
                for payload in self._chunks(out):
                    yield payload, False
        for index, reason in self.finishes.items():
            yield self._choice_chunk(index, {"reasoning_content": None}, None, reason), True
        if self._include_usage():
            yield self._chunk(self._last_id(), []) | {"usage": self._usage()}, True

    def _chunks(self, out: Out) -> list[dict[str, Any]]:
        index = out.get("index", 0)
        meta = out["meta_info"]
        first = index not in self.last
        self.last[index] = out
        if meta["finish_reason"] is not None:
            self.finishes[index] = meta
        deltas = self._deltas(index, out)
        chunks = [self._choice_chunk(index, dict(_ROLE_DELTA))] if first else []
        return chunks + [self._choice_chunk(index, delta, logprobs) for delta, logprobs in deltas]

    def _deltas(self, index: int, out: Out) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """This output's deltas, its logprobs on the first (on an empty delta if there is no text)."""
        meta = out["meta_info"]
        reasoning, content = self._split(index, self._delta_text(index, out), meta["finish_reason"])
        deltas: list[dict[str, Any]] = []
        if reasoning:
            deltas.append({"reasoning_content": reasoning})
        if content:
            deltas.append({"reasoning_content": None, "content": content})
        logprobs = self._logprobs(index, meta)
        if not deltas and logprobs is not None and self.split:
            deltas.append({"reasoning_content": None})
        return [(delta, logprobs if i == 0 else None) for i, delta in enumerate(deltas)]

    def _split(self, index: int, delta: str, reason: dict[str, Any] | None) -> tuple[str, str]:
        if not self.split:
            return "", delta
        parser = self.parsers.setdefault(index, ReasoningStream())
        reasoning, content = parser.feed(delta)
        if reason is not None and reason["type"] != "abort":
            tail_reasoning, tail_content = parser.flush()
            reasoning, content = reasoning + tail_reasoning, content + tail_content
        return reasoning, content

    def _logprobs(self, index: int, meta: dict[str, Any]) -> dict[str, Any] | None:
        if not self.body.logprobs:
            return None
        triples, tops = self._new_logprobs(index, meta)
        return chat_logprobs(triples, tops) if triples else None

    def _choice_chunk(
        self,
        index: int,
        delta: dict[str, Any],
        logprobs: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        finish = finish_fields(meta) if meta is not None else {"finish_reason": None, "matched_stop": None}
        choice = {"index": index, "delta": delta, "logprobs": logprobs} | finish
        return self._chunk(self.last[index]["meta_info"]["id"], [choice])


_ROLE_DELTA = {"reasoning_content": None, "role": "assistant", "content": ""}


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}
