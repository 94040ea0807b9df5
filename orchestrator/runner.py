"""The Orchestrator: the async entry point that runs a task and reports what it cost."""

from __future__ import annotations

import time

from judges.base import Judge
from orchestrator.backends import Backend, create_backend
from orchestrator.backends.base import AsyncClosing
from orchestrator.backends.stack import with_limits
from orchestrator.errors import RunError
from orchestrator.events import Observer, ignore
from orchestrator.result import BackendReport, RunResult, ThreadReport, ThreadStatus, UsageReport
from orchestrator.sampling import Sampler
from orchestrator.spec import Strategy, TaskSpec
from orchestrator.strategies import build_monitor, build_rule


class Orchestrator(AsyncClosing):
    """Runs tasks on one backend; use as `async with Orchestrator(backend) as o: await o.run(task)`.

    `judge` overrides the judge `strategy.prune` names (any object with the `Judge` protocol).
    """

    def __init__(
        self,
        backend: Backend,
        strategy: Strategy | None = None,
        observer: Observer = ignore,
        judge: Judge | None = None,
    ) -> None:
        self.backend = backend
        self.strategy = strategy or Strategy()
        self.observer = observer
        self.judge = judge

    @classmethod
    def from_spec(cls, spec: TaskSpec, observer: Observer = ignore) -> Orchestrator:
        return cls(with_limits(create_backend(spec.backend), spec.limits), spec.strategy, observer)

    async def run(self, task: str | TaskSpec) -> RunResult:
        """Sample the task in parallel threads (pruning and stopping as the strategy says), vote, report the cost."""
        text = task.task if isinstance(task, TaskSpec) else task
        strategy = task.strategy if isinstance(task, TaskSpec) else self.strategy
        started = time.perf_counter()
        usage = UsageReport()
        sampler = self.sampler(strategy, usage)
        step = await sampler.run(strategy.render(text))
        _require_some_success(step.threads)
        return RunResult(
            task=text,
            answer=step.vote.answer,
            votes=step.vote.counts,
            support=round(step.vote.support, 4),
            threads=step.threads,
            usage=usage,
            wall_s=round(time.perf_counter() - started, 6),
            critical_path_tokens=step.critical_path_tokens,
            tokens_saved=step.tokens_saved,
            stop=sampler.rule.name,
            pruned=strategy.prune is not None,
            rounds=step.rounds,
            settled_early=step.settled_early,
            backend=BackendReport.from_info(self.backend.info()),
        )

    def sampler(self, strategy: Strategy, usage: UsageReport) -> Sampler:
        """The sampler of one reasoning step under `strategy`."""
        rule = build_rule(strategy, self.backend)
        monitor = build_monitor(strategy, self.backend, self.judge)
        return Sampler(self.backend, strategy, rule, monitor, usage, self.observer, strategy.pattern())

    async def close(self) -> None:
        await self.backend.close()


async def run_task(spec: TaskSpec, observer: Observer = ignore) -> RunResult:
    """Run a loaded task file on the backend it names."""
    async with Orchestrator.from_spec(spec, observer) as orchestrator:
        return await orchestrator.run(spec)


def _require_some_success(threads: list[ThreadReport]) -> None:
    if all(thread.status is ThreadStatus.FAILED for thread in threads):
        raise RunError(f"all {len(threads)} threads failed; first error: {threads[0].error}")
