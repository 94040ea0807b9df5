"""API keys come from the environment only and never reach the journal, `--json`, results or error messages."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from typer.testing import CliRunner

from orchestrator.backends.sim.config import SimConfig
from orchestrator.cli import app
from orchestrator.journal import JOURNAL_FILE, RESULT_FILE
from orchestrator.redaction import redact
from orchestrator.simserver import SimServer

KEY = "sk-test-Zq8vN3xR7pL2wK9mT4"


@pytest.fixture(autouse=True)
def _api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("MY_SERVER_TOKEN", KEY[::-1])


def test_redact_masks_every_secret_looking_variable() -> None:
    assert redact(f"key={KEY} token={KEY[::-1]} plain") == "key=*** token=*** plain"


def run_task(tmp_path: Path, backend: str) -> tuple[object, Path]:
    task = tmp_path / "task.yaml"
    task.write_text(f"task: q\nbackend: {backend}\nstrategy: {{threads: 2, max_tokens: 100}}\nlimits: {{retries: 0}}\n")
    run_dir = tmp_path / "run"
    return CliRunner().invoke(
        app, ["run", str(task), "--json", "--run-dir", str(run_dir), "--out", str(tmp_path / "o.json")]
    ), run_dir


def everything_written(done: object, run_dir: Path, tmp_path: Path) -> str:
    files = [run_dir / JOURNAL_FILE, run_dir / RESULT_FILE, tmp_path / "o.json"]
    return done.stdout + done.stderr + "".join(path.read_text() for path in files if path.exists())  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["openai", "sglang"])
async def test_a_run_with_a_key_writes_it_nowhere(tmp_path: Path, kind: str) -> None:
    async with SimServer(SimConfig(time_scale=0)) as server:
        backend = (
            f"{{kind: openai, base_url: '{server.url}/v1', model: sim-model}}"
            if kind == "openai"
            else f"{{kind: sglang, url: '{server.url}', api_key_env: MY_SERVER_TOKEN}}"
        )
        done, run_dir = await asyncio.to_thread(run_task, tmp_path, backend)
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    written = everything_written(done, run_dir, tmp_path)
    assert KEY not in written and KEY[::-1] not in written
    assert "OPENAI_API_KEY" in written or "MY_SERVER_TOKEN" in written  # the variable's name is kept


@pytest.fixture
async def echoing_server() -> AsyncIterator[str]:
    """A server that, like some proxies, echoes the request's Authorization header in its error."""

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"message": f"bad auth: {request.headers.get('Authorization')}"}}, status=400
        )

    app_ = web.Application()
    app_.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app_)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize("kind", ["openai", "sglang"])
async def test_an_error_that_echoes_the_key_is_redacted(tmp_path: Path, echoing_server: str, kind: str) -> None:
    backend = (
        f"{{kind: openai, base_url: '{echoing_server}/v1', model: m}}"
        if kind == "openai"
        else f"{{kind: sglang, url: '{echoing_server}', api_key_env: MY_SERVER_TOKEN}}"
    )
    done, run_dir = await asyncio.to_thread(run_task, tmp_path, backend)
    assert done.exit_code != 0  # type: ignore[attr-defined]
    assert "***" in done.stderr + (run_dir / JOURNAL_FILE).read_text()  # type: ignore[attr-defined]
    written = everything_written(done, run_dir, tmp_path)
    assert KEY not in written and KEY[::-1] not in written
