"""Events a run emits while it works, for progress displays and (later) the run journal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from orchestrator.result import StepReport, ThreadReport


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


@dataclass(frozen=True, slots=True)
class StepFinished:
    report: StepReport


Event = PrefixWarmed | ThreadStarted | ThreadProgress | ThreadFinished | StepStarted | StepFinished
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
