"""The chunks of one streamed OpenAI-compatible request, turned into text chunks and completions.

- Text: `choices[i].text` (completions) or `choices[i].delta.content` (chat). A chat server that
  splits reasoning out (SGLang and vLLM with `--reasoning-parser`) sends it as
  `delta.reasoning_content` (`delta.reasoning` in recent vLLM); it is put back into the text as
  `<think>...</think>` so answer extraction and judges see the whole trace, and its tokens count as
  reasoning tokens when the server does not report them.
- Tokens per chunk: the logprob entries when logprobs were asked for, else one per chunk that
  carries text (vLLM and SGLang send one chunk per decoded token by default). The final usage is
  the server's own (`stream_options.include_usage`); servers that report no usage get the counts.
- Usage fields: `prompt_tokens_details.cached_tokens` (SGLang with `--enable-cache-report`, vLLM
  with `--enable-prompt-tokens-details`) and `completion_tokens_details.reasoning_tokens`, else 0.
- A request with `n` choices reports one usage: the prompt (and its cached tokens) is counted once,
  on the first choice, and the completion tokens are split in proportion to what each choice streamed,
  so the completions' usages add up to the request's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.backends._transcript import Transcript, finish_reason
from orchestrator.backends.base import Completion, FinishReason, TextChunk, Usage

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True, slots=True)
class Delta:
    """What one chunk of one choice adds."""

    text: str = ""
    reasoning: str = ""
    logprobs: tuple[float, ...] = ()
    top_logprobs: tuple[tuple[float, ...], ...] = ()

    @property
    def tokens(self) -> int:
        return len(self.logprobs) if self.logprobs else int(bool(self.text or self.reasoning))


def completions_delta(choice: Any, top_k: int) -> Delta:
    """A `/v1/completions` choice: `text`, and `logprobs.token_logprobs` / `top_logprobs` (dicts)."""
    logprobs = choice.logprobs
    if logprobs is None or not logprobs.token_logprobs:
        return Delta(choice.text or "")
    tops = tuple(_ranked(top.values(), top_k) for top in logprobs.top_logprobs or () if top is not None)
    return Delta(choice.text or "", "", _floats(logprobs.token_logprobs), tops if top_k else ())


def chat_delta(choice: Any, top_k: int) -> Delta:
    """A `/v1/chat/completions` choice: `delta.content`, reasoning, and `logprobs.content`."""
    delta = choice.delta
    reasoning = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None) or ""
    entries = (choice.logprobs.content if choice.logprobs is not None else None) or ()
    tops = tuple(_ranked((top.logprob for top in entry.top_logprobs or ()), top_k) for entry in entries)
    return Delta(delta.content or "", reasoning, _floats(entry.logprob for entry in entries), tops if top_k else ())


@dataclass(slots=True)
class Choice:
    """One choice of a request as it streams; `hidden` keeps its text out (a warm-up's token)."""

    transcript: Transcript
    hidden: bool = False
    thinking: bool = False
    reasoning_tokens: int = 0
    started: bool = False

    def absorb(self, delta: Delta, finish: str | None, matched: object = None) -> TextChunk | None:
        self.started = True
        chunk = self._chunk(delta)
        if finish is not None:
            reason = FinishReason.LENGTH if self.hidden else finish_reason(finish)
            self.transcript.end(reason, matched if isinstance(matched, str) else None)
        return chunk

    def _chunk(self, delta: Delta) -> TextChunk | None:
        if not delta.tokens and not delta.text and not delta.reasoning:
            return None
        if delta.reasoning and not delta.text:
            self.reasoning_tokens += delta.tokens
        text = "" if self.hidden else self._with_tags(delta)
        chunk = self.transcript.add(TextChunk(text, delta.tokens, delta.logprobs, delta.top_logprobs))
        return None if self.hidden else chunk

    def _with_tags(self, delta: Delta) -> str:
        text = ""
        if delta.reasoning:
            text, self.thinking = ("" if self.thinking else THINK_OPEN) + delta.reasoning, True
        if delta.text:
            text, self.thinking = text + (THINK_CLOSE if self.thinking else "") + delta.text, False
        return text


@dataclass(slots=True)
class Exchange:
    """One streamed request with `n` choices, and the usage the server reported for all of them."""

    request_id: str
    n: int = 1
    hidden: bool = False
    usage: Any = None
    choices: list[Choice] = field(default_factory=list)

    def __post_init__(self) -> None:
        ids = [self.request_id] if self.n == 1 else [f"{self.request_id}-{i}" for i in range(self.n)]
        self.choices = [Choice(Transcript(rid), self.hidden) for rid in ids]

    @property
    def finished(self) -> bool:
        """Whether every choice that started has finished (a server that ignores `n` starts only one)."""
        started = [choice for choice in self.choices if choice.started]
        return bool(started) and all(choice.transcript.finished for choice in started)

    def absorb(self, data: Any, read: Callable[[Any, int], Delta], top_k: int) -> list[tuple[int, TextChunk]]:
        """The (choice index, chunk) pairs in one streamed chunk; keeps its usage if it has one."""
        self.usage = getattr(data, "usage", None) or self.usage
        pairs = [(item.index, self._absorb(item, read, top_k)) for item in data.choices]
        return [(index, chunk) for index, chunk in pairs if chunk is not None]

    def _absorb(self, item: Any, read: Callable[[Any, int], Delta], top_k: int) -> TextChunk | None:
        if not 0 <= item.index < self.n:
            return None
        choice: Choice = self.choices[item.index]
        return choice.absorb(read(item, top_k), item.finish_reason, _matched(item))

    def completion(self) -> Completion:
        """The first choice's completion; `ABORT` with the text so far if it has not finished."""
        return _completion(self.choices[0], self._usages()[0])

    def completions(self) -> list[Completion]:
        """The completion of every choice that started, `ABORT` for those that have not finished."""
        pairs = zip(self.choices, self._usages())
        return [_completion(choice, usage) for choice, usage in pairs if choice.started]

    def _usages(self) -> list[Usage]:
        counted = [_counted(choice) for choice in self.choices]
        if self.usage is None:
            return counted
        total = reported_usage(self.usage)
        if self.n == 1:
            reasoning = total.reasoning_tokens or counted[0].reasoning_tokens
            return [Usage(total.prompt_tokens, total.completion_tokens, total.cached_tokens, reasoning)]
        return _split(total, counted)


def reported_usage(usage: Any) -> Usage:
    """The server's usage record, with cached and reasoning tokens where it reports them."""
    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
    reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None)
    return Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0, cached or 0, reasoning or 0)


def shares(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights` by largest remainder; the parts add up to `total`."""
    weight = sum(weights)
    if weight == 0:
        return [total // len(weights) + (i < total % len(weights)) for i in range(len(weights))]
    exact = [total * w / weight for w in weights]
    parts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: parts[i] - exact[i])
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _split(total: Usage, counted: list[Usage]) -> list[Usage]:
    tokens = shares(total.completion_tokens, [u.completion_tokens for u in counted])
    reasoning_total = total.reasoning_tokens or sum(u.reasoning_tokens for u in counted)
    reasoning = shares(reasoning_total, [u.reasoning_tokens for u in counted])
    first = [(total.prompt_tokens, total.cached_tokens)] + [(0, 0)] * (len(counted) - 1)
    return [Usage(p, t, c, r) for (p, c), t, r in zip(first, tokens, reasoning)]


def _counted(choice: Choice) -> Usage:
    return Usage(completion_tokens=choice.transcript.tokens, reasoning_tokens=choice.reasoning_tokens)


def _completion(choice: Choice, usage: Usage) -> Completion:
    transcript = choice.transcript
    text = "" if choice.hidden else transcript.text
    reason = transcript.finish or FinishReason.ABORT
    return Completion(transcript.request_id, text, reason, usage, transcript.matched_stop)


def _matched(item: Any) -> object:
    """The stop string that ended a choice: SGLang's `matched_stop`, vLLM's `stop_reason`."""
    return getattr(item, "matched_stop", None) or getattr(item, "stop_reason", None)


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(value) if value is not None else 0.0 for value in values)


def _ranked(values: Any, top_k: int) -> tuple[float, ...]:
    """The `top_k` best log-probabilities, best first (vLLM may add the sampled token as a k+1-th)."""
    return tuple(sorted(_floats(values), reverse=True)[:top_k])
