"""Live progress of a run in the terminal: steps, threads running and finished, tokens, answers so far."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.events import (
    Event,
    PrefixWarmed,
    StepFinished,
    StepStarted,
    ThreadFinished,
    ThreadProgress,
    ThreadStarted,
)

MAX_ROWS = 12


@dataclass(slots=True)
class _Row:
    tokens: int = 0
    status: str = "running"
    answer: str = ""


class LiveProgress:
    """An observer that renders a compact, throttled live view of the threads of a run."""

    def __init__(self, console: Console, label: str) -> None:
        self.label = label
        self.rows: dict[tuple[str, int], _Row] = {}
        self.steps: dict[str, str] = {}
        self.prefix = ""
        self.live = Live(console=console, get_renderable=self.render, refresh_per_second=8, transient=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, ThreadProgress):
            self.rows[(event.step or "", event.index)].tokens = event.tokens
        elif isinstance(event, ThreadStarted):
            self.rows[(event.step or "", event.index)] = _Row()
        elif isinstance(event, ThreadFinished):
            self._finish(event)
        elif isinstance(event, StepStarted | StepFinished):
            self._step(event)
        elif isinstance(event, PrefixWarmed):
            self.prefix = f"shared prefix {event.prompt_tokens} tokens warmed"

    def _finish(self, event: ThreadFinished) -> None:
        report = event.report
        row = self.rows.setdefault((report.step or "", report.index), _Row())  # a reused thread never started here
        status = f"{report.status.value} (reused)" if report.reused else report.status.value
        row.tokens, row.status, row.answer = report.tokens, status, report.answer or ""

    def _step(self, event: StepStarted | StepFinished) -> None:
        if isinstance(event, StepStarted):
            self.steps[event.step_id] = "running"
        else:
            self.steps[event.report.id] = event.report.status.value

    def render(self) -> RenderableType:
        running = sum(row.status == "running" for row in self.rows.values())
        tokens = sum(row.tokens for row in self.rows.values())
        head = Text(
            f"{self.label}  threads: {running} running, {len(self.rows) - running} finished  "
            f"tokens: {tokens:,}  {self.prefix}",
            style="bold",
        )
        return Group(head, self._steps_line(), self._table()) if len(self.steps) > 1 else Group(head, self._table())

    def _steps_line(self) -> Text:
        counts = Counter(self.steps.values())
        running = [step for step, status in self.steps.items() if status == "running"]
        shown = ", ".join(running[:6]) + (" ..." if len(running) > 6 else "")
        summary = ", ".join(f"{count} {status}" for status, count in counts.items())
        return Text(f"steps: {summary}" + (f"  (running: {shown})" if running else ""))

    def _table(self) -> Table:
        table = Table(box=None, padding=(0, 2))
        for column in ("thread", "status", "tokens", "answer"):
            table.add_column(column)
        shown = sorted(self.rows.items(), key=lambda item: (item[1].status != "running", item[0]))
        for (step, index), row in shown[:MAX_ROWS]:
            table.add_row(f"{step} {index}".strip(), row.status, f"{row.tokens:,}", row.answer)
        if len(shown) > MAX_ROWS:
            table.add_row("...", f"{len(shown) - MAX_ROWS} more", "", "")
        return table

    def __enter__(self) -> Self:
        self.live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.live.stop()
