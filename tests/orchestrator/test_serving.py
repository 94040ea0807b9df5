"""Whole runs against a simulated SGLang server over real HTTP on 127.0.0.1: each backend kind, and faults."""

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import free_port

from orchestrator import Orchestrator, SimConfig, Strategy, ThreadStatus
from orchestrator.backends.sglang import SGLangBackend, SGLangConfig
from orchestrator.backends.stack import Limits, with_limits
from orchestrator.simserver import Faults, SimServer

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How many positive divisors does 360 have?"


@pytest.fixture(scope="module")
def sim_server() -> Iterator[str]:
    """`orchestrate sim-server` as a user starts it, in its own process."""
    port = free_port()
    command = [sys.executable, "-m", "orchestrator", "sim-server", "--port", str(port), "--time-scale", "0",
               "--answers", '{"24": 0.8, "20": 0.2}']  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_until_healthy(url: str, server: subprocess.Popen[str], limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"sim-server exited: {server.stderr.read() if server.stderr else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError("sim-server did not become healthy")


BACKENDS = {
    "sglang": "{{kind: sglang, url: '{url}'}}",
    "openai-completions": "{{kind: openai, base_url: '{url}/v1', model: sim-model}}",
    "openai-chat": "{{kind: openai, base_url: '{url}/v1', model: sim-model, api: chat}}",
}


@pytest.mark.parametrize("kind", BACKENDS)
def test_orchestrate_run_with_each_backend_kind(sim_server: str, tmp_path: Path, kind: str) -> None:
    task = tmp_path / "task.yaml"
    backend = BACKENDS[kind].format(url=sim_server)
    task.write_text(f"task: {QUESTION}\nbackend: {backend}\nstrategy: {{threads: 5, max_tokens: 4096}}\n")
    done = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(task), "--json"],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "24"
    assert result["backend"]["kind"] == kind.split("-")[0]
    assert result["backend"]["simulated"] is True
    assert result["usage"]["cached_tokens"] > 0
    assert [thread["status"] for thread in result["threads"]] == ["done"] * 5


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(
        f"task: q\nbackend: {{kind: sglang, url: 'http://127.0.0.1:{free_port()}'}}\nlimits: {{retries: 0}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", str(task)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "cannot reach SGLang at http://127.0.0.1:" in done.stderr
    assert "python -m sglang.launch_server" in done.stderr


async def run_under(faults: Faults, threads: int = 12, time_scale: float = 0.05, **limits: object) -> object:
    config = SimConfig(time_scale=time_scale, answers={"24": 0.9, "20": 0.1})
    async with SimServer(config, faults=faults) as server:
        backend = with_limits(SGLangBackend(SGLangConfig(url=server.url)), Limits(backoff_s=0.01, **limits))  # type: ignore[arg-type]
        async with (
            asyncio.timeout(60),
            Orchestrator(backend, Strategy(threads=threads, max_tokens=4096)) as orchestrator,
        ):
            return await orchestrator.run(QUESTION)


async def test_server_errors_are_retried_and_the_run_finishes() -> None:
    result = await run_under(Faults(error_rate=0.3, unavailable_rate=0.2, seed=3), retries=6)
    assert all(thread.status is ThreadStatus.DONE for thread in result.threads)  # type: ignore[attr-defined]
    assert result.backend.stats["retries"] > 0  # type: ignore[attr-defined]
    assert result.answer == "24"  # type: ignore[attr-defined]


async def test_cut_streams_fail_their_threads_with_the_reason_and_keep_the_others() -> None:
    result = await run_under(Faults(cut_rate=0.4, seed=5), retries=2)
    threads = result.threads  # type: ignore[attr-defined]
    failed = [thread for thread in threads if thread.status is ThreadStatus.FAILED]
    finished = [thread for thread in threads if thread.status is ThreadStatus.DONE]
    assert failed and finished and len(failed) + len(finished) == 12
    assert all("ended before the request finished" in thread.error for thread in failed)
    assert all(thread.answer and thread.text.endswith("}.") for thread in finished)
    assert sum(result.votes.values()) == len(finished)  # type: ignore[attr-defined]


async def test_slow_tokens_and_a_run_timeout_stop_cleanly_with_a_partial_result() -> None:
    started = time.monotonic()
    result = await run_under(Faults(token_delay_s=0.002), threads=4, time_scale=1.0, run_timeout_s=1.0)
    assert time.monotonic() - started < 4
    assert all(thread.status is ThreadStatus.ABORTED for thread in result.threads)  # type: ignore[attr-defined]
    assert all(thread.tokens > 0 and thread.text for thread in result.threads)  # type: ignore[attr-defined]
