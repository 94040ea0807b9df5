"""`FeatureJudge`: a model-free judge of two partial traces, a logistic model over a few pair features.

Features of a pair (`FEATURE_NAMES`, in order, after the intercept):

- `answers_agree`, `answers_differ`, `answer_missing`: each partial trace's stated answer so far (its
  last `\\boxed{...}`, else its last "answer is X") is present in both and equivalent, present in both
  and different, or present in exactly one (both missing is the baseline);
- `results_agree`, `results_differ`: each trace's latest intermediate result (written `is 'X'`,
  `is "X"`, `= 12`) is present in both and equivalent, or present in both and different;
- `ngram_overlap`: Jaccard overlap of the word 1-3-grams;
- `intermediates_overlap`, `intermediates_missing`: similarity of the sequences of intermediate values
  (short quoted tokens and numbers, in order; `difflib` ratio), and whether either trace has none;
- `length_ratio`: shorter over longer word count;
- `density_gap`: difference of the share of reasoning words (`REASONING_WORDS`) among all words.

Per-trace work is cached, so judging one trace against many is cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from judges.base import TracePair
from judges.equivalence import canonical_answer
from judges.similarity import jaccard, word_ngrams
from judges.stated import latest_result
from judges.truncation import REASONING_WORDS, Truncation

FEATURE_NAMES: tuple[str, ...] = (
    "intercept",
    "answers_agree",
    "answers_differ",
    "answer_missing",
    "results_agree",
    "results_differ",
    "ngram_overlap",
    "intermediates_overlap",
    "intermediates_missing",
    "length_ratio",
    "density_gap",
)

COEFFICIENTS: tuple[float, ...] = (
    -2.8114,
    2.5659,
    -6.0059,
    0.4939,
    -0.2157,
    -0.4215,
    -0.1229,
    2.3986,
    0.3437,
    2.6873,
    -0.0459,
)
"""Logistic coefficients in `FEATURE_NAMES` order, fitted by `python benchmarks/judge_quality.py --fit` (seed 0, 20 pairs
per problem, label: equal normalised final answers) on the even-indexed problems of
`esc_gpt35_last_letters.jsonl` (GPT-3.5 last-letter traces), all five cuts pooled; the odd-indexed ones are
held out for the benchmark. One data set of short traces: refit on traces like your own."""

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{(?P<x>(?:[^{}]|\{[^{}]*\})*)\}")
_PHRASE = re.compile(r"\banswer\s*(?:is\b|:)\s*:?\s*(?P<x>[^\n]*?)\s*(?:\.(?=\s|$)|\n|$)", re.IGNORECASE)
_INTERMEDIATE = re.compile(r"'([^'\s]{1,12})'|\"([^\"\s]{1,12})\"|(?<![\w.])([-+]?\d+(?:\.\d+)?)")
_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class _Profile:
    words: int
    ngrams: frozenset[str]
    intermediates: tuple[str, ...]
    answer: str | None
    result: str | None
    density: float


def pair_features(first: str, second: str) -> tuple[float, ...]:
    """The feature vector of a pair of partial traces, intercept first, in `FEATURE_NAMES` order."""
    a, b = _profile(first), _profile(second)
    return (
        1.0,
        *_agreement(a.answer, b.answer),
        *_agreement(a.result, b.result)[:2],
        jaccard(a.ngrams, b.ngrams),
        _sequence_overlap(a.intermediates, b.intermediates),
        float(not (a.intermediates and b.intermediates)),
        min(a.words, b.words) / max(a.words, b.words, 1),
        abs(a.density - b.density),
    )


def logistic(coefficients: Sequence[float], features: Sequence[float]) -> float:
    """1 / (1 + exp(-w.x)), safe for any magnitude."""
    z = sum(w * x for w, x in zip(coefficients, features, strict=True))
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class FeatureJudge:
    """P(same answer) from pair features and a fitted logistic model; needs no model server."""

    def __init__(self, truncation: Truncation | None = None, *, coefficients: Sequence[float] = COEFFICIENTS) -> None:
        if len(coefficients) != len(FEATURE_NAMES):
            raise ValueError(f"expected {len(FEATURE_NAMES)} coefficients ({', '.join(FEATURE_NAMES)})")
        self.truncation = truncation
        self.coefficients = tuple(coefficients)

    async def same_answer(self, pairs: Sequence[TracePair]) -> list[float]:
        return [self.score(first, second) for first, second in pairs]

    def score(self, first: str, second: str) -> float:
        """P(same answer) for one pair."""
        if self.truncation is not None:
            first, second = self.truncation.cut(first), self.truncation.cut(second)
        return logistic(self.coefficients, pair_features(first, second))


@lru_cache(maxsize=8192)
def _profile(text: str) -> _Profile:
    words = len(text.split())
    reasoning = sum(word.lower() in REASONING_WORDS for word in _LETTERS.findall(text))
    return _Profile(
        words=words,
        ngrams=word_ngrams(text),
        intermediates=tuple(next(filter(None, match.groups())).lower() for match in _INTERMEDIATE.finditer(text)),
        answer=_last(text, _BOXED) or _last(text, _PHRASE),
        result=latest_result(text),
        density=reasoning / words if words else 0.0,
    )


def _last(text: str, pattern: re.Pattern[str]) -> str | None:
    """The canonical form of the last non-empty `x` group of `pattern` in `text`."""
    found = [match["x"] for match in pattern.finditer(text) if match["x"].strip()]
    return canonical_answer(found[-1]) if found else None


def _agreement(first: str | None, second: str | None) -> tuple[float, float, float]:
    """(both present and equal, both present and different, exactly one present), as 0.0 or 1.0."""
    present = (first is not None) + (second is not None)
    same = present == 2 and first == second
    return float(same), float(present == 2 and not same), float(present == 1)


def _sequence_overlap(first: tuple[str, ...], second: tuple[str, ...]) -> float:
    if not (first and second):
        return 0.0
    return SequenceMatcher(None, first, second, autojunk=False).ratio()
