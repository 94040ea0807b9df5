"""Events a run emits while it works, for progress displays and (later) the run journal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.result import StepReport, ThreadReport


@dataclass(frozen=True, slots=True)
class PrefixWarmed:
    prompt_tokens: int
    cached_tokens: int


@dataclass(frozen=True, slots=True)
class ThreadStarted:
    index: int


@dataclass(frozen=True, slots=True)
class ThreadProgress:
    index: int
    tokens: int


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
