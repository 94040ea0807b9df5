"""What runs one step of a plan: a tool through the registry, or a reasoning step as parallel threads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.errors import RunError
from orchestrator.plan import Step, reference, substitute
from orchestrator.result import ThreadReport, ThreadStatus
from orchestrator.sampling import Sampler, StepOutcome
from orchestrator.spec import Strategy
from orchestrator.step_types import StepOutput
from tools.base import ToolRegistry

FINAL_STEP = "answer"


class StepRunner:
    """The engine's executor; keeps every thread and each reasoning step's outcome for the run's report."""

    def __init__(self, tools: ToolRegistry, strategy: Strategy, sampler: Callable[[Strategy, str], Sampler]) -> None:
        self.tools, self.strategy, self.sampler = tools, strategy, sampler
        self.threads: list[ThreadReport] = []
        self.outcomes: dict[str, StepOutcome] = {}

    async def __call__(self, step: Step, inputs: Mapping[str, str]) -> StepOutput:
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
        outcome = await self.sampler(strategy, step.id).run(strategy.render(prompt))
        self.threads += [thread.model_copy(update={"step": step.id}) for thread in outcome.threads]
        self.outcomes[step.id] = outcome
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


def _best_text(threads: list[ThreadReport]) -> str:
    """Without an extractable answer, the text of the first thread that finished (else the first cut at max_tokens)."""
    ranked = sorted((thread for thread in threads if thread.answered), key=lambda t: t.status is not ThreadStatus.DONE)
    return ranked[0].text.strip() if ranked else ""
