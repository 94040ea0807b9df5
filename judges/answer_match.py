"""A judge for finished traces: extract both final answers and compare their canonical forms."""

from __future__ import annotations

from collections.abc import Sequence

from judges.base import TracePair
from orchestrator.aggregate import extract_answer, normalize_answer


class AnswerMatchJudge:
    """1.0 when both traces give the same normalised answer, 0.0 otherwise (or when one gives none)."""

    async def same_answer(self, pairs: Sequence[TracePair]) -> list[float]:
        return [self.score(first, second) for first, second in pairs]

    @staticmethod
    def score(first: str, second: str) -> float:
        answers = [extract_answer(trace) for trace in (first, second)]
        if None in answers:
            return 0.0
        return float(normalize_answer(answers[0] or "") == normalize_answer(answers[1] or ""))
