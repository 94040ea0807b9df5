"""The human-readable end of a run: the answer, the votes and the cost table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from orchestrator.result import RunResult

RESULT_CHARS = 60


def render_result(result: RunResult) -> RenderableType:
    parts: list[RenderableType] = [_answer(result)]
    if result.votes:
        parts.append(_votes(result))
    if len(result.steps) > 1:
        parts.append(_steps(result))
    parts.append(_cost(result))
    if result.run_dir:
        parts.append(Text.assemble(("Run directory: ", "bold"), result.run_dir, overflow="fold"))
    return Group(*parts)


def _answer(result: RunResult) -> Text:
    if result.stopped is not None:
        return Text.assemble(("Stopped: ", "bold red"), result.stopped, ("  (partial result)", "dim"))
    share = f"{result.support:.0%} of answered threads" if result.votes else "from the final step"
    return Text.assemble(("Answer: ", "bold"), (_clip(str(result.answer), 400), "bold green"), f"  ({share})")


def _steps(result: RunResult) -> Table:
    on_path = set(result.critical_path_steps)
    table = Table(title="Steps (* on the critical path)", title_justify="left", box=None, padding=(0, 2))
    for column in ("step", "does", "status", "start s", "end s", "result or error"):
        table.add_column(column, justify="right" if column.endswith(" s") else "left")
    for step in result.steps:
        table.add_row(
            step.id + (" *" if step.id in on_path else ""),
            step.tool or "reasoning",
            step.status.value,
            _seconds(step.started_s),
            _seconds(step.ended_s),
            _clip(step.result if step.result is not None else step.error or "", RESULT_CHARS),
        )
    return table


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _votes(result: RunResult) -> Table:
    table = Table(title="Votes", title_justify="left", box=None, padding=(0, 2))
    table.add_column("answer")
    table.add_column("threads", justify="right")
    for answer, count in result.votes.items():
        table.add_row(answer, str(count))
    return table


def _cost(result: RunResult) -> Table:
    simulated = result.backend.simulated
    title = "Cost [SIMULATED]" if simulated else "Cost"
    caption = "figures from the embedded simulator, not from a GPU" if simulated else None
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left", box=None, padding=(0, 2))
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in cost_rows(result):
        table.add_row(name, value)
    return table


def cost_rows(result: RunResult) -> list[tuple[str, str]]:
    usage = result.usage
    rows = [
        ("backend", result.backend.model),
        ("steps", _step_counts(result)),
        ("threads", f"{len(result.threads)} ({_status_counts(result)})"),
        ("stopping", _stopping(result)),
        *_protocol_rows(result),
        ("requests", f"{usage.requests}"),
        ("prompt tokens", f"{usage.prompt_tokens:,}"),
        ("  served from cache", f"{usage.cached_tokens:,} ({usage.cache_hit_rate:.0%})"),
        ("tokens generated", f"{usage.completion_tokens:,}"),
        ("  reasoning", f"{usage.reasoning_tokens:,}"),
        ("tokens saved", f"{result.tokens_saved:,}"),
        ("critical path", f"{result.critical_path_tokens:,} tokens"),
        ("wall time", f"{result.wall_s:.2f} s"),
    ]
    gpu_s = result.backend.stats.get("gpu_s")
    if gpu_s is not None:
        rows.append(("simulated GPU time", f"{gpu_s:.2f} s"))
    return rows + _run_rows(result)


_FAULT_COUNTERS = (
    ("retries", "retried requests"),
    ("timed_out_requests", "timed-out requests"),
    ("aborts_ignored", "aborts the server ignored"),
)


def _run_rows(result: RunResult) -> list[tuple[str, str]]:
    """Faults met on the way, the cost in dollars, and what a resumed run reused."""
    stats = result.backend.stats
    rows = [(label, f"{stats[key]:,}") for key, label in _FAULT_COUNTERS if stats.get(key)]
    rows += [] if result.cost is None else [("cost", f"${result.cost:,.4f}")]
    if result.reused is not None:
        reused = result.reused
        rows.append(
            (
                "reused from the journal",
                f"{len(reused.steps)} steps, {reused.threads} threads, {reused.tokens:,} tokens",
            )
        )
    return rows


def _protocol_rows(result: RunResult) -> list[tuple[str, str]]:
    """How the reasoning steps' threads reasoned, when any did more than sample."""
    reports = [step.reasoning for step in result.steps if step.reasoning is not None]
    if all(report.protocol == "sample" for report in reports):
        return []
    shown = (f"{r.protocol}, {r.rounds} round{'s' if r.rounds != 1 else ''}, {r.requests} requests" for r in reports)
    return [("protocol", "; ".join(shown))]


def _status_counts(result: RunResult) -> str:
    return _counts(thread.status.value for thread in result.threads)


def _step_counts(result: RunResult) -> str:
    return f"{len(result.steps)} ({_counts(step.status.value for step in result.steps)})"


def _counts(statuses: Iterable[str]) -> str:
    return ", ".join(f"{count} {status}" for status, count in Counter(statuses).items())


def _stopping(result: RunResult) -> str:
    rule = result.stop + (" + deepprune" if result.pruned else "")
    rounds = f"{result.rounds} round{'s' if result.rounds != 1 else ''}"
    return f"{rule}, {rounds}" + (", settled early" if result.settled_early else "")
