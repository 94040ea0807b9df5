"""Okapi BM25 ranking of documents for a query: `Bm25`, and the tokeniser it uses.

Written here rather than taken from rank-bm25 (unmaintained since 2022) or bm25s (numpy and scipy
for what is forty lines over a local corpus of a few thousand documents at most).
"""

from __future__ import annotations

import math
import re
from collections import Counter

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Lowercase words: runs of letters, digits and underscores."""
    return _WORD.findall(text.lower())


class Bm25:
    """Scores documents, given as token lists, against a query with Okapi BM25."""

    def __init__(self, documents: list[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._counts = [Counter(tokens) for tokens in documents]
        self._lengths = [len(tokens) for tokens in documents]
        self._average = sum(self._lengths) / len(documents) if documents else 0.0
        frequency = Counter(token for counts in self._counts for token in counts)
        total = len(documents)
        self._idf = {token: math.log(1 + (total - n + 0.5) / (n + 0.5)) for token, n in frequency.items()}

    def scores(self, query: list[str]) -> list[float]:
        """One score per document, in document order; 0 where no query token occurs."""
        terms = [token for token in set(query) if token in self._idf]
        return [self._score(terms, counts, length) for counts, length in zip(self._counts, self._lengths)]

    def top(self, query: list[str], k: int) -> list[tuple[int, float]]:
        """The `k` best (document index, score) pairs with a positive score, best first."""
        ranked = sorted(enumerate(self.scores(query)), key=lambda pair: (-pair[1], pair[0]))
        return [(index, score) for index, score in ranked[:k] if score > 0]

    def _score(self, terms: list[str], counts: Counter[str], length: int) -> float:
        norm = self.k1 * (1 - self.b + self.b * length / self._average) if self._average else self.k1
        return sum(self._idf[t] * counts[t] * (self.k1 + 1) / (counts[t] + norm) for t in terms if t in counts)
