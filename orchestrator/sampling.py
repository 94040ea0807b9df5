"""Adaptive sampling of one reasoning step on one shared prompt prefix.

The prefix is warmed once; then threads are launched in rounds (the stopping rule says how many per
round). While they stream, a monitor may abort redundant or hopeless ones (DeepPrune, DeepConf); each
time a thread ends the stopping rule looks at the votes, and once it calls the vote settled every
thread still running is aborted on the backend and nothing more is launched.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.aggregate import Vote
from orchestrator.backends.base import Backend, CompletionRequest
from orchestrator.events import Observer, PrefixWarmed
from orchestrator.pruning import Monitor
from orchestrator.result import ThreadReport, ThreadStatus, UsageReport
from orchestrator.spec import Strategy
from orchestrator.stopping import Ballot, StopRule
from orchestrator.threads import abort_quietly, run_thread, thread_params, usage_of, warm_prefix


@dataclass(frozen=True, slots=True)
class StepOutcome:
    threads: list[ThreadReport]
    vote: Vote
    rounds: int
    settled_early: bool
    critical_path_tokens: int
    tokens_saved: int


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
    ) -> None:
        self.backend, self.strategy, self.rule, self.monitor = backend, strategy, rule, monitor
        self.usage, self.observer, self.pattern = usage, observer, pattern
        self._ended: list[ThreadReport] = []
        self._live: dict[int, str] = {}
        self._settled = False
        self._rounds: list[list[int]] = []

    async def run(self, prompt: str) -> StepOutcome:
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
        self.observer(PrefixWarmed(warmed.usage.prompt_tokens, warmed.usage.cached_tokens))

    async def _round(self, prompt: str, indices: range) -> None:
        self._rounds.append(list(indices))
        async with asyncio.TaskGroup() as group:
            for index in indices:
                group.create_task(self._thread(prompt, index))

    async def _thread(self, prompt: str, index: int) -> None:
        request = CompletionRequest(prompt, thread_params(self.strategy, index))
        self._live[index] = request.request_id
        try:
            report = await run_thread(self.backend, index, request, self.observer, self.monitor.review, self.pattern)
        finally:
            del self._live[index]
        self._ended.append(report)
        self.usage.add(usage_of(report))
        self.monitor.ended(report)
        if not self._settled and self.rule.settled(self.ballots()):
            self._settled = True
            await self._abort_live()

    def ballots(self) -> list[Ballot]:
        """The votes so far, in the order threads ended."""
        return [ballot for report in self._ended if (ballot := self.monitor.ballot(report)) is not None]

    async def _abort_live(self) -> None:
        for request_id in list(self._live.values()):
            await abort_quietly(self.backend, request_id)

    def _outcome(self) -> StepOutcome:
        threads = sorted(self._ended, key=lambda report: report.index)
        return StepOutcome(
            threads=threads,
            vote=self.rule.decide(self.ballots()),
            rounds=len(self._rounds),
            settled_early=self._settled,
            critical_path_tokens=self._critical_path(threads),
            tokens_saved=tokens_saved(threads, self.strategy.threads),
        )

    def _critical_path(self, threads: Sequence[ThreadReport]) -> int:
        tokens = {report.index: report.tokens for report in threads}
        return sum(max((tokens.get(index, 0) for index in members), default=0) for members in self._rounds)


def tokens_saved(threads: Sequence[ThreadReport], planned: int) -> int:
    """Estimated tokens not generated against running all `planned` threads to the end: each thread
    never launched, and the rest of each stopped one, at the mean length of the threads that finished."""
    finished = [report.tokens for report in threads if report.status is ThreadStatus.DONE]
    if not finished:
        return 0
    mean = sum(finished) / len(finished)
    stopped = [report.tokens for report in threads if report.status in (ThreadStatus.ABORTED, ThreadStatus.PRUNED)]
    return round((planned - len(threads)) * mean + sum(max(0.0, mean - tokens) for tokens in stopped))
