"""Ctrl-C and SIGTERM on a real `orchestrate run` process against a real sim-server on loopback."""

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.backends.sim.config import SimConfig
from orchestrator.journal import JOURNAL_FILE, RESULT_FILE
from orchestrator.simserver import SimServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CLI = [sys.executable, "-c", "from orchestrator.cli import main; main()"]
SLOW = SimConfig(time_scale=2.0, seed=4)  # two real seconds per simulated second: threads end seconds apart


def task_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(
        "task: How many positive divisors does 360 have?\n"
        f"backend: {{kind: sglang, url: '{url}'}}\n"
        "strategy: {threads: 8, max_tokens: 3000, seed: 1}\n"
    )
    return path


def journaled_threads(run_dir: Path) -> list[dict]:
    journal = run_dir / JOURNAL_FILE
    lines = journal.read_text().splitlines() if journal.exists() else []
    records = [json.loads(line) for line in lines if '"event": "thread_finished"' in line]
    return [record["thread"] for record in records]


def finished_threads(run_dir: Path) -> int:
    return sum(thread["status"] != "aborted" for thread in journaled_threads(run_dir))


async def wait_for(condition: object, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def interrupt(tmp_path: Path, server: SimServer, which: signal.Signals) -> subprocess.CompletedProcess[str]:
    run_dir = tmp_path / "run"
    argv = [*CLI, "run", str(task_file(tmp_path, server.url)), "--run-dir", str(run_dir), "--quiet"]
    process = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    await wait_for(lambda: finished_threads(run_dir) >= 2)
    process.send_signal(which)
    async with asyncio.timeout(30):
        stdout, stderr = await process.communicate()
    return subprocess.CompletedProcess(argv, process.returncode or 0, stdout.decode(), stderr.decode())


@pytest.mark.parametrize(("which", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_signal_aborts_requests_on_the_server_writes_the_partial_result_and_exits(
    tmp_path: Path, which: signal.Signals, status: int
) -> None:
    async with SimServer(SLOW) as server:
        done = await interrupt(tmp_path, server, which)
        await wait_for(lambda: server.backend.stats()["running"] == 0, 10)
        stats = server.backend.stats()
    assert done.returncode == status, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: interrupted by {which.name}; the partial result is above")
    assert f"orchestrate run --resume {tmp_path / 'run'}" in done.stderr
    result = json.loads((tmp_path / "run" / RESULT_FILE).read_text())
    journaled = finished_threads(tmp_path / "run")
    cut = [thread for thread in result["threads"] if thread["status"] == "aborted"]
    assert result["stopped"] == f"interrupted by {which.name}"
    assert len(result["threads"]) == len(journaled_threads(tmp_path / "run")) == 8
    assert journaled >= 2 and len(cut) == 8 - journaled
    assert stats["aborted"] == len(cut)  # every thread still generating was aborted on the server
    assert stats["finished"] == 1 + journaled  # the warm-up and the threads that had ended
    assert all(thread["tokens"] > 0 and thread["text"] for thread in cut)  # what they had streamed is kept
    assert result["usage"]["completion_tokens"] == sum(thread["tokens"] for thread in result["threads"])


async def test_an_interrupted_run_resumes_and_generates_only_what_was_left(tmp_path: Path) -> None:
    async with SimServer(SLOW.model_copy(update={"time_scale": 0.5})) as server:
        await interrupt(tmp_path, server, signal.SIGINT)
        journaled = finished_threads(tmp_path / "run")
        submitted_before = server.backend.stats()["submitted"]
        argv = [*CLI, "run", "--resume", str(tmp_path / "run"), "--json"]
        resumed = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60)
        submitted = server.backend.stats()["submitted"] - submitted_before
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["reused"]["threads"] == journaled
    assert submitted == 1 + 8 - journaled  # the warm-up and the threads that had not ended
    assert result["answer"] is not None and len(result["threads"]) == 8
