"""Every `bench prune` strategy on the recorded ESC traces, over several sample orders, in one table.

    python benchmarks/prune.py [--traces PATH] [--orders 12]

A REPLAY of recorded GPT-3.5 traces (timing from the simulator; cost in whitespace words). Order 0 is
the file's order; order k > 0 shuffles each problem's samples with seed k, which shows how much a
strategy's figures depend on the order samples happen to arrive in; each order's accuracy is also
compared with cons@40's on the same order (cons@40's own accuracy moves with the order through ties).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
from pathlib import Path

from orchestrator.bench.prune import PRESETS, BenchSummary, bench_prune
from orchestrator.errors import UsageError

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "traces" / "esc_gpt35_last_letters.jsonl"


async def runs(traces: Path, strategy: str, orders: int) -> list[BenchSummary]:
    seeds = [None, *range(1, orders)]
    return [await bench_prune(traces, strategy, io.StringIO(), order_seed=seed) for seed in seeds]


def row(strategy: str, summaries: list[BenchSummary], cons: list[BenchSummary]) -> str:
    accuracy = [s.accuracy for s in summaries]
    fewer = [1 - s.relative for s in summaries]
    as_good = sum(s.accuracy >= c.accuracy for s, c in zip(summaries, cons, strict=True))
    return (
        f"| {strategy} | {accuracy[0]:.3f} | {min(accuracy):.3f}-{max(accuracy):.3f} | {as_good}/{len(cons)} "
        f"| {summaries[0].tokens:,} | {fewer[0]:.1%} | {min(fewer):.1%}-{max(fewer):.1%} "
        f"| {statistics.mean(s.mean_started for s in summaries):.2f} "
        f"| {statistics.mean(s.mean_finished for s in summaries):.2f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT)
    parser.add_argument("--orders", type=int, default=12)
    args = parser.parse_args()
    if not args.traces.exists():
        raise SystemExit(f"skipped: {args.traces} is not present")
    print("REPLAY of recorded GPT-3.5 traces (ESC last letters, 500 x 40); words as tokens; timing simulated")
    print(
        "| strategy | accuracy | accuracy over orders | orders as accurate as cons@40 | words "
        "| fewer than cons@40 | fewer over orders | started | finished |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    cons = await runs(args.traces, "cons", args.orders)
    for strategy in PRESETS:
        try:
            summaries = cons if strategy == "cons" else await runs(args.traces, strategy, args.orders)
            print(row(strategy, summaries, cons), flush=True)
        except UsageError as error:
            print(f"| {strategy} | n/a: {error} ||||||||", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
