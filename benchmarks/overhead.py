"""Orchestration cost of the engine alone, measured on the embedded simulator at zero simulated latency.

For each thread count N, the same N streams (same prompt, same seeds, so the same tokens) are consumed
twice in one process, side by side:
  bare          the simulator's streams drained directly, as cheaply as Python allows;
  orchestrated  `Orchestrator.run`: warm-up, fan-out, events, answer extraction, voting, reports.
The simulator measures its own CPU time, so each figure is split into simulator CPU and the rest.
"Engine CPU" is orchestrated minus simulator CPU; "over bare" is orchestrated minus bare, both per
streamed token and per thread. Figures are from the simulator on this machine, not from a GPU server.

    python benchmarks/overhead.py [--threads 100 250 500 1000] [--tokens 400] [--repeat 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from orchestrator import CompletionRequest, Orchestrator, SimBackend, SimConfig, Strategy, TextChunk
from orchestrator.threads import thread_params, warm_prefix

TASK = "How many positive divisors does 360 have?"


@dataclass
class Sample:
    cpu_s: float
    sim_cpu_s: float
    tokens: int


@dataclass
class Row:
    threads: int
    tokens: int
    engine_us_per_token: float
    engine_us_per_thread: float
    over_bare_us_per_token: float
    over_bare_us_per_thread: float
    bare_cpu_s: float
    orchestrated_cpu_s: float
    sim_cpu_s: float


def backend(threads: int, trace_tokens: int) -> SimBackend:
    config = SimConfig(time_scale=0, max_running=max(threads, 1), trace_tokens=trace_tokens, seed=11)
    return SimBackend(config)


def strategy(threads: int, trace_tokens: int) -> Strategy:
    return Strategy(threads=threads, max_tokens=trace_tokens * 20, seed=0)


async def bare(threads: int, trace_tokens: int) -> tuple[SimBackend, int]:
    """Drain the same streams without the orchestrator: the floor any client pays."""
    sim, plan = backend(threads, trace_tokens), strategy(threads, trace_tokens)
    prompt = plan.render(TASK)
    await warm_prefix(sim, prompt)

    async def drain(index: int) -> int:
        request = CompletionRequest(prompt, thread_params(plan, index))
        return sum([event.tokens async for event in sim.stream(request) if isinstance(event, TextChunk)])

    counts = await asyncio.gather(*(drain(i) for i in range(threads)))
    return sim, sum(counts)


async def orchestrated(threads: int, trace_tokens: int) -> tuple[SimBackend, int]:
    sim = backend(threads, trace_tokens)
    result = await Orchestrator(sim, strategy(threads, trace_tokens)).run(TASK)
    return sim, result.usage.completion_tokens


def measure(job: Callable[[int, int], Awaitable[tuple[SimBackend, int]]], threads: int, tokens: int) -> Sample:
    gc.collect()
    started = time.process_time()
    sim, streamed = asyncio.run(job(threads, tokens))
    cpu = time.process_time() - started
    return Sample(cpu, float(sim.stats()["sim_cpu_s"]), streamed)


def median_sample(samples: list[Sample]) -> Sample:
    middle = sorted(samples, key=lambda sample: sample.cpu_s)[len(samples) // 2]
    return Sample(middle.cpu_s, statistics.median(s.sim_cpu_s for s in samples), middle.tokens)


def row(threads: int, tokens: int, repeat: int) -> Row:
    runs = [(measure(bare, threads, tokens), measure(orchestrated, threads, tokens)) for _ in range(repeat)]
    floor, full = median_sample([b for b, _ in runs]), median_sample([o for _, o in runs])
    if floor.tokens != full.tokens:
        raise SystemExit(f"bare and orchestrated streamed different tokens: {floor.tokens} != {full.tokens}")
    engine, extra = full.cpu_s - full.sim_cpu_s, full.cpu_s - floor.cpu_s
    return Row(
        threads, full.tokens,
        1e6 * engine / full.tokens, 1e6 * engine / threads,
        1e6 * extra / full.tokens, 1e6 * extra / threads,
        round(floor.cpu_s, 3), round(full.cpu_s, 3), round(full.sim_cpu_s, 3),
    )  # fmt: skip


def table(rows: list[Row]) -> str:
    head = "| threads | tokens streamed | engine µs/token | engine µs/thread | over bare µs/token | over bare µs/thread | CPU s bare / orchestrated (simulator) |"
    lines = [head, "|" + "---|" * 7]
    for r in rows:
        lines.append(
            f"| {r.threads:,} | {r.tokens:,} | {r.engine_us_per_token:.1f} | {r.engine_us_per_thread:,.0f} | "
            f"{r.over_bare_us_per_token:.1f} | {r.over_bare_us_per_thread:,.0f} | "
            f"{r.bare_cpu_s:.2f} / {r.orchestrated_cpu_s:.2f} ({r.sim_cpu_s:.2f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[100, 250, 500, 1000])
    parser.add_argument("--tokens", type=int, default=400, help="mean tokens per simulated trace")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", dest="json_out", help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    rows = [row(n, args.tokens, args.repeat) for n in args.threads]
    print(f"SIMULATED backend, time_scale=0, Python {sys.version.split()[0]}, median of {args.repeat} runs")
    print(table(rows))
    growth = rows[-1].engine_us_per_token / rows[0].engine_us_per_token
    print(f"engine µs/token grows {growth:.2f}x from {rows[0].threads:,} to {rows[-1].threads:,} threads")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump([asdict(r) for r in rows], handle, indent=2)


if __name__ == "__main__":
    main()
