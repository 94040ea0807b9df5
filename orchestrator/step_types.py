"""The vocabulary of the DAG engine: the execution policy, what an executor returns, and the edits a
refiner may propose."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.plan import Plan, Step
from orchestrator.result import StepReport


class Policy(BaseModel):
    """`execution:` in a task file: retries of a failed step (with exponential backoff) and its time limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retries: int = Field(1, ge=0, le=20)
    retry_delay_s: float = Field(0.2, ge=0, le=600)
    step_timeout_s: float | None = Field(600.0, gt=0, le=86_400)


@dataclass(frozen=True, slots=True)
class StepOutput:
    """A step's result; `reused` when it was taken from a resumed run's journal."""

    result: str
    tokens: int = 0
    reused: bool = False


class StepExecutor(Protocol):
    async def __call__(self, step: Step, inputs: Mapping[str, str]) -> StepOutput:
        """Run one step given the results of the steps it needs; raise to fail it."""
        ...


@dataclass(frozen=True, slots=True)
class AddStep:
    step: Step


@dataclass(frozen=True, slots=True)
class CancelStep:
    step_id: str


@dataclass(frozen=True, slots=True)
class ReplaceStep:
    step: Step


Edit = AddStep | CancelStep | ReplaceStep


class Refiner(Protocol):
    every: int
    max_rounds: int

    async def refine(self, plan: Plan, reports: Mapping[str, StepReport]) -> list[Edit]:
        """Edits to the pending part of the plan, given how every step stands."""
        ...


Finalize = Callable[[Plan], Step | None]


def describe(edit: Edit) -> str:
    """An edit in a few words, for the run's notes."""
    match edit:
        case AddStep(step):
            return f"add step '{step.id}'"
        case CancelStep(step_id):
            return f"cancel step '{step_id}'"
        case ReplaceStep(step):
            return f"replace step '{step.id}'"
