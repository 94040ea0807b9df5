"""Load: many tasks at once through `Orchestrator` over HTTP against an in-process `sim-server`.

N tasks (default 200) start together, each a task as a user writes it (a different question, T
threads, `limits:`), each run by its own `Orchestrator.from_spec` (its own HTTP client) against one
`SimServer` in this process, with the SGLang native client (`--client sglang`, the default) or the
OpenAI-compatible one (`--client openai`). Two arms, each on a fresh server with the same settings:

  bare          the same HTTP requests per task with the same client class and no orchestrator: the
                prefix warm-up, then the T thread requests at once (same prompt, same sampling
                seeds, so the same tokens), drained;
  orchestrated  `Orchestrator.run`: warm-up, fan-out, events, answer extraction, votes, reports,
                and the limits stack (retries, timeouts).

Orchestration overhead, per task: the task's wall time (client created to client closed) minus the
time the server was working on at least one of its requests. The server's working time is the union
of its request lifetimes as the server itself measures them (job start to final output, what SGLang
reports as `e2e_latency`), read from the in-process server. What is left is time the task spent with
nothing on the server: the HTTP exchange around each request (connect, send, parse the last event),
the gap between the warm-up and the fan-out, and the work before the first and after the last request
(for the orchestrated arm: building the run, votes, reports). Both arms are measured the same way, so
the bare arm's figure is the floor that HTTP, the client and a busy event loop cost on this machine,
and the orchestrated arm's excess over it is the orchestrator's own. Also reported: process CPU per
arm (the simulator's own share measured apart), so the orchestrator's CPU per task is orchestrated
minus bare; the peak resident memory during each arm (sampled every 20 ms) and its growth over the
arm's start; throughput. Memory a Python process has once grown to is mostly kept, so only the arm
that runs first in a process shows its growth: run `--arms orchestrated` and `--arms bare` in two
processes to compare them. `--repeat N` runs each arm N times, alternating which goes first, and
reports medians (counts summed): on a shared or saturated machine one run's latency figures vary by
seconds.

With faults on (`--error-rate`, `--unavailable-rate`, `--cut-rate`, `--burst`, `--token-delay-s`),
only the orchestrated arm runs (the bare client does not retry), and the report adds the retries
and every error by kind. Every loop is bounded: an arm ends at `--duration-s` whatever the server
does, and tasks still running then are cancelled and counted as errors of kind `deadline`.

Every figure is the SIMULATOR's on this machine (one process, one event loop, the server included),
not a GPU server's.

    python benchmarks/load.py [--tasks 200] [--threads 8] [--duration-s 300] [--time-scale 0]
        [--trace-tokens 100] [--client sglang|openai] [--repeat 1] [--arms both|orchestrated|bare]
        [--error-rate 0.05 --cut-rate 0.02] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from orchestrator import Completion, CompletionRequest, Orchestrator, SamplingParams, TextChunk
from orchestrator.backends import create_backend
from orchestrator.backends.sim import SimConfig
from orchestrator.errors import BackendError
from orchestrator.simserver import Faults, SimServer
from orchestrator.spec import TaskSpec, parse_task
from orchestrator.threads import thread_params

TAG = re.compile(r"Load task (\d+):")
SAMPLE_S = 0.02
CANCEL_GRACE_S = 10.0


@dataclass
class TaskRun:
    index: int
    started: float
    ended: float | None = None
    error: str | None = None
    threads: Counter[str] = field(default_factory=Counter)
    thread_errors: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    retries: int = 0
    examples: dict[str, str] = field(default_factory=dict)

    def failed(self, error: BaseException | str) -> str:
        """Count nothing; name the failure's kind and keep its first message as an example."""
        kind = error_kind(error)
        self.examples.setdefault(kind, one_line(error))
        return kind

    @property
    def wall_s(self) -> float:
        return (self.ended or self.started) - self.started


@dataclass
class ArmReport:
    arm: str
    tasks: int
    threads_per_task: int
    finished_tasks: int
    errors: dict[str, int]
    threads: dict[str, int]
    thread_errors: dict[str, int]
    error_examples: dict[str, str]
    retries: int
    wall_s: float
    tokens: int
    tasks_per_s: float
    threads_per_s: float
    tokens_per_s: float
    latency_p50_s: float
    latency_p99_s: float
    overhead_p50_ms: float
    overhead_p99_ms: float
    cpu_s: float
    server_cpu_s: float
    peak_rss_mib: float
    rss_growth_mib: float
    server_requests: int
    server_events: int


# --- the workload --------------------------------------------------------------------------------


def question(index: int) -> str:
    return f"Load task {index}: how many positive divisors does {360 + index} have?"


def task_spec(url: str, index: int, options: argparse.Namespace) -> TaskSpec:
    backend: dict[str, Any] = (
        {"kind": "sglang", "url": url}
        if options.client == "sglang"
        else {"kind": "openai", "base_url": f"{url}/v1", "model": "sim-model"}
    )
    limits = {"retries": options.retries, "backoff_s": options.backoff_s}
    strategy = {"threads": options.threads, "max_tokens": options.max_tokens, "seed": 0}
    return parse_task({"task": question(index), "backend": backend, "strategy": strategy, "limits": limits})


async def orchestrated(run: TaskRun, spec: TaskSpec) -> None:
    async with Orchestrator.from_spec(spec) as orchestrator:
        result = await orchestrator.run(spec)
    run.threads.update(thread.status.value for thread in result.threads)
    run.thread_errors.update(run.failed(thread.error) for thread in result.threads if thread.error)
    run.tokens = result.usage.completion_tokens
    run.retries = int(result.backend.stats.get("retries", 0))


async def bare(run: TaskRun, spec: TaskSpec) -> None:
    """The orchestrated task's requests with the same client class and nothing else."""
    backend = create_backend(spec.backend)
    prompt = spec.strategy.render(spec.task)
    try:
        await drain(backend, CompletionRequest(prompt, SamplingParams(max_tokens=0)))
        endings = await asyncio.gather(
            *(
                drain(backend, CompletionRequest(prompt, thread_params(spec.strategy, i)))
                for i in range(spec.strategy.threads)
            )
        )
    finally:
        await backend.close()
    run.threads.update(ending.finish_reason.value for ending in endings)
    run.tokens = sum(ending.usage.completion_tokens for ending in endings)


async def drain(backend: Any, request: CompletionRequest) -> Completion:
    async with aclosing(backend.stream(request)) as events:
        async for event in events:
            if isinstance(event, Completion):
                return event
            assert isinstance(event, TextChunk)
    raise BackendError("the stream ended without a completion")


def one_line(error: BaseException | str) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def error_kind(error: BaseException | str | None) -> str:
    """A failure in a few words: the HTTP status, a cut stream, a timeout, or the exception's type."""
    text = str(error or "")
    if status := re.search(r"HTTP (\d{3})", text):
        return f"HTTP {status[1]}"
    for words, kind in (
        ("ended before the request finished", "stream cut"),
        ("timed out", "timeout"),
        ("cannot reach", "unreachable"),
        ("threads failed", "all threads failed"),
    ):
        if words in text:
            return kind
    return type(error).__name__ if isinstance(error, BaseException) else (text[:60] or "unknown")


# --- measurement ---------------------------------------------------------------------------------


class ServerClock:
    """The lifetime of every request the in-process server works on, by task (from the prompt's tag).

    Wraps the server engine's per-request `run` (job start to final output); benchmark-only
    instrumentation, it changes nothing the server does.
    """

    def __init__(self, server: SimServer) -> None:
        self.spans: dict[int, list[tuple[float, float]]] = {}
        self.events = 0
        engine = server.state.engine
        original = engine.run

        async def timed(job: Any) -> AsyncGenerator[Any, None]:
            started = time.perf_counter()
            try:
                async with aclosing(original(job)) as outs:
                    async for out in outs:
                        self.events += 1
                        yield out
            finally:
                if tag := TAG.search(job.prompt):
                    self.spans.setdefault(int(tag[1]), []).append((started, time.perf_counter()))

        engine.run = timed  # type: ignore[method-assign]

    def busy_s(self, run: TaskRun) -> float:
        """Seconds within the task's lifetime during which the server worked on one of its requests."""
        start, end = run.started, run.ended or run.started
        clipped = sorted(
            (max(a, start), min(b, end)) for a, b in self.spans.get(run.index, []) if b > start and a < end
        )
        busy, reach = 0.0, start
        for a, b in clipped:
            if b > reach:
                busy += b - max(a, reach)
                reach = b
        return busy


class PeakMemory:
    """Peak resident set size while running, sampled every `SAMPLE_S` (Linux `/proc`; else `ru_maxrss`)."""

    def __init__(self) -> None:
        self.start = rss_bytes()
        self.peak = self.start
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.peak = max(self.peak, rss_bytes())

    async def _sample(self) -> None:
        while True:  # ends when the arm cancels it
            self.peak = max(self.peak, rss_bytes())
            await asyncio.sleep(SAMPLE_S)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


# --- one arm -------------------------------------------------------------------------------------


async def arm(name: str, job: Callable[[TaskRun, TaskSpec], Awaitable[None]], options: argparse.Namespace) -> ArmReport:
    config = SimConfig(
        time_scale=options.time_scale, trace_tokens=options.trace_tokens, max_running=options.max_running
    )
    gc.collect()
    async with SimServer(config, faults=faults_of(options)) as server:
        clock = ServerClock(server)
        specs = [task_spec(server.url, i, options) for i in range(options.tasks)]
        cpu_started, started = time.process_time(), time.perf_counter()
        async with PeakMemory() as memory:
            runs = await run_all(job, specs, options.duration_s)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        stats = server.backend.stats()
    return report(name, runs, clock, options, wall, cpu, stats, memory)


async def run_all(
    job: Callable[[TaskRun, TaskSpec], Awaitable[None]], specs: list[TaskSpec], duration_s: float
) -> list[TaskRun]:
    """Start every task at once; at `duration_s` cancel what is still running (counted as `deadline`)."""
    runs = [TaskRun(i, 0.0) for i in range(len(specs))]

    async def one(run: TaskRun, spec: TaskSpec) -> None:
        run.started = time.perf_counter()
        try:
            await job(run, spec)
        except asyncio.CancelledError:
            run.error = "deadline"
            raise
        except Exception as error:  # noqa: BLE001 - every failure is counted by kind, none stops the others
            run.error = run.failed(error)
        finally:
            run.ended = time.perf_counter()

    tasks = [asyncio.create_task(one(run, spec)) for run, spec in zip(runs, specs)]
    _, pending = await asyncio.wait(tasks, timeout=duration_s)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=CANCEL_GRACE_S)
    return runs


def report(
    name: str,
    runs: list[TaskRun],
    clock: ServerClock,
    options: argparse.Namespace,
    wall: float,
    cpu: float,
    stats: dict[str, Any],
    memory: PeakMemory,
) -> ArmReport:
    done = [run for run in runs if run.error is None]
    threads, thread_errors, examples = Counter[str](), Counter[str](), {}
    for run in runs:
        threads.update(run.threads)
        thread_errors.update(run.thread_errors)
        examples = run.examples | examples
    overheads = [1000 * (run.wall_s - clock.busy_s(run)) for run in done]
    latencies = [run.wall_s for run in done]
    tokens = sum(run.tokens for run in runs)
    return ArmReport(
        arm=name,
        tasks=len(runs),
        threads_per_task=options.threads,
        finished_tasks=len(done),
        errors=dict(Counter(run.error for run in runs if run.error is not None)),
        threads=dict(threads),
        thread_errors=dict(thread_errors),
        error_examples=examples,
        retries=sum(run.retries for run in runs),
        wall_s=round(wall, 3),
        tokens=tokens,
        tasks_per_s=round(len(done) / wall, 2),
        threads_per_s=round(sum(threads.values()) / wall, 1),
        tokens_per_s=round(tokens / wall),
        latency_p50_s=round(percentile(latencies, 0.50), 3),
        latency_p99_s=round(percentile(latencies, 0.99), 3),
        overhead_p50_ms=round(percentile(overheads, 0.50), 1),
        overhead_p99_ms=round(percentile(overheads, 0.99), 1),
        cpu_s=round(cpu, 2),
        server_cpu_s=round(float(stats["sim_cpu_s"]), 2),
        peak_rss_mib=round(memory.peak / 2**20, 1),
        rss_growth_mib=round((memory.peak - memory.start) / 2**20, 1),
        server_requests=int(stats["submitted"]),
        server_events=clock.events,
    )


def faults_of(options: argparse.Namespace) -> Faults:
    return Faults(
        error_rate=options.error_rate,
        unavailable_rate=options.unavailable_rate,
        cut_rate=options.cut_rate,
        token_delay_s=options.token_delay_s,
        burst=options.burst,
        seed=options.fault_seed,
    )


def faulty(options: argparse.Namespace) -> bool:
    return faults_of(options) != Faults(seed=options.fault_seed)


# --- the whole benchmark -------------------------------------------------------------------------


JOBS: dict[str, Callable[[TaskRun, TaskSpec], Awaitable[None]]] = {"orchestrated": orchestrated, "bare": bare}
COUNTS = ("tasks", "finished_tasks", "retries", "tokens", "server_requests", "server_events")


async def bench(options: argparse.Namespace) -> dict[str, Any]:
    """Every arm `--repeat` times, alternating which goes first; the figures are medians over the runs."""
    names = arm_names(options)
    runs: dict[str, list[ArmReport]] = {name: [] for name in names}
    for repeat in range(options.repeat):
        for name in names if repeat % 2 == 0 else names[::-1]:
            runs[name].append(await arm(name, JOBS[name], options))
    result: dict[str, Any] = {
        "simulated": True,
        "config": {key: value for key, value in vars(options).items() if key != "json_out"},
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "arms": [asdict(summary(runs[name])) for name in names],
    }
    if options.repeat > 1:
        result["runs"] = {name: [asdict(run) for run in each] for name, each in runs.items()}
    if len(names) == 2:
        pairs = list(zip(runs["orchestrated"], runs["bare"]))
        result["orchestration"] = {
            "overhead_p50_ms": median([full.overhead_p50_ms - floor.overhead_p50_ms for full, floor in pairs], 1),
            "overhead_p99_ms": median([full.overhead_p99_ms - floor.overhead_p99_ms for full, floor in pairs], 1),
            "cpu_ms_per_task": median([1000 * (full.cpu_s - floor.cpu_s) / options.tasks for full, floor in pairs], 2),
            "cpu_us_per_token": median(
                [1e6 * (full.cpu_s - floor.cpu_s) / max(1, full.tokens) for full, floor in pairs], 2
            ),
        }
    result["ru_maxrss_mib"] = round(rss_peak_mib(), 1)
    return result


def arm_names(options: argparse.Namespace) -> list[str]:
    if options.arms != "both":
        return [options.arms]
    return ["orchestrated"] if faulty(options) else ["orchestrated", "bare"]


def summary(runs: list[ArmReport]) -> ArmReport:
    """One arm over its runs: counts summed, every other figure the median."""
    if len(runs) == 1:
        return runs[0]
    first, merged = runs[0], asdict(runs[0])
    for name, value in merged.items():
        values = [getattr(run, name) for run in runs]
        if name == "error_examples":
            merged[name] = {kind: text for each in reversed(values) for kind, text in each.items()}
        elif isinstance(value, dict):
            merged[name] = dict(sum((Counter(each) for each in values), Counter()))
        elif name in COUNTS:
            merged[name] = sum(values)
        elif isinstance(value, float):
            merged[name] = median(values, 3)
    return ArmReport(**merged | {"arm": first.arm, "threads_per_task": first.threads_per_task})


def median(values: list[float], digits: int) -> float:
    return round(statistics.median(values), digits)


def rss_peak_mib() -> float:
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def table(result: dict[str, Any]) -> str:
    head = (
        "| arm | tasks finished | errors | threads | retries | wall s | tasks/s | tokens/s | latency p50 / p99 s "
        "| overhead p50 / p99 ms | CPU s (simulator) | peak RSS MiB (growth) |"
    )
    lines = [head, "|" + "---|" * 12]
    for a in result["arms"]:
        errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(a["errors"].items())) or "0"
        threads = ", ".join(f"{n} {status}" for status, n in sorted(a["threads"].items()))
        if a["thread_errors"]:
            threads += " (" + ", ".join(f"{kind}: {n}" for kind, n in sorted(a["thread_errors"].items())) + ")"
        lines.append(
            f"| {a['arm']} | {a['finished_tasks']}/{a['tasks']} | {errors} | {threads} | {a['retries']} | "
            f"{a['wall_s']:.1f} | {a['tasks_per_s']:.1f} | {a['tokens_per_s']:,} | "
            f"{a['latency_p50_s']:.2f} / {a['latency_p99_s']:.2f} | {a['overhead_p50_ms']:.1f} / {a['overhead_p99_ms']:.1f} | "
            f"{a['cpu_s']:.1f} ({a['server_cpu_s']:.1f}) | {a['peak_rss_mib']:.0f} ({a['rss_growth_mib']:+.0f}) |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=300.0, help="bound on each arm's wall time")
    parser.add_argument("--time-scale", type=float, default=0.0, help="real seconds per simulated second")
    parser.add_argument("--trace-tokens", type=int, default=100, help="median tokens of a simulated trace")
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--max-running", type=int, default=256, help="the server's --max-running-requests")
    parser.add_argument("--client", choices=("sglang", "openai"), default="sglang")
    parser.add_argument("--retries", type=int, default=2, help="limits.retries of every task")
    parser.add_argument("--backoff-s", type=float, default=0.5, help="limits.backoff_s of every task")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--unavailable-rate", type=float, default=0.0)
    parser.add_argument("--cut-rate", type=float, default=0.0)
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--token-delay-s", type=float, default=0.0)
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--arms", choices=("both", "orchestrated", "bare"), default="both",
                        help="both: orchestrated and bare (bare is skipped with faults on)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="runs of each arm, alternating which goes first")
    parser.add_argument("--json", dest="json_out", help="also write the report as JSON to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    options = parse_args(argv)
    result = asyncio.run(bench(options))
    config = result["config"]
    print(
        f"SIMULATED sim-server in this process ({config['client']} client), {config['tasks']} tasks x "
        f"{config['threads']} threads, time_scale={config['time_scale']}, trace_tokens={config['trace_tokens']}, "
        f"Python {result['python']}, {result['cpus']} CPUs"
        + (f"; {config['repeat']} runs per arm: counts summed, other figures medians" if config["repeat"] > 1 else "")
    )
    print(table(result))
    if "orchestration" in result:
        own = result["orchestration"]
        print(
            f"orchestrator's own: overhead p50 {own['overhead_p50_ms']:+.1f} ms, p99 {own['overhead_p99_ms']:+.1f} ms "
            f"over bare; CPU {own['cpu_ms_per_task']:.2f} ms per task, {own['cpu_us_per_token']:.2f} µs per token"
        )
    for arm_report in result["arms"]:
        for kind, text in arm_report["error_examples"].items():
            print(f"  {arm_report['arm']} {kind}: {text}")
    if options.json_out:
        with open(options.json_out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
    return result


if __name__ == "__main__":
    main()
