"""What runs one step of a plan: a tool through the registry, or a reasoning step as parallel threads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orchestrator.errors import RunError
from orchestrator.events import Observer, StepSampled, ignore
from orchestrator.journal import step_key
from orchestrator.plan import Step, reference, substitute
from orchestrator.result import REUSABLE, ThreadReport, ThreadStatus
from orchestrator.sampling import Sampler, StepOutcome
from orchestrator.spec import Strategy
from orchestrator.step_types import StepOutput
from tools.base import ToolRegistry

if TYPE_CHECKING:
    from orchestrator.resume import FinishedStep, Reuse

FINAL_STEP = "answer"

SamplerFactory = Callable[[Strategy, str, Mapping[int, ThreadReport]], Sampler]
"""Makes the sampler of one reasoning step: its strategy, its id, and the threads it reuses."""


class StepRunner:
    """The engine's executor; keeps every thread and each reasoning step's outcome for the run's report.

    A retried reasoning step keeps the threads of its failed attempt that had ended on their own and
    runs only the others. With `reuse` (a resumed run), a step its journal shows done is not run
    again, and a reasoning step that was cut short runs only the threads that had not ended.
    """

    def __init__(
        self,
        tools: ToolRegistry,
        strategy: Strategy,
        sampler: SamplerFactory,
        observer: Observer = ignore,
        reuse: Reuse | None = None,
    ) -> None:
        self.tools, self.strategy, self.sampler = tools, strategy, sampler
        self.observer, self.reuse = observer, reuse
        self.outcomes: dict[str, StepOutcome] = {}
        self._threads: dict[str, list[ThreadReport]] = {}
        self._tried: dict[str, dict[int, ThreadReport]] = {}

    @property
    def threads(self) -> list[ThreadReport]:
        """Every reasoning step's threads (of its last attempt), step by step."""
        return [thread for threads in self._threads.values() for thread in threads]

    async def __call__(self, step: Step, inputs: Mapping[str, str]) -> StepOutput:
        finished = self.reuse.step(step) if self.reuse else None
        if finished is not None:
            return self._reused(step, finished)
        if step.tool is None:
            return await self._reason(step, substitute(step.prompt, inputs))
        args = substitute(step.args, inputs)
        if isinstance(args, list):
            return StepOutput(json.dumps(await self._calls(step.tool, args), ensure_ascii=False))
        return StepOutput(await self.tools.call(step.tool, args))

    async def _calls(self, tool: str, calls: list[dict[str, Any]]) -> list[str]:
        """Every call at once; the first failure fails the step (and cancels the other calls)."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.tools.call(tool, args)) for args in calls]
        except ExceptionGroup as failures:
            raise failures.exceptions[0] from None
        return [task.result() for task in tasks]

    async def _reason(self, step: Step, prompt: str) -> StepOutput:
        strategy = self.strategy if step.threads is None else self.strategy.model_copy(update={"threads": step.threads})
        reused = self._reusable(step)
        sampler = self.sampler(strategy, step.id, reused)
        try:
            outcome = await sampler.run(strategy.render(prompt))
        except asyncio.CancelledError:
            self._ended(step, sampler.ended())  # a partial result keeps what had finished
            raise
        self._ended(step, outcome.threads)
        self.outcomes[step.id] = outcome
        if self.reuse and reused:
            self.reuse.took_threads([thread for thread in outcome.threads if thread.reused])
        self.observer(StepSampled(step.id, outcome))
        return self._vote(outcome)

    def _reusable(self, step: Step) -> dict[int, ThreadReport]:
        """Threads this step need not generate: ended in an earlier attempt, or in the journal."""
        journaled = self.reuse.threads_of(step) if self.reuse else {}
        return {
            **{index: _as_reused(thread) for index, thread in journaled.items()},
            **self._tried.get(step_key(step), {}),
        }

    def _ended(self, step: Step, threads: list[ThreadReport]) -> None:
        threads = _of_step(sorted(threads, key=lambda thread: thread.index), step.id)
        self._threads[step.id] = threads
        self._tried[step_key(step)] = {thread.index: thread for thread in threads if thread.status in REUSABLE}

    def _reused(self, step: Step, finished: FinishedStep) -> StepOutput:
        outcome = finished.outcome
        if outcome is not None:
            outcome = replace(outcome, threads=[_as_reused(thread) for thread in outcome.threads])
            self._threads[step.id] = _of_step(outcome.threads, step.id)
            self.outcomes[step.id] = outcome
        assert self.reuse is not None
        self.reuse.took_step(step.id, outcome.threads if outcome else [])
        return StepOutput(finished.report.result or "", finished.report.tokens, reused=True)

    def _vote(self, outcome: StepOutcome) -> StepOutput:
        failed = [thread for thread in outcome.threads if thread.status is ThreadStatus.FAILED]
        if len(failed) == len(outcome.threads):
            raise RunError(f"all {len(failed)} threads failed; first error: {failed[0].error}")
        return StepOutput(outcome.vote.answer or _best_text(outcome.threads), sum(t.tokens for t in outcome.threads))


def final_step(task: str, sinks: list[str], taken: Callable[[str], bool]) -> Step:
    """A reasoning step that answers `task` from the results of `sinks`."""
    step_id = FINAL_STEP
    while taken(step_id):
        step_id += "_"
    results = "\n".join(f"- {sink}: {reference(sink)}" for sink in sinks)
    return Step(id=step_id, prompt=f"{task}\n\nResults of the steps so far:\n{results}\n\nAnswer the task.")


def _of_step(threads: list[ThreadReport], step_id: str) -> list[ThreadReport]:
    return [thread.model_copy(update={"step": step_id}) for thread in threads]


def _as_reused(thread: ThreadReport) -> ThreadReport:
    return thread.model_copy(update={"reused": True})


def _best_text(threads: list[ThreadReport]) -> str:
    """Without an extractable answer, the text of the first thread that finished (else the first cut at max_tokens)."""
    ranked = sorted((thread for thread in threads if thread.answered), key=lambda t: t.status is not ThreadStatus.DONE)
    return ranked[0].text.strip() if ranked else ""
