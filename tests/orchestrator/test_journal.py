"""`orchestrate run --run-dir` and the default run directory: the journal a user can read and resume from."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.errors import UsageError
from orchestrator.journal import JOURNAL_FILE, RESULT_FILE, Journal, new_run_dir, runs_home

TASK = """\
task: How many positive divisors does 360 have?
backend: {kind: sim, time_scale: 0, seed: 3}
strategy: {threads: 4, max_tokens: 400, seed: 1}
"""

PLAN = """\
task: Add the two results.
backend: {kind: sim, time_scale: 0}
strategy: {threads: 2, max_tokens: 200, seed: 1}
plan:
  - {id: six, tool: calculator, args: {expression: "6*7"}}
  - {id: four, tool: calculator, args: {expression: "40+2"}}
  - {id: sum, prompt: "What is ${six} + ${four}?"}
"""


def write_task(tmp_path: Path, text: str = TASK) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(text)
    return path


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / JOURNAL_FILE).read_text().splitlines()]


def test_the_journal_logs_the_run_event_by_event_and_ends_with_the_result(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = CliRunner().invoke(app, ["run", str(write_task(tmp_path)), "--run-dir", str(run_dir), "--json"])
    assert done.exit_code == 0, done.output
    events = [record["event"] for record in records(run_dir)]
    assert events[:2] == ["run_started", "step_started"]
    assert events.count("thread_finished") == 4
    assert events[-3:] == ["step_sampled", "step_finished", "run_finished"]
    result = json.loads(done.stdout)
    assert json.loads((run_dir / RESULT_FILE).read_text()) == result
    assert records(run_dir)[-1]["result"] == result
    assert result["run_dir"] == str(run_dir)


def test_the_journal_keeps_the_resolved_task_and_each_threads_text_and_usage(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    CliRunner().invoke(app, ["run", str(write_task(tmp_path)), "--run-dir", str(run_dir), "--quiet"])
    start, *rest = records(run_dir)
    assert start["task"]["strategy"]["threads"] == 4 and start["task"]["backend"]["kind"] == "sim"
    assert start["base_dir"] == str(tmp_path.resolve())
    threads = [record["thread"] for record in rest if record["event"] == "thread_finished"]
    assert all(thread["text"] and thread["tokens"] > 0 and thread["step"] == "answer" for thread in threads)


def test_every_step_of_a_plan_is_journaled_with_its_result(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = CliRunner().invoke(app, ["run", str(write_task(tmp_path, PLAN)), "--run-dir", str(run_dir), "--quiet"])
    assert done.exit_code == 0, done.output
    finished = {r["step"]: r["report"] for r in records(run_dir) if r["event"] == "step_finished"}
    assert finished["six"]["result"] == "42" and finished["four"]["result"] == "42"
    assert finished["sum"]["status"] == "done"


def test_without_run_dir_a_new_directory_under_the_default_home_is_used_and_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ORCHESTRATE_RUNS", str(tmp_path / "runs"))
    done = CliRunner().invoke(app, ["run", str(write_task(tmp_path))])
    assert done.exit_code == 0, done.output
    (run_dir,) = list((tmp_path / "runs").iterdir())
    assert "-task-" in run_dir.name
    assert f"Run directory: {run_dir}" in done.stdout.replace("\n", "")
    assert (run_dir / RESULT_FILE).exists()


def test_the_default_home_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ORCHESTRATE_RUNS")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert runs_home() == tmp_path / "state" / "orchestrate" / "runs"
    assert new_run_dir("my task!").name.split("-", 2)[2].startswith("my-task-")
    monkeypatch.setenv("ORCHESTRATE_RUNS", str(tmp_path / "mine"))
    assert runs_home() == tmp_path / "mine"


def test_a_directory_that_holds_a_run_is_not_overwritten(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    task = str(write_task(tmp_path))
    CliRunner().invoke(app, ["run", task, "--run-dir", str(run_dir), "--quiet"])
    before = (run_dir / JOURNAL_FILE).read_text()
    again = CliRunner().invoke(app, ["run", task, "--run-dir", str(run_dir), "--quiet"])
    assert again.exit_code == 2
    assert again.stderr == f"error: {run_dir} already holds a run; continue it with --resume {run_dir}\n"
    assert (run_dir / JOURNAL_FILE).read_text() == before


def test_an_unwritable_run_directory_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = CliRunner().invoke(app, ["run", str(write_task(tmp_path)), "--run-dir", str(blocker / "run")])
    assert done.exit_code == 2
    assert done.stderr.startswith("error: ") and "cannot write the run directory" in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_failed_run_journals_its_error_and_names_the_journal(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    down = "task: q\nbackend: {kind: sglang, url: 'http://127.0.0.1:9'}\nlimits: {retries: 0}\n"
    done = CliRunner().invoke(app, ["run", str(write_task(tmp_path, down)), "--run-dir", str(run_dir)])
    assert done.exit_code == 1
    assert done.stderr.count("\n") == 1 and done.stderr.rstrip().endswith(f"the journal is in {run_dir}")
    assert records(run_dir)[-1]["event"] == "error"


def test_journal_lines_are_flushed_as_events_happen(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "run")
    journal.write("note", value=1)
    assert json.loads((tmp_path / "run" / JOURNAL_FILE).read_text())["value"] == 1  # before close
    journal.close()


def test_reopening_cuts_a_torn_last_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    journal = Journal.create(run_dir)
    journal.write("note", value=1)
    journal.close()
    with (run_dir / JOURNAL_FILE).open("a") as file:
        file.write('{"event": "thread_fini')
    Journal.reopen(run_dir).close()
    assert [json.loads(line)["value"] for line in (run_dir / JOURNAL_FILE).read_text().splitlines()] == [1]


def test_create_refuses_a_directory_with_a_journal(tmp_path: Path) -> None:
    Journal.create(tmp_path).write("note")
    with pytest.raises(UsageError, match="already holds a run"):
        Journal.create(tmp_path)
