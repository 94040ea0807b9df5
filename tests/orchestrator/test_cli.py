"""`orchestrate` as a user runs it: a real subprocess."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "examples" / "divisors.yaml"


def orchestrate(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "orchestrator", *args]
    return subprocess.run(command, check=False, cwd=cwd, capture_output=True, text=True, timeout=120)


def fast_task(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(
        "task: How many positive divisors does 360 have?\n"
        "backend: {kind: sim, time_scale: 0, answers: {'24': 0.8, '20': 0.2}}\n"
        f"strategy: {{threads: 6, max_tokens: 4096{extra}}}\n"
    )
    return path


def test_the_shipped_example_runs_and_reports_its_cost() -> None:
    done = orchestrate("run", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "Answer: 24" in done.stdout
    assert "SIMULATED" in done.stdout
    assert "served from cache" in done.stdout


def test_json_output_has_the_documented_fields(tmp_path: Path) -> None:
    done = orchestrate("run", str(fast_task(tmp_path)), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "24"
    assert set(result["usage"]) >= {"prompt_tokens", "completion_tokens", "cached_tokens"}
    assert len(result["threads"]) == 6
    assert all(set(thread) >= {"answer", "tokens", "status"} for thread in result["threads"])
    assert result["wall_s"] > 0
    assert result["backend"]["kind"] == "sim" and result["backend"]["simulated"] is True


def test_out_writes_the_same_json_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = orchestrate("run", str(fast_task(tmp_path)), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["answer"] == "24"
    assert "Answer: 24" in done.stdout


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    done = orchestrate("validate", str(fast_task(tmp_path)))
    assert done.returncode == 0
    assert "ok (one reasoning step, 6 threads per reasoning step, backend 'sim')" in done.stdout


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("task: [", "not valid YAML"),
        ("task: q\nstrategy: {threads: -1}\n", "strategy.threads: Input should be greater than or equal to 1"),
        ("task: q\nbogus: 1\n", "bogus: unknown key"),
    ],
)
def test_bad_task_files_exit_2_with_one_line(tmp_path: Path, command: str, content: str | None, expected: str) -> None:
    path = tmp_path / "task.yaml"
    if content is not None:
        path.write_text(content)
    done = orchestrate(command, str(path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and expected in done.stderr
    assert done.stderr.startswith(f"error: {path}")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_the_console_script_is_installed() -> None:
    script = shutil.which("orchestrate")
    if script is None:
        pytest.skip("the package is not installed with its console script")
    done = subprocess.run([script, "--help"], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "run" in done.stdout and "validate" in done.stdout
