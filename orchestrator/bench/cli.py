"""The terminal side of `orchestrate bench`: progress, the summary table, the output file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orchestrator.bench._table import measure_table
from orchestrator.bench.prune import BenchSummary, bench_prune, preset
from orchestrator.errors import OrchestrateError


def run_bench_prune(
    traces: Path, strategy: str, out: Path, order_seed: int | None, limit: int | None, answer_pattern: str | None
) -> None:
    preset(strategy)  # an unknown name fails before the output file is opened
    try:
        with out.open("w", encoding="utf-8") as sink:
            summary = asyncio.run(
                bench_prune(traces, strategy, sink, order_seed=order_seed, limit=limit, answer_pattern=answer_pattern)
            )
    except OSError as error:
        raise OrchestrateError(f"{out}: cannot write: {error.strerror}") from None
    Console().print(summary_table(summary))


def summary_table(summary: BenchSummary) -> Table:
    title = f"bench prune: {summary.strategy}  [REPLAY of recorded traces; timing simulated]"
    rows = {
        "problems": str(summary.problems),
        "accuracy": f"{summary.accuracy:.3f}",
        "words generated": f"{summary.tokens:,}",
        "words of cons@N": f"{summary.cons_tokens:,}",
        "relative to cons@N": f"{summary.relative:.3f} ({1 - summary.relative:.1%} fewer)",
        "threads started (mean)": f"{summary.mean_started:.2f}",
        "threads finished (mean)": f"{summary.mean_finished:.2f}",
        "wall time (s, this machine)": f"{summary.wall_s:.1f}",
    }
    return measure_table(title, rows)
