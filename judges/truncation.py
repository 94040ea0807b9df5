"""How much of a partial trace a judge reads: its first words, or its text up to the N-th reasoning word.

DeepPrune (arXiv 2510.08483) feeds its judge the first 500 tokens of each trace, or the text up to its
first 25 "reasoning words" (best overall). Here whitespace-separated words stand in for tokens, so that
figures compare across tokenizers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

REASONING_WORDS: frozenset[str] = frozenset(
    {
        "wait",
        "but",
        "however",
        "thus",
        "therefore",
        "so",
        "since",
        "because",
        "hence",
        "alternatively",
        "hmm",
        "let",
        "first",
        "then",
        "now",
        "actually",
        "maybe",
        "perhaps",
        "check",
        "verify",
        "next",
        "instead",
        "again",
        "consider",
        "suppose",
        "recall",
        "finally",
    }
)
"""Discourse markers that open a reasoning step, matched case-insensitively as whole words.

The DeepPrune paper names *wait*, *thus* and *since* as examples; its full list could not be retrieved
here (no copy of THU-KEG/DeepPrune was reachable), so this is the usual set of step markers of
reasoning models (self-correction, consequence, cause, alternatives, planning, checking) built around them.
"""

_WORD = re.compile(r"\S+")
_LETTERS = re.compile(r"[^\W\d_]+")


class Truncation(BaseModel):
    """The first `limit` words of a trace, or its text up to and including its `limit`-th reasoning word."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["words", "reasoning_words"] = "reasoning_words"
    limit: int = Field(default=25, ge=1, le=1_000_000)

    def cut(self, text: str) -> str:
        """The prefix of `text` a judge reads; the whole text when it has fewer than `limit` counted words."""
        end = self._end(text)
        return text if end is None else text[:end]

    def ready(self, text: str) -> bool:
        """Whether a streaming partial trace is long enough to be judged: its `limit`-th counted word is
        complete (something follows it), so the judge never reads a word cut in the middle."""
        end = self._end(text)
        return end is not None and end < len(text)

    def _end(self, text: str) -> int | None:
        last = next(islice(self._counted(text), self.limit - 1, None), None)
        return None if last is None else last.end()

    def _counted(self, text: str) -> Iterator[re.Match[str]]:
        if self.mode == "words":
            return _WORD.finditer(text)
        return (word for word in _LETTERS.finditer(text) if word.group().lower() in REASONING_WORDS)
