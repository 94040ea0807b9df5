"""DeepConf's confidence signals (arXiv 2508.15260) and its online cut-off of low-confidence threads.

Token confidence is minus the mean of the token's top-k log-probabilities; group confidence is the
mean token confidence over a sliding window of `group_tokens` tokens (the whole trace while it is
shorter); a trace's confidence is its lowest group confidence. The first `warmup` traces run to the
end; the cut-off is the `percentile` of their confidences; after that a thread is stopped the moment
a full window's group confidence falls below it. Finished traces vote with their confidence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.backends.base import TextChunk
from orchestrator.result import ThreadReport
from orchestrator.stopping import Ballot


@dataclass(slots=True)
class GroupConfidence:
    """Sliding-window mean of token confidences, and the lowest full-window mean seen so far."""

    group_tokens: int
    window: deque[float] = field(default_factory=deque)
    total: float = 0.0
    lowest: float | None = None
    count: int = 0

    def add(self, confidence: float) -> None:
        self.window.append(confidence)
        self.total += confidence
        self.count += 1
        if len(self.window) > self.group_tokens:
            self.total -= self.window.popleft()
        if self.full:
            self.lowest = self.current if self.lowest is None else min(self.lowest, self.current)

    @property
    def full(self) -> bool:
        return len(self.window) == self.group_tokens

    @property
    def current(self) -> float:
        return self.total / len(self.window) if self.window else 0.0

    @property
    def trace_confidence(self) -> float:
        """The lowest group confidence (the whole-trace mean for a trace shorter than one window)."""
        return self.lowest if self.lowest is not None else self.current


def token_confidence(top_logprobs: Sequence[float]) -> float:
    return -sum(top_logprobs) / len(top_logprobs) if top_logprobs else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class DeepConfMonitor:
    """Tracks each thread's group confidence, sets the cut-off after the warm-up, stops threads below it."""

    def __init__(self, warmup: int = 16, percentile: float = 90.0, group_tokens: int = 2048) -> None:
        self.warmup = warmup
        self.percentile = percentile
        self.group_tokens = group_tokens
        self.threshold: float | None = None
        self._groups: dict[int, GroupConfidence] = {}
        self._warm: list[float] = []
        self._warm_ended = 0

    async def review(self, index: int, text: str, chunk: TextChunk) -> bool:
        group = self._groups.setdefault(index, GroupConfidence(self.group_tokens))
        for tops in chunk.top_logprobs:
            group.add(token_confidence(tops))
        return self._below_threshold(index, group)

    def ended(self, report: ThreadReport) -> None:
        if report.index >= self.warmup or self.threshold is not None:
            return
        self._warm_ended += 1
        if report.answered:
            self._warm.append(self._confidence(report.index))
        if self._warm_ended == self.warmup and self._warm:
            self.threshold = percentile(self._warm, self.percentile)

    def ballot(self, report: ThreadReport) -> Ballot | None:
        return Ballot(report.answer, self._confidence(report.index)) if report.answered else None

    def _below_threshold(self, index: int, group: GroupConfidence) -> bool:
        if self.threshold is None or index < self.warmup or not group.full:
            return False
        return group.current < self.threshold

    def _confidence(self, index: int) -> float:
        group = self._groups.get(index)
        return group.trace_confidence if group else 0.0
