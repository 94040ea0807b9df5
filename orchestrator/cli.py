"""`orchestrate`: the command line.

Exit status: 0 success, 1 a run failed (backend error, no thread succeeded), 2 a bad task file or
bad command line, 130 interrupted. Every failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestrator.errors import OrchestrateError, TaskFileError
from orchestrator.events import Observer, ignore
from orchestrator.progress import LiveProgress
from orchestrator.report import render_result
from orchestrator.result import RunResult
from orchestrator.runner import run_task
from orchestrator.spec import TaskSpec, load_task

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Parallel reasoning on the inference server you already run (offline: the embedded simulator).",
)

TaskFile = Annotated[Path, typer.Argument(help="A task file (YAML).", show_default=False)]


@app.command()
def run(
    file: TaskFile,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON result to this file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress.")] = False,
) -> None:
    """Run a task file and print the answer with its cost."""
    with _one_line_errors():
        spec = load_task(file)
        result = _execute(spec, show_progress=not (quiet or as_json))
        _emit(result, as_json, out)


@app.command()
def validate(file: TaskFile) -> None:
    """Check a task file without running it."""
    with _one_line_errors():
        spec = load_task(file)
        typer.echo(f"{file}: ok ({spec.strategy.threads} threads on backend '{spec.backend.kind}')")


def _execute(spec: TaskSpec, show_progress: bool) -> RunResult:
    stderr = Console(stderr=True)
    progress = LiveProgress(stderr, "[simulated]" if spec.backend.kind == "sim" else "") if (
        show_progress and stderr.is_terminal
    ) else None
    observer: Observer = progress or ignore
    with progress or nullcontext():
        return asyncio.run(run_task(spec, observer))


def _emit(result: RunResult, as_json: bool, out: Path | None) -> None:
    payload = result.model_dump_json(indent=2)
    if out is not None:
        _write_atomically(out, payload + "\n")
    if as_json:
        sys.stdout.write(payload + "\n")
    else:
        Console().print(render_result(result))


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        raise OrchestrateError(f"{path}: cannot write the result: {error.strerror}") from None


@contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except TaskFileError as error:
        _fail(str(error), 2)
    except OrchestrateError as error:
        _fail(str(error), 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def _fail(message: str, status: int) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {message}", markup=False)
    raise typer.Exit(status)


def main() -> None:
    app()
