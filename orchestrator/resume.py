"""Resuming a run from its journal: what finished is taken from it, not generated again.

A step is reused whole when the journal shows it done with the same definition (its `key`); a
reasoning step that was cut short keeps each of its threads that had ended on its own (done, cut at
`max_tokens`, or pruned), so only the rest run again. A torn last line is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.aggregate import Vote
from orchestrator.backends.base import Usage
from orchestrator.errors import TaskFileError, UsageError
from orchestrator.journal import JOURNAL_FILE, step_key
from orchestrator.plan import Step
from orchestrator.result import REUSABLE, ReasoningReport, ReuseReport, StepReport, StepStatus, ThreadReport
from orchestrator.sampling import StepOutcome
from orchestrator.spec import TaskSpec, parse_task
from orchestrator.threads import usage_of


@dataclass(frozen=True, slots=True)
class FinishedStep:
    report: StepReport
    outcome: StepOutcome | None


@dataclass(slots=True)
class Reuse:
    """What a resumed run takes from its journal, and what it has taken so far."""

    steps: dict[str, FinishedStep] = field(default_factory=dict)
    threads: dict[str, dict[int, ThreadReport]] = field(default_factory=dict)
    plan: tuple[Step, ...] | None = None
    spent: Usage = field(default_factory=Usage)
    spent_requests: int = 0
    taken: ReuseReport = field(default_factory=ReuseReport)

    def step(self, step: Step) -> FinishedStep | None:
        return self.steps.get(step_key(step))

    def threads_of(self, step: Step) -> Mapping[int, ThreadReport]:
        return self.threads.get(step_key(step), {})

    def took_step(self, step_id: str, threads: list[ThreadReport]) -> None:
        self.taken.steps.append(step_id)
        self.took_threads(threads)

    def took_threads(self, threads: list[ThreadReport]) -> None:
        self.taken.threads += len(threads)
        self.taken.tokens += sum(thread.tokens for thread in threads)


@dataclass(frozen=True, slots=True)
class Resumed:
    """An interrupted run: its task as it was resolved, where its files were, and what to reuse."""

    spec: TaskSpec
    base_dir: Path
    reuse: Reuse


def read_run(directory: Path) -> Resumed:
    """Read `DIR/journal.jsonl`; a missing or damaged journal is a one-line usage error."""
    records = list(_records(directory / JOURNAL_FILE))
    if not records or records[0].get("event") != "run_started":
        raise UsageError(f"{directory / JOURNAL_FILE}: does not start with a run_started record")
    start = records[0]
    spec = _spec(start.get("task"), directory)
    return Resumed(spec, Path(str(start.get("base_dir", "."))), _Reader().read(records))


def _spec(task: Any, directory: Path) -> TaskSpec:
    try:
        return parse_task(task, str(directory / JOURNAL_FILE))
    except TaskFileError as error:
        raise UsageError(f"the journal's task is not valid any more: {error}") from None


def _records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as error:
        raise UsageError(f"{path}: cannot read the journal: {error.strerror or error}") from None
    last = len(lines) - 1 if lines[-1] else len(lines) - 2
    for number, line in enumerate(lines, 1):
        record = _parse(line)
        if isinstance(record, dict):
            yield record
        elif line.strip() and number - 1 < last:
            raise UsageError(f"{path}:{number}: not a journal record; the journal is damaged")


def _parse(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


class _Reader:
    """Folds the records into a `Reuse`, tracking which definition each step id ran under."""

    def __init__(self) -> None:
        self.reuse = Reuse()
        self.keys: dict[str, str] = {}
        self.outcomes: dict[str, StepOutcome] = {}
        self.ended: dict[str, dict[int, ThreadReport]] = {}
        self.plan: list[Step] = []

    def read(self, records: list[dict[str, Any]]) -> Reuse:
        for record in records:
            try:
                self._fold(record)
            except (KeyError, TypeError, ValueError, ValidationError) as error:
                raise UsageError(f"the journal has a damaged {record.get('event')!r} record: {error}") from None
        return self.reuse

    def _fold(self, record: dict[str, Any]) -> None:
        match record.get("event"):
            case "run_resumed":
                self.plan = []
            case "plan_step":
                self.plan.append(Step.model_validate(record["step"]))
            case "plan_complete":
                self.reuse.plan = tuple(self.plan)
            case "step_started" if record.get("key"):
                self.keys[record["step"]] = record["key"]
            case "thread_finished":
                self._thread(ThreadReport.model_validate(record["thread"]))
            case "step_sampled":
                self._sampled(record["step"], record["outcome"])
            case "step_finished":
                self._finished(StepReport.model_validate(record["report"]))

    def _thread(self, thread: ThreadReport) -> None:
        self.reuse.spent += usage_of(thread)
        self.reuse.spent_requests += thread.requests
        key = self.keys.get(thread.step or "")
        if key is None:
            return
        self.ended.setdefault(key, {})[thread.index] = thread
        if thread.status in REUSABLE:
            self.reuse.threads.setdefault(key, {})[thread.index] = thread

    def _sampled(self, step_id: str, outcome: dict[str, Any]) -> None:
        key = self.keys[step_id]
        threads = self.ended.get(key, {})
        self.outcomes[key] = StepOutcome(
            threads=[threads[index] for index in outcome["threads"] if index in threads],
            vote=Vote(**outcome["vote"]),
            rounds=outcome["rounds"],
            settled_early=outcome["settled_early"],
            critical_path_tokens=outcome["critical_path_tokens"],
            tokens_saved=outcome["tokens_saved"],
            report=ReasoningReport.model_validate(outcome["report"]),
        )

    def _finished(self, report: StepReport) -> None:
        key = self.keys.get(report.id)
        if key is not None and report.status is StepStatus.DONE:
            self.reuse.steps[key] = FinishedStep(report, self.outcomes.get(key))
