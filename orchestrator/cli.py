"""`orchestrate`: the command line.

Exit status: 0 success, 1 a run failed (backend error, no thread succeeded, a plan whose final step
failed), 2 a bad task file, plan or command line, 3 a budget stopped the run (the partial result is
still printed and written), 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM. Every failure is one
line on stderr, never a traceback, with secrets from the environment redacted.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from orchestrator._files import write_atomically
from orchestrator.backends.sim.config import SimConfig
from orchestrator.errors import OrchestrateError, PlanError, TaskFileError, UsageError
from orchestrator.events import fan_out
from orchestrator.interrupts import Interrupts, exit_status
from orchestrator.journal import Journal, new_run_dir
from orchestrator.plan import Plan
from orchestrator.plan_view import FORMATS, plan_tree, to_dot, to_json, to_mermaid
from orchestrator.progress import LiveProgress
from orchestrator.redaction import redact
from orchestrator.report import render_result
from orchestrator.result import RunResult, StepStatus
from orchestrator.resume import Reuse, read_run
from orchestrator.runner import Orchestrator, resolve_plan
from orchestrator.spec import TaskSpec, load_task
from tools.base import ToolError
from tools.config import build_registry

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Parallel reasoning on the inference server you already run (offline: the embedded simulator).",
)

TaskFile = Annotated[Path, typer.Argument(help="A task file (YAML).", show_default=False)]


@dataclass(frozen=True)
class _Job:
    """A run to do: its task, where its files are, its journal and (resuming) what to reuse."""

    spec: TaskSpec
    base_dir: Path
    journal: Journal
    reuse: Reuse | None = None


@app.command()
def run(
    file: Annotated[Path | None, typer.Argument(help="A task file (YAML).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON result to this file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress.")] = False,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="Write the journal and result here (default: a new one).")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue the interrupted run in this directory.")
    ] = None,
) -> None:
    """Run a task file and print the answer with its cost; the run is journaled as it goes."""
    with _one_line_errors() as where:
        job = _resume(resume, file, run_dir) if resume is not None else _start(file, run_dir)
        where.append(f"the journal is in {job.journal.directory}")
        result, caught = _journaled(job, show_progress=not (quiet or as_json))
        _emit(result, as_json, out)
        _exit_status(result, caught)


@app.command()
def validate(file: TaskFile) -> None:
    """Check a task file without running it."""
    with _one_line_errors():
        spec = _load(file)
        steps = f"a plan of {len(spec.plan)} steps" if isinstance(spec.plan, tuple) else _plan_kind(spec)
        threads = spec.strategy.threads
        kind = "" if spec.strategy.protocol.name == "sample" else f"{spec.strategy.protocol.name} "
        typer.echo(
            f"{file}: ok ({steps}, {threads} {kind}thread{'s' if threads != 1 else ''} per reasoning step, "
            f"backend '{spec.backend.kind}')"
        )


@app.command()
def plan(
    file: TaskFile,
    fmt: Annotated[str, typer.Option("--format", "-f", help="tree, mermaid, dot or json.")] = "tree",
) -> None:
    """Print a task's plan without running it (`plan: auto` asks the planner, nothing else runs)."""
    with _one_line_errors():
        if fmt not in FORMATS:
            raise UsageError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
        spec = _load(file)
        the_plan = asyncio.run(resolve_plan(spec, file.parent))
        _print_plan(the_plan, fmt, str(file))


@app.command("sim-server")
def sim_server(
    host: Annotated[str, typer.Option(help="Address to bind; keep it on loopback.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (SGLang's default is 30000).")] = 30000,
    model: Annotated[
        str, typer.Option(help="Timing preset: qwen3-4b, llama-3-8b, qwen3-8b, qwen3-32b.")
    ] = "llama-3-8b",
    gpu: Annotated[str, typer.Option(help="Timing preset: h100, h200.")] = "h200",
    time_scale: Annotated[
        float, typer.Option(help="Real seconds per simulated second; 0 = as fast as possible.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the scripted outputs.")] = 0,
    cache_tokens: Annotated[int | None, typer.Option(help="KV pool size in tokens (default: from GPU memory).")] = None,
    max_running: Annotated[int, typer.Option(help="Most requests decoding at once.")] = 256,
    answers: Annotated[
        str | None, typer.Option(help='Answer distribution as JSON, e.g. \'{"24": 0.7, "20": 0.3}\'.')
    ] = None,
    model_name: Annotated[str, typer.Option(help="The model name the server reports.")] = "sim-model",
    reasoning_parser: Annotated[bool, typer.Option(help="Split <think> into reasoning_content on /v1/chat.")] = False,
    error_rate: Annotated[float, typer.Option(help="Fault: share of requests answered HTTP 500.")] = 0.0,
    unavailable_rate: Annotated[float, typer.Option(help="Fault: share of requests answered HTTP 503.")] = 0.0,
    cut_rate: Annotated[float, typer.Option(help="Fault: share of streams cut mid-way.")] = 0.0,
    token_delay_s: Annotated[
        float, typer.Option(help="Fault: slow tokens: extra seconds per token, sent one at a time.")
    ] = 0.0,
    loading_s: Annotated[float, typer.Option(help="Fault: answer 503 (loading) for the first seconds.")] = 0.0,
    ignore_abort: Annotated[bool, typer.Option(help="Fault: accept /abort_request but do nothing.")] = False,
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault draws.")] = 0,
    error_burst: Annotated[
        int, typer.Option(help="Fault: a drawn 500/503 repeats for this many requests in a row.", min=1)
    ] = 1,
) -> None:
    """Serve the embedded simulator over HTTP with SGLang's protocol (/generate, /v1/..., /metrics)."""
    with _one_line_errors():
        config = _sim_config(model=model, gpu=gpu, time_scale=time_scale, seed=seed, cache_tokens=cache_tokens,
                             max_running=max_running, answers=_json_option("--answers", answers))  # fmt: skip
        from orchestrator.simserver import Faults, serve

        faults = Faults(
            error_rate, unavailable_rate, cut_rate, token_delay_s, loading_s, ignore_abort, fault_seed, error_burst
        )
        serve(config, host, port, faults, reasoning_parser, model_name)


bench = typer.Typer(no_args_is_help=True, help="Benchmarks on recorded data (figures labelled as what they are).")
app.add_typer(bench, name="bench")


@bench.command("prune")
def bench_prune(
    traces: Annotated[Path, typer.Option(help="Recorded traces (JSONL: ESC format or orchestrate's own).")],
    strategy: Annotated[
        str, typer.Option(help="cons, esc, adaptive, deepconf, deepprune, deepprune-lean or deepprune-cluster.")
    ],
    out: Annotated[Path, typer.Option(help="One JSON line per problem, written as each finishes.")],
    order_seed: Annotated[
        int | None, typer.Option(help="Shuffle each problem's samples with this seed (default: file order).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N problems.", min=1)] = None,
    answer_pattern: Annotated[
        str, typer.Option(help="Answer regex (group 1); 'auto': the ESC one-word answer for ESC files.")
    ] = "auto",
) -> None:
    """Replay every problem of a trace file through the engine with one strategy; print accuracy and cost."""
    with _one_line_errors():
        from orchestrator.bench.cli import run_bench_prune

        run_bench_prune(traces, strategy, out, order_seed, limit, None if answer_pattern == "none" else answer_pattern)


@bench.command("dag")
def bench_dag(
    fanoutqa: Annotated[
        Path, typer.Option(help="FanOutQA questions (JSON), e.g. ../shared/data/dag/fanoutqa_dev.json.")
    ],
    out: Annotated[Path, typer.Option(help="One JSON line per question, written as each finishes.")],
    latency: Annotated[float, typer.Option(help="Seconds each leaf lookup takes.", min=0.0, max=60.0)] = 0.05,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.", min=1)] = None,
) -> None:
    """Run FanOutQA's human decompositions as plans, one question after another; compare with the critical path."""
    with _one_line_errors():
        from orchestrator.bench.dag_cli import run_bench_dag

        run_bench_dag(fanoutqa, out, latency, limit)


def _start(file: Path | None, run_dir: Path | None) -> _Job:
    if file is None:
        raise UsageError("give a task file to run, or --resume DIR to continue an interrupted run")
    spec = _load(file)
    journal = Journal.create(run_dir or new_run_dir(file.stem))
    journal.started(spec, file.parent)
    return _Job(spec, file.parent, journal)


def _resume(directory: Path, file: Path | None, run_dir: Path | None) -> _Job:
    if file is not None or run_dir is not None:
        raise UsageError("--resume takes the task and the run directory from the journal: give no FILE or --run-dir")
    resumed = read_run(directory)
    journal = Journal.reopen(directory)
    journal.resumed()
    return _Job(resumed.spec, resumed.base_dir, journal, resumed.reuse)


def _journaled(job: _Job, show_progress: bool) -> tuple[RunResult, signal.Signals | None]:
    """Run the job; the journal gets every event, the result or the error, and is closed whatever happens."""
    try:
        result, caught = _execute(job, show_progress)
        result = result.model_copy(update={"run_dir": str(job.journal.directory)})
        job.journal.finished(result)
        return result, caught
    except OrchestrateError as error:
        job.journal.failed(str(error))
        raise
    finally:
        job.journal.close()


def _load(file: Path) -> TaskSpec:
    """A task file, its plan checked against the tools it configures."""
    spec = load_task(file)
    try:
        tools = build_registry(spec.tools, file.parent).names()
        if isinstance(spec.plan, tuple):
            Plan.of(spec.plan, tools)
    except (PlanError, ToolError) as error:
        raise TaskFileError(str(file), str(error), "plan" if isinstance(error, PlanError) else "tools") from None
    return spec


def _plan_kind(spec: TaskSpec) -> str:
    return "a plan written by the LLM planner" if spec.plan == "auto" else "one reasoning step"


def _print_plan(the_plan: Plan, fmt: str, title: str) -> None:
    if fmt == "tree":
        Console().print(plan_tree(the_plan, title))
        return
    render = {"mermaid": to_mermaid, "dot": to_dot, "json": to_json}[fmt]
    sys.stdout.write(render(the_plan))


def _exit_status(result: RunResult, caught: signal.Signals | None = None) -> None:
    resume = f"continue with: orchestrate run --resume {result.run_dir}"
    if caught is not None:
        _fail(f"{result.stopped}; the partial result is above; {resume}", exit_status(caught))
    if result.stopped is not None:
        _fail(f"stopped: {result.stopped}; the partial result is above; {resume}", 3)
    failed = [step for step in result.steps if step.status is StepStatus.FAILED]
    if result.answer is None and failed:
        _fail(f"step '{failed[0].id}' failed: {failed[0].error}", 1)


def _sim_config(**fields: object) -> SimConfig:
    try:
        return SimConfig.model_validate(fields)
    except ValidationError as error:
        detail = error.errors()[0]
        raise UsageError(f"--{str(detail['loc'][0]).replace('_', '-')}: {detail['msg']}") from None


def _json_option(name: str, text: str | None) -> object:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{name}: not valid JSON ({error.msg})") from None


def _execute(job: _Job, show_progress: bool) -> tuple[RunResult, signal.Signals | None]:
    stderr = Console(stderr=True)
    progress = (
        LiveProgress(stderr, "[simulated]" if job.spec.backend.kind == "sim" else "")
        if (show_progress and stderr.is_terminal)
        else None
    )
    with progress or nullcontext():
        return asyncio.run(_interruptible(job, progress))


async def _interruptible(job: _Job, progress: LiveProgress | None) -> tuple[RunResult, signal.Signals | None]:
    """Run the job; SIGINT or SIGTERM stops it cleanly with a partial result."""
    observer = fan_out(*([progress] if progress else []), job.journal)
    async with Orchestrator.from_spec(job.spec, observer, job.base_dir, job.reuse) as orchestrator:
        with Interrupts(orchestrator.stop) as interrupts:
            result = await orchestrator.run(job.spec)
    return result, interrupts.caught


def _emit(result: RunResult, as_json: bool, out: Path | None) -> None:
    payload = redact(result.model_dump_json(indent=2))
    if out is not None:
        write_atomically(out, payload + "\n")
    if as_json:
        sys.stdout.write(payload + "\n")
    else:
        Console().print(render_result(result))


@contextmanager
def _one_line_errors() -> Iterator[list[str]]:
    """Failures as one line and an exit status; the caller may add where to look (e.g. the journal)."""
    where: list[str] = []
    try:
        yield where
    except (TaskFileError, UsageError, PlanError) as error:
        _fail("; ".join([str(error), *where]), 2)
    except OrchestrateError as error:
        _fail("; ".join([str(error), *where]), 1)
    except KeyboardInterrupt:
        _fail("; ".join(["interrupted", *where]), 130)


def _fail(message: str, status: int) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {redact(message)}", markup=False)
    raise typer.Exit(status)


def main() -> None:
    try:
        app()
    except Exception as error:  # a bug, not bad input: still one line, the traceback on request
        if os.environ.get("ORCHESTRATE_DEBUG"):
            raise
        message = redact(f"error: internal error: {error!r} (set ORCHESTRATE_DEBUG=1 to see the traceback)")
        Console(stderr=True, highlight=False, soft_wrap=True).print(message, markup=False)
        sys.exit(1)
