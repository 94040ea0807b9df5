"""The LLM planner: it writes the plan as JSON, streamed, so each step is dispatched as soon as it parses.

The answer is constrained by a JSON schema where the backend supports it (SGLang `json_schema`,
OpenAI `response_format`). A plan that breaks a rule goes back to the planner with the error text:
the steps accepted so far keep running, and the planner writes only the missing ones; after
`max_repairs` such rounds planning fails with the last error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json

from orchestrator.backends.base import Backend, Completion, CompletionRequest, FinishReason, SamplingParams, TextChunk
from orchestrator.errors import PlanError
from orchestrator.plan import Plan, Step, parse_step
from orchestrator.plan_prompts import plan_schema, planner_prompt, repair_prompt
from orchestrator.result import UsageReport


class PlannerConfig(BaseModel):
    """`planner:` in a task file: how the LLM planner is asked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_repairs: int = Field(2, ge=0, le=10)
    max_tokens: int = Field(2048, ge=16, le=100_000)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_steps: int = Field(64, ge=1, le=10_000)


class StepStream:
    """Finds complete step objects in the growing text of a `{"steps": [...]}` answer."""

    def __init__(self) -> None:
        self.text = ""
        self._emitted = 0

    def feed(self, delta: str) -> list[dict[str, Any]]:
        """Steps completed by `delta` (an element is complete once the next one has begun)."""
        self.text += delta
        if "}" not in delta and "," not in delta:
            return []
        steps = _steps_of(_parse(self.text, partial=True))
        return self._new(steps[:-1])

    def close(self) -> list[dict[str, Any]]:
        """The remaining steps of the finished answer; `PlanError` if it is not a plan."""
        return self._new(_steps_of(_parse(self.text, partial=False), strict=True))

    def _new(self, steps: list[Any]) -> list[dict[str, Any]]:
        fresh = steps[self._emitted :]
        self._emitted = max(self._emitted, len(steps))
        return fresh


class Planner:
    """Streams a validated plan for a task from a model on `backend`."""

    def __init__(
        self, backend: Backend, tools: list[dict[str, Any]], config: PlannerConfig, usage: UsageReport
    ) -> None:
        self.backend, self.tools, self.config, self.usage = backend, tools, config, usage
        self.tool_names = [tool["name"] for tool in tools]
        self.attempts = 0

    async def steps(self, task: str) -> AsyncIterator[Step]:
        """Each step as soon as it is written and checked; `PlanError` once repairs run out."""
        accepted = Plan()
        prompt = planner_prompt(task, self.tools)
        for _ in range(self.config.max_repairs + 1):
            self.attempts += 1
            try:
                async for step in self._attempt(prompt, accepted):
                    yield step
                return
            except PlanError as error:
                prompt = repair_prompt(task, self.tools, accepted.dump(), str(error))
                last = error
        raise PlanError(f"no valid plan after {self.attempts} attempts: {last}")

    async def _attempt(self, prompt: str, accepted: Plan) -> AsyncIterator[Step]:
        stream, final = StepStream(), None
        async for event in self.backend.stream(self._request(prompt)):
            if isinstance(event, TextChunk):
                for data in stream.feed(event.text):
                    if (step := self._accept(data, accepted)) is not None:
                        yield step
            elif isinstance(event, Completion):
                final = event
        _check_finished(final, self.usage)
        for data in stream.close():
            if (step := self._accept(data, accepted)) is not None:
                yield step
        if not len(accepted):
            raise PlanError("the plan has no steps")

    def _request(self, prompt: str) -> CompletionRequest:
        schema = json.dumps(plan_schema(self.tool_names))
        params = SamplingParams(self.config.max_tokens, self.config.temperature, json_schema=schema)
        return CompletionRequest(prompt, params)

    def _accept(self, data: dict[str, Any], accepted: Plan) -> Step | None:
        """The step, checked against the accepted ones; None for an accepted step written again unchanged."""
        step = parse_step(data, f"step {len(accepted) + 1}")
        if step.id in accepted and accepted[step.id] == step:
            return None
        if len(accepted) >= self.config.max_steps:
            raise PlanError(f"the plan has more than {self.config.max_steps} steps (planner.max_steps)")
        accepted.add(step, self.tool_names)
        return step


def _check_finished(final: Completion | None, usage: UsageReport) -> None:
    if final is None:
        raise PlanError("the planner's answer ended without a final record")
    usage.add(final.usage)
    if final.finish_reason is FinishReason.LENGTH:
        raise PlanError("the plan was cut off at planner.max_tokens")


def _parse(text: str, partial: bool) -> Any:
    try:
        return from_json(text, allow_partial=partial)
    except ValueError as error:
        if partial:
            return {}
        raise PlanError(f"the plan is not valid JSON ({error})") from None


def _steps_of(document: Any, strict: bool = False) -> list[Any]:
    steps = document.get("steps") if isinstance(document, dict) else None
    if isinstance(steps, list):
        return steps
    if strict:
        raise PlanError('the plan must be a JSON object {"steps": [...]}')
    return []
