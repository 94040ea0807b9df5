"""`orchestrate plan`, and `validate` / `run` on task files with a `plan:`: output, exit codes, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from orchestrator.cli import app

ROOT = Path(__file__).resolve().parents[2]
BACKEND = "backend: {kind: sim, time_scale: 0, answers: {'42': 1.0}}\nstrategy: {threads: 2, max_tokens: 4096}\n"
PLAN = """\
plan:
  - {id: product, tool: calculator, args: {expression: "6 * 7"}}
  - {id: check, prompt: "Is ${product} right?"}
  - {id: answer, tool: join, args: {parts: ["${product}", "${check}"], separator: " / "}}
"""
AUTO = "plan: auto\n"


def task(tmp_path: Path, plan: str, text: str = "What is 6 * 7? And what is 40 + 2?", extra: str = "") -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(f"task: {json.dumps(text)}\n{BACKEND}{plan}{extra}")
    return path


def orchestrate(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def one_line_error(result: Result, status: int, expected: str) -> None:
    assert result.exit_code == status, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr and "Traceback" not in result.output


BAD_PLANS = {
    "cycle": (
        "plan:\n  - {id: a, prompt: 'x ${b}'}\n  - {id: b, prompt: y, depends_on: [a]}\n",
        "plan: the plan has a cycle: ",
    ),
    "unknown reference": ("plan:\n  - {id: a, prompt: 'x ${zz}'}\n", "plan: step 'a' depends on unknown step 'zz'"),
    "self": ("plan:\n  - {id: a, prompt: x, depends_on: [a]}\n", "plan: step 'a' depends on itself"),
    "duplicate": ("plan:\n  - {id: a, prompt: x}\n  - {id: a, prompt: y}\n", "plan: step 'a' is defined twice"),
    "unknown tool": (
        "plan:\n  - {id: a, tool: search, args: {}}\n",
        "plan: step 'a' uses unknown tool 'search' (known: ",
    ),
    "empty": ("plan: []\n", "plan: expected a non-empty list of steps, or 'auto'"),
}


@pytest.mark.parametrize("command", ["validate", "run", "plan"])
@pytest.mark.parametrize("case", list(BAD_PLANS))
def test_a_bad_plan_in_a_task_file_exits_2_with_one_line(tmp_path: Path, command: str, case: str) -> None:
    plan, expected = BAD_PLANS[case]
    path = task(tmp_path, plan)
    result = orchestrate(command, path)
    one_line_error(result, 2, expected)
    assert result.stderr.startswith(f"error: {path}: {expected}") and result.stdout == ""


def test_a_bad_plan_is_one_line_from_the_real_command_too(tmp_path: Path) -> None:
    path = task(tmp_path, BAD_PLANS["cycle"][0])
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {path}: plan: the plan has a cycle: ") and done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("plan", "expected"),
    [(PLAN, "a plan of 3 steps"), (AUTO, "a plan written by the LLM planner"), ("", "one reasoning step")],
)
def test_validate_says_what_kind_of_plan_a_file_has(tmp_path: Path, plan: str, expected: str) -> None:
    result = orchestrate("validate", task(tmp_path, plan))
    assert result.exit_code == 0 and f"ok ({expected}, 2 threads per reasoning step" in result.stdout


def test_run_json_reports_every_step_of_a_given_plan(tmp_path: Path) -> None:
    result = orchestrate("run", task(tmp_path, PLAN), "--json")
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    steps = {step["id"]: step for step in output["steps"]}
    assert list(steps) == ["product", "check", "answer"]
    assert {step["status"] for step in steps.values()} == {"done"}
    assert steps["product"]["result"] == "42" and steps["answer"]["result"] == "42 / 42"
    assert all(0 <= step["started_s"] <= step["ended_s"] for step in steps.values())
    assert steps["answer"]["started_s"] >= max(steps["product"]["ended_s"], steps["check"]["ended_s"])
    assert output["answer"] == "42 / 42" and output["stopped"] is None


def test_run_with_plan_auto_plans_then_runs(tmp_path: Path) -> None:
    result = orchestrate("run", task(tmp_path, AUTO), "--json")
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert [step["id"] for step in steps] == ["calc1", "calc2", "q1", "q2", "answer"]
    assert all(step["status"] == "done" and step["error"] is None for step in steps)
    assert [step["kind"] for step in steps] == ["tool", "tool", "reasoning", "reasoning", "reasoning"]


def test_a_run_stopped_by_its_budget_exits_3_and_writes_the_partial_result(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = orchestrate("run", task(tmp_path, AUTO, extra="budget: {tokens: 150}\n"), "--json", "--out", out)
    one_line_error(result, 3, "stopped: the token budget was reached")
    written = json.loads(out.read_text())
    assert written == json.loads(result.stdout)
    assert written["stopped"].startswith("the token budget was reached")
    assert "cancelled" in {step["status"] for step in written["steps"]}


def test_a_step_budget_exits_3_with_the_finished_steps_kept(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = orchestrate("run", task(tmp_path, PLAN, extra="budget: {steps: 2}\n"), "--quiet", "--out", out)
    one_line_error(result, 3, "stopped: the step budget of 2 steps was reached; the partial result is above")
    steps = {step["id"]: step["status"] for step in json.loads(out.read_text())["steps"]}
    assert steps == {"product": "done", "check": "done", "answer": "cancelled"}


def test_a_plan_whose_final_step_fails_exits_1_naming_the_step(tmp_path: Path) -> None:
    plan = "plan:\n  - {id: bad, tool: calculator, args: {expression: '1/0'}}\n  - {id: use, prompt: '${bad}'}\n"
    result = orchestrate("run", task(tmp_path, plan, extra="execution: {retries: 0}\n"), "--quiet")
    one_line_error(result, 1, "step 'bad' failed: ")
    assert "division by zero" in result.stderr


@pytest.mark.parametrize("plan", [PLAN, AUTO], ids=["given", "auto"])
def test_plan_prints_a_tree_by_default(tmp_path: Path, plan: str) -> None:
    result = orchestrate("plan", task(tmp_path, plan))
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    head = "3 steps, 3 waves, critical path product -> check -> answer" if plan == PLAN else "5 steps, 2 waves"
    assert text.startswith(f"{tmp_path / 'task.yaml'} ({head}")
    assert ("└── product" if plan == PLAN else "├── calc1") in result.stdout


@pytest.mark.parametrize(("fmt", "marker"), [("mermaid", "flowchart TD"), ("dot", "digraph plan {"), ("json", "{")])
@pytest.mark.parametrize("plan", [PLAN, AUTO], ids=["given", "auto"])
def test_plan_exports_mermaid_dot_and_json(tmp_path: Path, plan: str, fmt: str, marker: str) -> None:
    result = orchestrate("plan", task(tmp_path, plan), "--format", fmt)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(marker)
    if fmt == "json":
        steps = [step["id"] for step in json.loads(result.stdout)["steps"]]
        assert steps == (["product", "check", "answer"] if plan == PLAN else ["calc1", "calc2", "q1", "q2", "answer"])


def test_plan_runs_nothing_but_the_planner(tmp_path: Path) -> None:
    result = orchestrate("plan", task(tmp_path, AUTO), "-f", "json")
    data = json.loads(result.stdout)
    assert data["waves"] == [["calc1", "calc2", "q1", "q2"], ["answer"]] and data["critical_path"][-1] == "answer"


def test_plan_of_a_task_without_a_plan_is_its_one_reasoning_step(tmp_path: Path) -> None:
    result = orchestrate("plan", task(tmp_path, ""), "--format", "json")
    assert json.loads(result.stdout)["steps"] == [{"id": "answer", "prompt": "What is 6 * 7? And what is 40 + 2?"}]


def test_plan_with_an_unknown_format_exits_2(tmp_path: Path) -> None:
    one_line_error(
        orchestrate("plan", task(tmp_path, PLAN), "--format", "png"),
        2,
        "--format: expected one of tree, mermaid, dot, json, got 'png'",
    )


def test_a_planner_that_runs_out_of_repairs_fails_the_run_with_exit_1(tmp_path: Path) -> None:
    path = task(tmp_path, AUTO, extra="planner: {max_steps: 2, max_repairs: 1}\n")
    result = orchestrate("run", path, "--json")
    expected = "planning failed: no valid plan after 2 attempts: the plan has more than 2 steps (planner.max_steps)"
    one_line_error(result, 1, expected)
    assert result.stdout == ""


def test_plan_says_why_the_planner_failed_in_one_line(tmp_path: Path) -> None:
    result = orchestrate("plan", task(tmp_path, AUTO, extra="planner: {max_steps: 2, max_repairs: 0}\n"))
    one_line_error(result, 2, "no valid plan after 1 attempts: the plan has more than 2 steps (planner.max_steps)")
