"""Adaptive sampling of one reasoning step on one shared prompt prefix.

The prefix is warmed once; then threads are launched in rounds (the stopping rule says how many per
round). Each thread reasons under the step's protocol: one request (`sample`), or a spawn/join
protocol that makes several on the same prefix. While they stream, a monitor may abort redundant or
hopeless ones (DeepPrune, DeepConf); each time a thread ends the stopping rule looks at the votes,
and once it calls the vote settled every thread still running is aborted on the backend and nothing
more is launched. Threads a resumed run reuses (`reused`, by index) count and vote without being
generated again; the prefix is then warmed only if some thread still has to run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.aggregate import Vote
from orchestrator.backends.base import Backend
from orchestrator.events import Observer, PrefixWarmed, ThreadFinished
from orchestrator.pruning import Monitor
from orchestrator.result import ReasoningReport, ThreadReport, ThreadStatus, UsageReport
from orchestrator.spec import Strategy
from orchestrator.stopping import Ballot, StopRule
from orchestrator.threads import Lane, Sampling, ThreadProtocol, run_thread, thread_params, usage_of, warm_prefix


@dataclass(frozen=True, slots=True)
class StepOutcome:
    threads: list[ThreadReport]
    vote: Vote
    rounds: int
    settled_early: bool
    critical_path_tokens: int
    tokens_saved: int
    report: ReasoningReport


class Sampler:
    """Runs one step: rounds of threads, pruning while they stream, stopping once the vote is settled."""

    def __init__(
        self,
        backend: Backend,
        strategy: Strategy,
        rule: StopRule,
        monitor: Monitor,
        usage: UsageReport,
        observer: Observer,
        pattern: re.Pattern[str] | None = None,
        protocol: ThreadProtocol | None = None,
        reused: Mapping[int, ThreadReport] | None = None,
    ) -> None:
        self.backend, self.strategy, self.rule, self.monitor = backend, strategy, rule, monitor
        self.usage, self.observer, self.pattern = usage, observer, pattern
        self.protocol = protocol or Sampling()
        self.reused = dict(reused or {})
        self._ended: list[ThreadReport] = []
        self._live: dict[int, Lane] = {}
        self._settled = False
        self._rounds: list[list[int]] = []
        self._warmed = UsageReport()

    async def run(self, prompt: str) -> StepOutcome:
        prompt = self.protocol.prefix(prompt)
        if any(index not in self.reused for index in range(self.strategy.threads)):
            await self._warm(prompt)
        launched, total = 0, self.strategy.threads
        while launched < total and not self._settled:
            size = max(1, self.rule.round_size(launched, total - launched))
            await self._round(prompt, range(launched, launched + size))
            launched += size
        return self._outcome()

    async def _warm(self, prompt: str) -> None:
        warmed = await warm_prefix(self.backend, prompt)
        self.usage.add(warmed.usage)
        self._warmed.add(warmed.usage)
        self.observer(PrefixWarmed(warmed.usage.prompt_tokens, warmed.usage.cached_tokens))

    async def _round(self, prompt: str, indices: range) -> None:
        self._rounds.append(list(indices))
        async with asyncio.TaskGroup() as group:
            for index in indices:
                group.create_task(self._thread(prompt, index))

    async def _thread(self, prompt: str, index: int) -> None:
        report = self.reused.get(index)
        if report is None:
            report = await self._generate(prompt, index)
            self.usage.add(usage_of(report), report.requests)
        else:
            self.observer(ThreadFinished(report))
        self._ended.append(report)
        self.monitor.ended(report)
        if not self._settled and self.rule.settled(self.ballots()):
            self._settled = True
            await self._abort_live()

    async def _generate(self, prompt: str, index: int) -> ThreadReport:
        lane = Lane(self.backend, index, self.observer, self.monitor.review)
        self._live[index] = lane
        try:
            return await run_thread(self.protocol, lane, prompt, thread_params(self.strategy, index), self.pattern)
        except asyncio.CancelledError:
            self._cut_off(lane.interrupted())
            raise
        finally:
            del self._live[index]

    def _cut_off(self, report: ThreadReport) -> None:
        """A thread the run's stop cancelled still counts: its tokens were generated (and paid for)."""
        self._ended.append(report)
        self.usage.add(usage_of(report), report.requests)
        self.observer(ThreadFinished(report))

    def ended(self) -> list[ThreadReport]:
        """The threads that have ended so far, in the order they ended."""
        return list(self._ended)

    def ballots(self) -> list[Ballot]:
        """The votes so far, in the order threads ended."""
        return [ballot for report in self._ended if (ballot := self.monitor.ballot(report)) is not None]

    async def _abort_live(self) -> None:
        for lane in list(self._live.values()):
            await lane.stop()

    def _outcome(self) -> StepOutcome:
        threads = sorted(self._ended, key=lambda report: report.index)
        critical = self._critical_path(threads)
        return StepOutcome(
            threads=threads,
            vote=self.rule.decide(self.ballots()),
            rounds=len(self._rounds),
            settled_early=self._settled,
            critical_path_tokens=critical,
            tokens_saved=tokens_saved(threads, self.strategy.threads),
            report=self._report(threads, critical),
        )

    def _critical_path(self, threads: Sequence[ThreadReport]) -> int:
        tokens = {report.index: report.latency_tokens for report in threads}
        return sum(max((tokens.get(index, 0) for index in members), default=0) for members in self._rounds)

    def _report(self, threads: Sequence[ThreadReport], critical: int) -> ReasoningReport:
        usage = self._warmed.model_copy()
        for report in threads:
            usage.add(usage_of(report), report.requests)
        return ReasoningReport(
            protocol=self.protocol.name,
            threads=len(threads),
            sampling_rounds=len(self._rounds),
            rounds=max((report.rounds for report in threads), default=0),
            requests=usage.requests,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens,
            critical_path_tokens=critical,
        )


def tokens_saved(threads: Sequence[ThreadReport], planned: int) -> int:
    """Estimated tokens not generated against running all `planned` threads to the end: each thread
    never launched, and the rest of each stopped one, at the mean length of the threads that finished."""
    finished = [report.tokens for report in threads if report.status is ThreadStatus.DONE]
    if not finished:
        return 0
    mean = sum(finished) / len(finished)
    stopped = [report.tokens for report in threads if report.status in (ThreadStatus.ABORTED, ThreadStatus.PRUNED)]
    return round((planned - len(threads)) * mean + sum(max(0.0, mean - tokens) for tokens in stopped))
