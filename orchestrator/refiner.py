"""The LLM refiner (Flash-Searcher's summary step): after steps finish it may edit the pending plan.

Step results reach the refiner only as data inside its prompt; the plan changes only through the
edits it answers with, and the engine checks each one (an edit that would break the plan is
rejected and noted, never applied).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json

from orchestrator.backends.base import Backend, CompletionRequest, SamplingParams, complete
from orchestrator.errors import PlanError
from orchestrator.plan import Plan, parse_step
from orchestrator.plan_prompts import edits_schema, refiner_prompt, state_line
from orchestrator.result import StepReport, UsageReport
from orchestrator.step_types import AddStep, CancelStep, Edit, ReplaceStep


class RefineConfig(BaseModel):
    """`refine:` in a task file: run the refiner after every `every` finished steps (and after any failure)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: int = Field(3, ge=1, le=10_000)
    max_rounds: int = Field(8, ge=1, le=1_000)
    max_tokens: int = Field(1024, ge=16, le=100_000)
    temperature: float = Field(0.0, ge=0.0, le=2.0)


class LLMRefiner:
    """Asks a model on `backend` for edits to the plan."""

    def __init__(
        self, backend: Backend, task: str, tools: list[dict[str, Any]], config: RefineConfig, usage: UsageReport
    ) -> None:
        self.backend, self.task, self.tools, self.config, self.usage = backend, task, tools, config, usage
        self.every, self.max_rounds = config.every, config.max_rounds

    async def refine(self, plan: Plan, reports: Mapping[str, StepReport]) -> list[Edit]:
        state = [_line(plan, reports[step.id]) for step in plan]
        prompt = refiner_prompt(self.task, self.tools, state)
        schema = json.dumps(edits_schema(tool["name"] for tool in self.tools))
        params = SamplingParams(self.config.max_tokens, self.config.temperature, json_schema=schema)
        completion = await complete(self.backend, CompletionRequest(prompt, params))
        self.usage.add(completion.usage)
        return parse_edits(completion.text)


def parse_edits(text: str) -> list[Edit]:
    """The edits in a refiner's answer `{"edits": [...]}`; `PlanError` if it is not one."""
    try:
        document = from_json(text)
    except ValueError as error:
        raise PlanError(f"the refiner's answer is not valid JSON ({error})") from None
    edits = document.get("edits") if isinstance(document, dict) else None
    if not isinstance(edits, list):
        raise PlanError('the refiner must answer a JSON object {"edits": [...]}')
    return [_edit(item, i) for i, item in enumerate(edits)]


def _edit(item: Any, index: int) -> Edit:
    op = item.get("op") if isinstance(item, dict) else None
    if op == "cancel" and isinstance(item.get("id"), str):
        return CancelStep(item["id"])
    if op in ("add", "replace"):
        step = parse_step(item.get("step"), f"edit {index + 1}")
        return AddStep(step) if op == "add" else ReplaceStep(step)
    raise PlanError(f"edit {index + 1}: expected op add or replace with a step, or cancel with an id")


def _line(plan: Plan, report: StepReport) -> str:
    step = plan[report.id].model_dump(mode="json", exclude_defaults=True)
    return state_line(step, report.status.value, report.result, report.error)
