"""`NGramJudge`, a surface-similarity baseline: the Jaccard overlap of two traces' word 1-3-grams.

It stands in for DeepPrune's SentenceBERT baseline (cosine similarity of sentence embeddings, 0.58
AUROC on their data), whose model weights cannot be downloaded here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache

from judges.base import TracePair
from judges.truncation import Truncation

NGRAM_SIZES = (1, 2, 3)

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=8192)
def word_ngrams(text: str) -> frozenset[str]:
    """The set of lower-cased word 1-, 2- and 3-grams of `text` (punctuation ignored)."""
    words = _WORD.findall(text.lower())
    return frozenset(" ".join(words[i : i + n]) for n in NGRAM_SIZES for i in range(len(words) - n + 1))


def jaccard(first: AbstractSet[str], second: AbstractSet[str]) -> float:
    """|A & B| / |A | B|; 1.0 for two empty sets."""
    union = len(first | second)
    return len(first & second) / union if union else 1.0


class NGramJudge:
    """P(same answer) is the Jaccard similarity of the two traces' word 1-3-gram sets."""

    def __init__(self, truncation: Truncation | None = None) -> None:
        self.truncation = truncation

    async def same_answer(self, pairs: Sequence[TracePair]) -> list[float]:
        return [self.score(first, second) for first, second in pairs]

    def score(self, first: str, second: str) -> float:
        """P(same answer) for one pair."""
        if self.truncation is not None:
            first, second = self.truncation.cut(first), self.truncation.cut(second)
        return jaccard(word_ngrams(first), word_ngrams(second))
