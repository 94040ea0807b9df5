"""The terminal side of `orchestrate bench dag`: the output file and the summary table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orchestrator.bench._table import measure_table
from orchestrator.bench.dag import DagSummary, bench_dag, load_fanoutqa
from orchestrator.errors import OrchestrateError


def run_bench_dag(fanoutqa: Path, out: Path, latency: float, limit: int | None) -> None:
    questions = load_fanoutqa(fanoutqa)[:limit]
    try:
        with out.open("w", encoding="utf-8") as sink:
            summary = asyncio.run(bench_dag(questions, latency, sink))
    except OSError as error:
        raise OrchestrateError(f"{out}: cannot write: {error.strerror}") from None
    Console().print(summary_table(summary, latency))


def summary_table(summary: DagSummary, latency: float) -> Table:
    title = f"bench dag: {summary.questions} questions, lookup latency L = {latency:g} s  [real asyncio timing on this machine]"
    rows = {
        "steps": f"{summary.steps:,}",
        "makespan (sum)": f"{summary.makespan_s:.2f} s",
        "critical-path bound (sum)": f"{summary.critical_path_s:.2f} s ({_in_l(summary.critical_path_s, latency)})",
        "one step at a time (sum)": f"{summary.sequential_s:.2f} s ({_in_l(summary.sequential_s, latency)})",
        "makespan over the bound": f"{summary.over_bound:+.2%}",
        "speedup over one at a time": f"{summary.speedup:.2f}x (ideal {summary.ideal_speedup:.2f}x)",
        "overhead per step": f"{summary.overhead_us_per_step:.0f} us",
    }
    return measure_table(title, rows)


def _in_l(seconds: float, latency: float) -> str:
    return f"{seconds / latency:,.0f} L" if latency else "L = 0"
