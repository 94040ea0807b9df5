"""Live progress of a run in the terminal: threads running and finished, tokens, answers so far."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.events import Event, PrefixWarmed, ThreadFinished, ThreadProgress, ThreadStarted

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
        self.rows: dict[int, _Row] = {}
        self.prefix = ""
        self.live = Live(console=console, get_renderable=self.render, refresh_per_second=8, transient=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, ThreadProgress):
            self.rows[event.index].tokens = event.tokens
        elif isinstance(event, ThreadStarted):
            self.rows[event.index] = _Row()
        elif isinstance(event, ThreadFinished):
            self._finish(event)
        elif isinstance(event, PrefixWarmed):
            self.prefix = f"shared prefix {event.prompt_tokens} tokens warmed"

    def _finish(self, event: ThreadFinished) -> None:
        row = self.rows[event.report.index]
        row.tokens, row.status, row.answer = event.report.tokens, event.report.status.value, event.report.answer or ""

    def render(self) -> RenderableType:
        running = sum(row.status == "running" for row in self.rows.values())
        tokens = sum(row.tokens for row in self.rows.values())
        head = Text(
            f"{self.label}  threads: {running} running, {len(self.rows) - running} finished  "
            f"tokens: {tokens:,}  {self.prefix}",
            style="bold",
        )
        return Group(head, self._table())

    def _table(self) -> Table:
        table = Table(box=None, padding=(0, 2))
        for column in ("thread", "status", "tokens", "answer"):
            table.add_column(column)
        shown = sorted(self.rows.items(), key=lambda item: (item[1].status != "running", item[0]))
        for index, row in shown[:MAX_ROWS]:
            table.add_row(str(index), row.status, f"{row.tokens:,}", row.answer)
        if len(shown) > MAX_ROWS:
            table.add_row("...", f"{len(shown) - MAX_ROWS} more", "", "")
        return table

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.live.stop()
