"""The human-readable end of a run: the answer, the votes and the cost table."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from orchestrator.result import RunResult


def render_result(result: RunResult) -> RenderableType:
    return Group(_answer(result), _votes(result), _cost(result))


def _answer(result: RunResult) -> Text:
    share = f"{result.support:.0%} of answered threads"
    return Text.assemble(("Answer: ", "bold"), (str(result.answer), "bold green"), f"  ({share})")


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
        ("threads", f"{len(result.threads)} ({_status_counts(result)})"),
        ("stopping", _stopping(result)),
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
    return rows


def _status_counts(result: RunResult) -> str:
    counts: dict[str, int] = {}
    for thread in result.threads:
        counts[thread.status.value] = counts.get(thread.status.value, 0) + 1
    return ", ".join(f"{count} {status}" for status, count in counts.items())


def _stopping(result: RunResult) -> str:
    rule = result.stop + (" + deepprune" if result.pruned else "")
    rounds = f"{result.rounds} round{'s' if result.rounds != 1 else ''}"
    return f"{rule}, {rounds}" + (", settled early" if result.settled_early else "")
