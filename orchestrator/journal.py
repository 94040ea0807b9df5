"""The run journal: `DIR/journal.jsonl`, an append-only log of a run, flushed as each event happens.

One JSON object per line, each with `event` and `at` (UTC, ISO 8601):

- `run_started` (`task`: the resolved task, `base_dir`), then `run_resumed` each time it is resumed;
- `plan_step` for each step the planner streamed, `plan_complete` once it is done;
- `step_started` (`step`, `key`: a hash of the step's definition, `attempt`);
- `thread_finished` (`step`, `thread`: its report with its text and usage, pruned and aborted ones too);
- `step_sampled` (`step`, `outcome`: a reasoning step's vote and cost), `step_finished` (`step`, `report`);
- `error` (`message`), and `run_finished` (`result`), also written whole to `DIR/result.json`.

Secrets from the environment are redacted from every line (`orchestrator.redaction`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from orchestrator._files import cut_torn_tail, write_atomically
from orchestrator.errors import OrchestrateError, UsageError
from orchestrator.events import (
    Event,
    PlanComplete,
    PlanStepAdded,
    StepFinished,
    StepSampled,
    StepStarted,
    ThreadFinished,
)
from orchestrator.plan import Step
from orchestrator.redaction import redact, secret_values
from orchestrator.result import RunResult
from orchestrator.sampling import StepOutcome
from orchestrator.spec import TaskSpec

RUNS_VARIABLE = "ORCHESTRATE_RUNS"
JOURNAL_FILE = "journal.jsonl"
RESULT_FILE = "result.json"
FORMAT = 1


def runs_home() -> Path:
    """Where run directories go by default: `$ORCHESTRATE_RUNS`, else `$XDG_STATE_HOME/orchestrate/runs`
    (`~/.local/state/orchestrate/runs`)."""
    if chosen := os.environ.get(RUNS_VARIABLE):
        return Path(chosen).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "orchestrate" / "runs"


def new_run_dir(name: str) -> Path:
    """A fresh run directory under `runs_home()`, named for the time (UTC) and the task file."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:40].strip("-.") or "task"
    return runs_home() / f"{stamp}-{slug}-{secrets.token_hex(3)}"


def step_key(step: Step) -> str:
    """A short hash of a step's whole definition: a journaled step is reused only if it is unchanged."""
    return hashlib.sha256(step.model_dump_json().encode()).hexdigest()[:16]


class Journal:
    """Appends a run's events to `DIR/journal.jsonl`; call it as the run's observer."""

    def __init__(self, directory: Path, stream: IO[str]) -> None:
        self.directory, self.path = directory, directory / JOURNAL_FILE
        self._stream = stream
        self._secrets = secret_values()

    @classmethod
    def create(cls, directory: Path) -> Journal:
        """A new journal; a directory that already holds a run is refused (resume it instead)."""
        path = directory / JOURNAL_FILE
        if path.exists() and path.stat().st_size > 0:
            raise UsageError(f"{directory} already holds a run; continue it with --resume {directory}")
        return cls(directory, _open(directory, path))

    @classmethod
    def reopen(cls, directory: Path) -> Journal:
        """The journal of an interrupted run, its torn last line (if it was killed mid-write) cut off."""
        path = directory / JOURNAL_FILE
        _cut_torn_tail(path)
        return cls(directory, _open(directory, path))

    def started(self, spec: TaskSpec, base_dir: Path) -> None:
        task = spec.model_dump(mode="json")
        self.write("run_started", format=FORMAT, task=task, base_dir=str(base_dir.resolve()))

    def resumed(self) -> None:
        self.write("run_resumed")

    def failed(self, message: str) -> None:
        self.write("error", message=message)

    def finished(self, result: RunResult) -> None:
        """The final (or partial) result: a `run_finished` line and `DIR/result.json`."""
        payload = result.model_dump(mode="json")
        self.write("run_finished", result=payload)
        write_atomically(self.directory / RESULT_FILE, self._redact(json.dumps(payload, indent=2)) + "\n")

    def __call__(self, event: Event) -> None:
        record = _record(event)
        if record is not None:
            name, fields = record
            self.write(name, **fields)

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "at": _now(), **fields}, ensure_ascii=False)
        try:
            self._stream.write(self._redact(line) + "\n")
            self._stream.flush()
        except OSError as error:
            raise OrchestrateError(f"{self.path}: cannot write the journal: {error.strerror}") from None

    def close(self) -> None:
        try:
            os.fsync(self._stream.fileno())
        except OSError:
            pass  # not every file system syncs; every line was flushed already
        self._stream.close()

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def outcome_record(outcome: StepOutcome) -> dict[str, Any]:
    """A reasoning step's outcome as the journal keeps it; its threads are journaled one by one."""
    return {
        "threads": [thread.index for thread in outcome.threads],
        "vote": dataclasses.asdict(outcome.vote),
        "rounds": outcome.rounds,
        "settled_early": outcome.settled_early,
        "critical_path_tokens": outcome.critical_path_tokens,
        "tokens_saved": outcome.tokens_saved,
        "report": outcome.report.model_dump(mode="json"),
    }


def _record(event: Event) -> tuple[str, dict[str, Any]] | None:
    match event:
        case PlanStepAdded(step):
            return "plan_step", {"step": step.model_dump(mode="json")}
        case PlanComplete():
            return "plan_complete", {}
        case StepStarted(step_id, attempt, step):
            return "step_started", {"step": step_id, "key": step and step_key(step), "attempt": attempt}
        case ThreadFinished(report) if not report.reused:
            return "thread_finished", {"step": report.step, "thread": report.model_dump(mode="json")}
        case StepSampled(step_id, outcome):
            return "step_sampled", {"step": step_id, "outcome": outcome_record(outcome)}
        case StepFinished(report):
            return "step_finished", {"step": report.id, "report": report.model_dump(mode="json")}
    return None


def _open(directory: Path, path: Path) -> IO[str]:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return path.open("a", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{directory}: cannot write the run directory: {error.strerror}") from None


def _cut_torn_tail(path: Path) -> None:
    try:
        cut_torn_tail(path)
    except OSError as error:
        raise UsageError(f"{path}: cannot open the journal: {error.strerror}") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
