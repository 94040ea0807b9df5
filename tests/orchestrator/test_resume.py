"""Resuming an interrupted run: what the journal shows finished is taken from it, not generated again."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator import Orchestrator, ThreadFinished, parse_task
from orchestrator.cli import app
from orchestrator.events import Event
from orchestrator.journal import JOURNAL_FILE, Journal
from orchestrator.plan import Step
from orchestrator.result import RunResult
from orchestrator.resume import read_run
from orchestrator.spec import TaskSpec

TASK = {
    "task": "How many positive divisors does 360 have?",
    "backend": {"kind": "sim", "time_scale": 0, "seed": 5},
    "strategy": {"threads": 8, "max_tokens": 600, "seed": 1},
}
PLAN = {
    **TASK,
    "task": "Add the two results.",
    "backend": {"kind": "sim", "time_scale": 0, "answers": {"84": 1.0}},
    "strategy": {"threads": 2, "max_tokens": 4096, "seed": 1},
    "plan": [
        {"id": "six", "tool": "calculator", "args": {"expression": "6*7"}},
        {"id": "four", "tool": "calculator", "args": {"expression": "40+2"}},
        {"id": "sum", "prompt": "What is ${six} + ${four}?"},
    ],
}


async def journaled_run(run_dir: Path, spec: TaskSpec, stop_after_threads: int | None = None) -> RunResult:
    """A run with its journal, stopped (as Ctrl-C would) once `stop_after_threads` threads have ended."""
    journal, ended = Journal.create(run_dir), []
    journal.started(spec, run_dir)

    def observer(event: Event) -> None:
        journal(event)
        if isinstance(event, ThreadFinished):
            ended.append(event)
            if len(ended) == stop_after_threads:
                orchestrator.stop("interrupted by the test")

    async with Orchestrator.from_spec(spec, observer) as orchestrator:
        result = await orchestrator.run(spec)
    journal.finished(result)
    journal.close()
    return result


async def resumed_run(run_dir: Path) -> RunResult:
    resumed = read_run(run_dir)
    journal = Journal.reopen(run_dir)
    journal.resumed()
    async with Orchestrator.from_spec(resumed.spec, journal, resumed.base_dir, resumed.reuse) as orchestrator:
        result = await orchestrator.run(resumed.spec)
    journal.close()
    return result


def finished_threads(run_dir: Path) -> list[dict]:
    lines = (run_dir / JOURNAL_FILE).read_text().splitlines()
    threads = [record["thread"] for line in lines if (record := json.loads(line))["event"] == "thread_finished"]
    return [thread for thread in threads if thread["status"] != "aborted"]  # cut off by the stop: run again


async def test_finished_threads_of_an_interrupted_step_are_not_generated_again(tmp_path: Path) -> None:
    spec = parse_task(TASK)
    first = await journaled_run(tmp_path, spec, stop_after_threads=3)
    assert first.stopped == "interrupted by the test"
    kept = {thread["index"]: thread for thread in finished_threads(tmp_path)}
    assert 3 <= len(kept) < 8

    second = await resumed_run(tmp_path)
    assert second.stopped is None and second.answer is not None
    assert second.reused is not None and second.reused.threads == len(kept) and second.reused.steps == []
    assert second.reused.tokens == sum(thread["tokens"] for thread in kept.values())
    assert sorted(thread.index for thread in second.threads) == list(range(8))
    for thread in second.threads:
        assert thread.reused == (thread.index in kept)
        if thread.reused:
            assert thread.text == kept[thread.index]["text"]
    assert second.usage.requests == 1 + 8 - len(kept)  # the warm-up, and only the threads that had not ended
    assert second.usage.completion_tokens == sum(thread.tokens for thread in second.threads if not thread.reused)


async def test_resuming_a_finished_run_generates_nothing_and_gives_the_same_answer(tmp_path: Path) -> None:
    first = await journaled_run(tmp_path, parse_task(TASK))
    second = await resumed_run(tmp_path)
    assert second.answer == first.answer and second.votes == first.votes
    assert second.usage.requests == 0 and second.usage.completion_tokens == 0
    assert second.reused is not None and second.reused.steps == ["answer"] and second.reused.threads == 8
    assert all(step.reused for step in second.steps)


async def test_finished_steps_of_a_plan_are_reused_and_the_rest_run(tmp_path: Path) -> None:
    spec = parse_task(PLAN)
    first = await journaled_run(tmp_path, spec, stop_after_threads=1)
    done_before = {step.id for step in first.steps if step.status.value == "done"}
    assert {"six", "four"} <= done_before and first.stopped is not None
    second = await resumed_run(tmp_path)
    assert second.reused is not None and set(second.reused.steps) == done_before
    assert {step.id: step.reused for step in second.steps} == {
        "six": True, "four": True, "sum": "sum" in done_before,
    }  # fmt: skip
    assert second.answer == "84"


async def test_a_planned_run_resumes_with_its_journaled_plan_without_asking_the_planner(tmp_path: Path) -> None:
    spec = parse_task({**TASK, "task": "What is 6 * 7? And what is 40 + 2?", "plan": "auto"})
    first = await journaled_run(tmp_path, spec)
    events = [json.loads(line)["event"] for line in (tmp_path / JOURNAL_FILE).read_text().splitlines()]
    assert "plan_step" in events and "plan_complete" in events
    second = await resumed_run(tmp_path)
    assert [step.id for step in second.steps] == [step.id for step in first.steps]
    assert second.usage.requests == 0 and second.answer == first.answer


def test_a_step_whose_definition_changed_is_not_reused(tmp_path: Path) -> None:
    spec = parse_task(PLAN)
    import asyncio

    asyncio.run(journaled_run(tmp_path, spec))
    reuse = read_run(tmp_path).reuse
    assert reuse.step(Step(id="six", tool="calculator", args={"expression": "6*7"})) is not None
    assert reuse.step(Step(id="six", tool="calculator", args={"expression": "6*8"})) is None


def test_resume_through_the_cli_tolerates_a_torn_last_line(tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(json.dumps(TASK))
    run_dir = tmp_path / "run"
    assert CliRunner().invoke(app, ["run", str(task), "--run-dir", str(run_dir), "--quiet"]).exit_code == 0
    with (run_dir / JOURNAL_FILE).open("a") as journal:
        journal.write('{"event": "thread_finished", "step": "ans')  # killed mid-write
    done = CliRunner().invoke(app, ["run", "--resume", str(run_dir), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["reused"]["steps"] == ["answer"]
    lines = (run_dir / JOURNAL_FILE).read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # the torn line was cut before appending
    assert json.loads(lines[-1])["event"] == "run_finished"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: "", "does not start with a run_started record"),
        (lambda text: "garbage\n" + text, ":1: not a journal record; the journal is damaged"),
        (lambda text: text.replace('"threads": 8', '"threads": -1', 1), "the journal's task is not valid any more"),
    ],
)
def test_a_damaged_journal_is_one_line_and_exit_2(tmp_path: Path, damage: object, message: str) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(json.dumps(TASK))
    run_dir = tmp_path / "run"
    CliRunner().invoke(app, ["run", str(task), "--run-dir", str(run_dir), "--quiet"])
    path = run_dir / JOURNAL_FILE
    path.write_text(damage(path.read_text()))  # type: ignore[operator]
    done = CliRunner().invoke(app, ["run", "--resume", str(run_dir)])
    assert done.exit_code == 2
    assert done.stderr.startswith("error: ") and message in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("extra", [["task.yaml"], ["--run-dir", "elsewhere"]])
def test_resume_takes_no_task_file_or_run_dir(tmp_path: Path, extra: list[str]) -> None:
    done = CliRunner().invoke(app, ["run", "--resume", str(tmp_path), *extra])
    assert done.exit_code == 2 and "--resume takes the task and the run directory from the journal" in done.stderr


def test_live_progress_shows_a_reused_thread_that_never_started_in_this_run() -> None:
    from io import StringIO

    from rich.console import Console

    from orchestrator.progress import LiveProgress
    from orchestrator.result import ThreadReport, ThreadStatus

    progress = LiveProgress(Console(file=StringIO()), "")
    report = ThreadReport(
        index=3, request_id="r", status=ThreadStatus.DONE, answer="24", tokens=10, prompt_tokens=5,
        cached_tokens=4, reasoning_tokens=0, wall_s=0.1, text="... 24", step="answer", reused=True,
    )  # fmt: skip
    progress(ThreadFinished(report))
    assert progress.rows[("answer", 3)].status == "done (reused)"
