"""DAG execution: FanOutQA's human decompositions against their critical-path bound, and the engine's
overhead per step on synthetic plans of 10 to 1,000 zero-latency steps.

Part 1 runs `orchestrate bench dag` (every question one after another, a leaf lookup takes L seconds
of real asyncio time) and reports the makespan against the critical-path bound (606 L over the 310
dev questions) and against one step at a time (2,172 L).
Part 2 runs plans whose steps cost nothing (a `kb` lookup with zero latency) through
`Orchestrator.run`, the whole product path (plan copy and validation, engine, tool registry,
reports), and divides the wall time by the number of steps; shapes: a chain, a wide fan-out with
one join, and layers of width sqrt(N) where each step needs two steps of the layer before (and a
last join, so that no reasoning step is added to answer from several sinks).
Timing is real asyncio time on this machine (no model and no simulator time is involved).

    python benchmarks/dag.py [--fanoutqa ../shared/data/dag/fanoutqa_dev.json] [--latency 0.05]
                             [--sizes 10 100 1000] [--repeat 5] [--skip-fanoutqa]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import statistics
import sys
import time
from pathlib import Path

from orchestrator import Orchestrator, Plan, Policy, SimBackend, SimConfig, Step
from orchestrator.bench.dag import bench_dag, frozen_heap, load_fanoutqa
from orchestrator.plan import reference
from tools import Join, KnowledgeBase, ToolRegistry

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dag" / "fanoutqa_dev.json"


def chain(n: int) -> list[Step]:
    return [Step(id=f"s{i}", tool="kb", args={"key": "k"}, depends_on=(f"s{i - 1}",) if i else ()) for i in range(n)]


def wide(n: int) -> list[Step]:
    leaves = [Step(id=f"s{i}", tool="kb", args={"key": "k"}) for i in range(n - 1)]
    parts = [reference(leaf.id) for leaf in leaves]
    return [*leaves, Step(id="join", tool="join", args={"parts": parts})]


def layered(n: int) -> list[Step]:
    width = max(1, round(math.sqrt(n)))
    steps: list[Step] = []
    for i in range(n - 1):
        layer, slot = divmod(i, width)
        before = [f"s{(layer - 1) * width + (slot + k) % width}" for k in (0, 1)] if layer else []
        steps.append(Step(id=f"s{i}", tool="kb", args={"key": "k"}, depends_on=tuple(dict.fromkeys(before))))
    last = Plan.of(steps).sinks()
    return [*steps, Step(id="join", tool="join", args={"parts": [reference(sink) for sink in last]})]


SHAPES = {"chain": chain, "wide": wide, "layered": layered}


async def per_step_us(steps: list[Step], repeat: int) -> float:
    tools = ToolRegistry([KnowledgeBase({"k": "v"}), Join()])
    plan = Plan.of(steps)
    timings = []
    with frozen_heap():
        timings = await _timed(plan, tools, repeat)
    return statistics.median(timings[1:]) / len(steps) * 1e6


async def _timed(plan: Plan, tools: ToolRegistry, repeat: int) -> list[float]:
    timings = []
    async with Orchestrator(SimBackend(SimConfig(time_scale=0)), tools=tools, policy=Policy(retries=0)) as orchestrator:
        for _ in range(repeat + 1):
            started = time.perf_counter()
            result = await orchestrator.run("overhead", plan=plan)
            timings.append(time.perf_counter() - started)
            assert all(step.status == "done" for step in result.steps)
    return timings


def overhead(sizes: list[int], repeat: int) -> None:
    print(f"\nOverhead per step (us, median of {repeat}; Orchestrator.run on zero-latency steps; this machine)")
    print(f"{'steps':>7}" + "".join(f"{shape:>10}" for shape in SHAPES))
    for size in sizes:
        row = [asyncio.run(per_step_us(build(size), repeat)) for build in SHAPES.values()]
        print(f"{size:>7}" + "".join(f"{value:>10.0f}" for value in row))


def fanoutqa(path: Path, latency: float) -> None:
    questions = load_fanoutqa(path)
    summary = asyncio.run(bench_dag(questions, latency, io.StringIO()))
    print(f"FanOutQA dev: {summary.questions} questions, {summary.steps} steps, L = {latency:g} s (real asyncio time)")
    print(f"  makespan            {summary.makespan_s:8.2f} s  ({summary.makespan_s / latency:.0f} L)")
    print(f"  critical-path bound {summary.critical_path_s:8.2f} s  ({summary.critical_path_s / latency:.0f} L)")
    print(f"  one at a time       {summary.sequential_s:8.2f} s  ({summary.sequential_s / latency:.0f} L)")
    print(f"  over the bound      {summary.over_bound:+8.2%}")
    print(f"  speedup             {summary.speedup:8.2f}x (ideal {summary.ideal_speedup:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fanoutqa", type=Path, default=DATA)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-fanoutqa", action="store_true")
    args = parser.parse_args()
    if args.skip_fanoutqa or not args.fanoutqa.exists():
        print(f"skipping FanOutQA ({args.fanoutqa} not found)" if not args.skip_fanoutqa else "", file=sys.stderr)
    else:
        fanoutqa(args.fanoutqa, args.latency)
    overhead(args.sizes, args.repeat)


if __name__ == "__main__":
    main()
