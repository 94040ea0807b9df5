"""Pruning while threads stream: DeepPrune's online greedy clustering (arXiv 2510.08483).

A thread is judged once, as soon as its partial trace is long enough (the truncation says when). It is
compared with every existing cluster through up to `compare` sampled members (the mean judge score);
if the best mean exceeds `tau` it joins that cluster, else it opens a new one and keeps generating;
once `max_clusters` exist it joins the most similar. A thread that joins a cluster is aborted on the
backend at once when the cluster is *confirmed*: at least `confirm` of its members finished, all with
the same answer. Until then members run to the end, so a cluster's answer rests on finished traces
(the paper lets K2 members of the largest cluster finish; `confirm` is that number, applied to every
cluster as it forms). A pruned thread votes for its cluster's answer, so the largest cluster carries
the vote; when every cluster is a singleton nothing is pruned and the vote is plain sampling.

Answer anchoring (`anchor` = n > 0, our addition) goes on watching a thread after it is placed: the
moment its latest stated result (`judges.stated`: `is 'yajo'`, `= 42`) is equivalent to an answer that
n finished threads gave, the thread has said what it will vote for; it is aborted there and votes
for that answer. Where a judge cannot tell partial traces apart early (traces that differ only in their last
step), this still saves each agreeing thread's tail: its restatement of an answer already counted.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from judges.base import Judge
from judges.equivalence import canonical_answer
from judges.stated import ResultTracker
from judges.truncation import Truncation
from orchestrator.aggregate import majority_vote, normalize_answer
from orchestrator.backends.base import TextChunk
from orchestrator.result import ThreadReport, ThreadStatus
from orchestrator.stopping import Ballot


class Monitor(Protocol):
    """Watches every thread of a step: may stop one while it streams, and says how each one votes."""

    async def review(self, index: int, text: str, chunk: TextChunk) -> bool:
        """After each chunk of thread `index` (`text`: its whole partial trace): True to abort it now."""
        ...

    def ended(self, report: ThreadReport) -> None:
        """Thread `report.index` has ended (called once per thread)."""
        ...

    def ballot(self, report: ThreadReport) -> Ballot | None:
        """The vote an ended thread casts, or None."""
        ...


class NoPruning:
    """Every thread runs to the end; finished threads vote for their own answer."""

    async def review(self, index: int, text: str, chunk: TextChunk) -> bool:
        return False

    def ended(self, report: ThreadReport) -> None:
        pass

    def ballot(self, report: ThreadReport) -> Ballot | None:
        return Ballot(report.answer) if report.answered else None


@dataclass(slots=True)
class Cluster:
    members: list[int]
    traces: list[str]
    answers: dict[int, str | None] = field(default_factory=dict)

    def confirmed(self, needed: int) -> bool:
        """At least `needed` members finished, all with the same answer (always, for `needed` 0)."""
        keys = {normalize_answer(answer) if answer else None for answer in self.answers.values()}
        return len(self.answers) >= needed and len(keys) <= 1 and None not in keys

    @property
    def answer(self) -> str | None:
        """The majority answer of the members that finished."""
        return majority_vote(list(self.answers.values())).answer


@dataclass(frozen=True, slots=True)
class Placement:
    cluster: Cluster
    redundant: bool


class OnlineClustering:
    """DeepPrune's greedy clustering of partial traces by a judge's same-answer probability."""

    def __init__(
        self,
        judge: Judge,
        *,
        tau: float = 0.5,
        max_clusters: int = 32,
        compare: int = 3,
        confirm: int = 2,
        seed: int = 0,
    ) -> None:
        self.judge = judge
        self.tau, self.max_clusters, self.compare, self.confirm = tau, max_clusters, compare, confirm
        self.clusters: list[Cluster] = []
        self.judge_calls = 0
        self._seed = seed
        self._lock = asyncio.Lock()

    async def place(self, index: int, trace: str) -> Placement:
        """Put thread `index` (its truncated partial trace) in a cluster; `redundant`: stop it."""
        async with self._lock:
            scores = await self._scores(index, trace)
            best = max(range(len(scores)), key=scores.__getitem__, default=None)
            if best is not None and (scores[best] > self.tau or len(self.clusters) >= self.max_clusters):
                return self._join(self.clusters[best], index, trace)
            self.clusters.append(Cluster([index], [trace]))
            return Placement(self.clusters[-1], redundant=False)

    def _join(self, cluster: Cluster, index: int, trace: str) -> Placement:
        cluster.members.append(index)
        cluster.traces.append(trace)
        return Placement(cluster, redundant=cluster.confirmed(self.confirm))

    async def _scores(self, index: int, trace: str) -> list[float]:
        """The mean judge score of `trace` against up to `compare` sampled members of each cluster."""
        picks = [self._sample(cluster, index) for cluster in self.clusters]
        pairs = [(trace, member) for pick in picks for member in pick]
        if not pairs:
            return []
        self.judge_calls += 1
        flat = iter(await self.judge.same_answer(pairs))
        return [_mean([next(flat) for _ in pick]) for pick in picks]

    def _sample(self, cluster: Cluster, index: int) -> Sequence[str]:
        if len(cluster.traces) <= self.compare:
            return cluster.traces
        return random.Random(f"{self._seed}:{index}").sample(cluster.traces, self.compare)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


class AnswerTally:
    """The answers finished threads gave, up to equivalence (`judges.canonical_answer`)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._spelling: dict[str, str] = {}

    def add(self, answer: str) -> None:
        key = canonical_answer(answer)
        self._counts[key] = self._counts.get(key, 0) + 1
        self._spelling.setdefault(key, answer)

    def given(self, result: str, times: int) -> str | None:
        """The answer equivalent to `result`, as first written, if at least `times` threads gave it."""
        key = canonical_answer(result)
        return self._spelling[key] if self._counts.get(key, 0) >= times else None


class DeepPruneMonitor:
    """Judges each thread once its partial trace is long enough; aborts the redundant ones, and with
    `anchor` > 0 also each thread whose stated result is an answer `anchor` finished threads gave."""

    def __init__(self, clustering: OnlineClustering, truncation: Truncation, *, anchor: int = 0) -> None:
        self.clustering = clustering
        self.truncation = truncation
        self.anchor = anchor
        self._placed: dict[int, Cluster] = {}
        self._tally = AnswerTally()
        self._trackers: dict[int, ResultTracker] = {}
        self._anchored: dict[int, str] = {}

    async def review(self, index: int, text: str, chunk: TextChunk) -> bool:
        if await self._redundant(index, text):
            return True
        return self.anchor > 0 and self._anchored_answer(index, text)

    async def _redundant(self, index: int, text: str) -> bool:
        if index in self._placed or not self.truncation.ready(text):
            return False
        placement = await self.clustering.place(index, self.truncation.cut(text))
        self._placed[index] = placement.cluster
        return placement.redundant

    def _anchored_answer(self, index: int, text: str) -> bool:
        result = self._trackers.setdefault(index, ResultTracker()).update(text)
        answer = self._tally.given(result, self.anchor) if result is not None else None
        if answer is not None:
            self._anchored[index] = answer
        return answer is not None

    def ended(self, report: ThreadReport) -> None:
        self._trackers.pop(report.index, None)
        if self.anchor and report.status is ThreadStatus.DONE and report.answer is not None:
            self._tally.add(report.answer)
        cluster = self._placed.get(report.index)
        if cluster is not None and report.answered:
            cluster.answers[report.index] = report.answer
        elif cluster is not None and report.index in self._anchored:
            cluster.answers[report.index] = self._anchored[report.index]

    def ballot(self, report: ThreadReport) -> Ballot | None:
        if report.answered:
            return Ballot(report.answer)
        if report.status is not ThreadStatus.PRUNED:
            return None
        if report.index in self._anchored:
            return Ballot(self._anchored[report.index])
        cluster = self._placed.get(report.index)
        return Ballot(cluster.answer) if cluster is not None and cluster.answers else None

    @property
    def clusters(self) -> list[Cluster]:
        return self.clustering.clusters

    @property
    def anchored(self) -> dict[int, str]:
        """Threads stopped by answer anchoring, and the answer each votes for."""
        return dict(self._anchored)


# --- configuration (`strategy.prune` in a task file) ---------------------------------------------


class PruneConfig(BaseModel):
    """DeepPrune in a task file: which judge, where it cuts partial traces, and the clustering knobs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    judge: Literal["features", "ngram", "deepprune"] = "features"
    truncation: Truncation = Truncation()
    tau: float = Field(0.5, ge=0.0, le=1.0)
    max_clusters: int = Field(32, ge=1, le=4096)
    compare: int = Field(3, ge=1, le=4096)
    confirm: int = Field(2, ge=0, le=4096)
    anchor: int = Field(0, ge=0, le=4096)
    template: str | None = None
