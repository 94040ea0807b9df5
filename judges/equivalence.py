"""Equivalence of finished answers, and `EquivalenceJudge`, the judge for finished traces.

`canonical_answer` builds on `orchestrator.aggregate.normalize_answer` and goes further: an outer
`\\boxed{...}` / `\\fbox{...}` is stripped (nested braces allowed), every number or fraction becomes
one exact rational (`0.5`, `1/2`, `\\frac{1}{2}` and `2/4` are all `1/2`), and all whitespace is
dropped (`yih a` is `yiha`). Case, LaTeX wrappers, units and multiple-choice forms (`(B)`, `B`,
`option b`) are `normalize_answer`'s rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from judges.base import TracePair
from orchestrator.aggregate import extract_answer, normalize_answer

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_WHITESPACE = re.compile(r"\s+")


def answers_equivalent(first: str | None, second: str | None) -> bool:
    """Whether two finished answers are the same answer written differently; False when either is None."""
    if first is None or second is None:
        return False
    return canonical_answer(first) == canonical_answer(second)


def canonical_answer(answer: str) -> str:
    """One spelling per answer: equivalent answers have equal canonical forms."""
    key = _WHITESPACE.sub("", normalize_answer(_unbox(answer)))
    number = _rational(key)
    return key if number is None else str(number)


def _unbox(answer: str) -> str:
    """The argument of a `\\boxed{...}` that wraps the whole answer (repeatedly), else the answer."""
    answer = answer.strip()
    while (opening := _BOX_OPEN.match(answer)) and _closing(answer, opening.end() - 1) == len(answer) - 1:
        answer = answer[opening.end() : -1].strip()
    return answer


def _closing(text: str, start: int) -> int | None:
    """Index of the brace closing the `{` at `start`, skipping escaped braces."""
    depth, index = 0, start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        depth += (char == "{") - (char == "}")
        if depth == 0:
            return index
        index += 1
    return None


def _rational(key: str) -> Fraction | None:
    try:
        return Fraction(key)
    except (ValueError, ZeroDivisionError):
        return None


class EquivalenceJudge:
    """For finished traces: 1.0 when both final answers are equivalent, 0.0 otherwise (or when one has none)."""

    async def same_answer(self, pairs: Sequence[TracePair]) -> list[float]:
        return [self.score(first, second) for first, second in pairs]

    @staticmethod
    def score(first: str, second: str) -> float:
        """1.0 or 0.0 for one pair."""
        return float(answers_equivalent(extract_answer(first), extract_answer(second)))
