"""The Orchestrator: the async entry point that runs a task and reports what it cost."""

from __future__ import annotations

import time

from orchestrator.aggregate import majority_vote
from orchestrator.backends import Backend, create_backend
from orchestrator.backends.base import AsyncClosing
from orchestrator.backends.stack import with_limits
from orchestrator.errors import RunError
from orchestrator.events import Observer, ignore
from orchestrator.result import BackendReport, RunResult, ThreadReport, ThreadStatus, UsageReport
from orchestrator.spec import Strategy, TaskSpec
from orchestrator.threads import fan_out


class Orchestrator(AsyncClosing):
    """Runs tasks on one backend; use as `async with Orchestrator(backend) as o: await o.run(task)`."""

    def __init__(self, backend: Backend, strategy: Strategy | None = None, observer: Observer = ignore) -> None:
        self.backend = backend
        self.strategy = strategy or Strategy()
        self.observer = observer

    @classmethod
    def from_spec(cls, spec: TaskSpec, observer: Observer = ignore) -> Orchestrator:
        return cls(with_limits(create_backend(spec.backend), spec.limits), spec.strategy, observer)

    async def run(self, task: str | TaskSpec) -> RunResult:
        """Fan the task out into parallel threads, vote, and report the cost."""
        text = task.task if isinstance(task, TaskSpec) else task
        strategy = task.strategy if isinstance(task, TaskSpec) else self.strategy
        started = time.perf_counter()
        usage = UsageReport()
        threads = await fan_out(self.backend, strategy.render(text), strategy, usage, self.observer)
        _require_some_success(threads)
        vote = majority_vote([thread.answer for thread in threads])
        return RunResult(
            task=text,
            answer=vote.answer,
            votes=vote.counts,
            support=round(vote.support, 4),
            threads=threads,
            usage=usage,
            wall_s=round(time.perf_counter() - started, 6),
            critical_path_tokens=max(thread.tokens for thread in threads),
            backend=BackendReport.from_info(self.backend.info()),
        )

    async def close(self) -> None:
        await self.backend.close()


async def run_task(spec: TaskSpec, observer: Observer = ignore) -> RunResult:
    """Run a loaded task file on the backend it names."""
    async with Orchestrator.from_spec(spec, observer) as orchestrator:
        return await orchestrator.run(spec)


def _require_some_success(threads: list[ThreadReport]) -> None:
    if all(thread.status is ThreadStatus.FAILED for thread in threads):
        raise RunError(f"all {len(threads)} threads failed; first error: {threads[0].error}")
