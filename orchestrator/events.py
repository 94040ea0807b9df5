"""Events a run emits while it works, for progress displays and the run journal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from orchestrator.plan import Step
from orchestrator.result import StepReport, ThreadReport

if TYPE_CHECKING:
    from orchestrator.sampling import StepOutcome


@dataclass(frozen=True, slots=True)
class PrefixWarmed:
    prompt_tokens: int
    cached_tokens: int
    step: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadStarted:
    index: int
    step: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadProgress:
    index: int
    tokens: int
    step: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadFinished:
    report: ThreadReport


@dataclass(frozen=True, slots=True)
class StepStarted:
    step_id: str
    attempt: int
    step: Step | None = None


@dataclass(frozen=True, slots=True)
class PlanStepAdded:
    """A step the planner streamed (a given plan is known whole before the run starts)."""

    step: Step


@dataclass(frozen=True, slots=True)
class PlanComplete:
    """The planner has streamed its last step."""


@dataclass(frozen=True, slots=True)
class StepSampled:
    """A reasoning step's threads have all ended and voted."""

    step_id: str
    outcome: StepOutcome


@dataclass(frozen=True, slots=True)
class StepFinished:
    report: StepReport


Event = (
    PrefixWarmed
    | ThreadStarted
    | ThreadProgress
    | ThreadFinished
    | StepStarted
    | StepFinished
    | PlanStepAdded
    | PlanComplete
    | StepSampled
)
Observer = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The observer of a run nobody watches."""


def for_step(observer: Observer, step: str) -> Observer:
    """`observer`, with the thread events of one reasoning step tagged with its id."""
    if observer is ignore:
        return ignore

    def tagged(event: Event) -> None:
        if isinstance(event, PrefixWarmed | ThreadStarted | ThreadProgress):
            event = replace(event, step=step)
        elif isinstance(event, ThreadFinished):
            event = ThreadFinished(event.report.model_copy(update={"step": step}))
        observer(event)

    return tagged


def fan_out(*observers: Observer) -> Observer:
    """One observer that hands each event to every one of `observers` (those that watch at all)."""
    watching = [observer for observer in observers if observer is not ignore]
    if len(watching) <= 1:
        return watching[0] if watching else ignore

    def every(event: Event) -> None:
        for observer in watching:
            observer(event)

    return every
