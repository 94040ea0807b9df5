"""The aiohttp application, `SimServer` (start, stop, async context manager) and the blocking `serve`.

Every response carries `x-simulated: true`. While the fault plan says the server is loading, every
route answers 503. Client disconnects cancel their handler (aiohttp's `handler_cancellation`), which
aborts their requests in the simulator. `stop()` aborts in-flight requests first, so their streams
end with an abort finish reason and `[DONE]`, then closes the server; `start()` after `stop()` serves
again on the same port with a fresh simulator. `restart()` is a crash instead: connections are cut.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Self

from aiohttp import web

from orchestrator.backends.sim import SimConfig
from orchestrator.simserver import info, native, openai_api
from orchestrator.simserver.backend import ServedBackend
from orchestrator.simserver.errors import HttpError, http_exception
from orchestrator.simserver.faults import Faults
from orchestrator.simserver.state import STATE, ServerState, Settings, state_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HEALTH_PATHS = frozenset({"/health", "/health_generate", "/ready"})
SHUTDOWN_TIMEOUT_S = 2.0
BACKLOG = 2048  # uvicorn's default, what SGLang serves with (aiohttp's own 128 refuses bursts of connections)
NO_FAULTS = Faults()


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpError as error:
        return error.response


@web.middleware
async def loading_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not state_of(request).faults.loading():
        return await handler(request)
    if request.path in HEALTH_PATHS:
        return web.Response(status=503)
    raise http_exception("The server is loading the model (simulated). Retry later.", 503)


async def _mark_simulated(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["x-simulated"] = "true"


def build_app(state: ServerState) -> web.Application:
    app = web.Application(middlewares=[errors_middleware, loading_middleware], client_max_size=64 * 1024**2)
    app[STATE] = state
    app.on_response_prepare.append(_mark_simulated)
    app.add_routes(_routes())
    return app


def _routes() -> list[web.AbstractRouteDef]:
    return [
        web.post("/generate", native.generate),
        web.put("/generate", native.generate),
        web.post("/abort_request", native.abort_request),
        web.get("/health", info.health),
        web.get("/health_generate", info.health),
        web.get("/ready", info.ready),
        web.get("/server_info", info.server_info),
        web.get("/get_server_info", info.server_info),
        web.get("/model_info", info.model_info),
        web.get("/get_model_info", info.model_info),
        web.route("*", "/flush_cache", info.flush_cache),
        web.post("/tokenize", info.tokenize),
        web.post("/v1/tokenize", info.tokenize),
        web.post("/detokenize", info.detokenize),
        web.post("/v1/detokenize", info.detokenize),
        web.get("/metrics", info.metrics),
        web.get("/v1/models", openai_api.models),
        web.get("/v1/models/{model:.+}", openai_api.model),
        web.post("/v1/completions", openai_api.completions),
        web.post("/v1/chat/completions", openai_api.chat_completions),
    ]


class SimServer:
    """The embedded SGLang simulator behind real HTTP, with SGLang's protocol and OpenAI-compatible routes.

    - `reasoning_parser`: as SGLang's `--reasoning-parser qwen3`: chat splits `reasoning_content`.
    - `model_name`: SGLang's `--served-model-name` (`/v1/models`, `model_path`, metric labels).
    - `enable_cache_report`: SGLang's `--enable-cache-report` (OpenAI `usage.prompt_tokens_details`);
      off by default in SGLang, on by default here, where the figure is the point.
    - `backend` is the simulator itself (`backend.stats()` for tests); a restart replaces it.
    - `port`: 0 binds a free port; once started, the server keeps its port across `stop()`/`start()`
      and `restart()`.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults = NO_FAULTS,
        reasoning_parser: bool = False,
        model_name: str = "sim-model",
        enable_cache_report: bool = True,
    ) -> None:
        self._config = config or SimConfig()
        self._settings = Settings(model_name, reasoning_parser, enable_cache_report)
        self.state = ServerState.build(self._config, faults, self._settings)
        self.host = host
        self.port = port
        self.url = ""
        self.restarts = 0
        self._runner: web.AppRunner | None = None

    @property
    def backend(self) -> ServedBackend:
        return self.state.backend

    async def start(self) -> str:
        """Bind (port 0: a free port) and return the base URL, `http://HOST:PORT`.

        After `stop()` it starts a fresh simulator (empty cache, no request known) on the same port.
        """
        if self.state.closing:
            self._renew()
        runner = web.AppRunner(
            build_app(self.state), handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=BACKLOG)
        await site.start()
        self._runner = runner
        self.port = _bound_port(runner, self.port)
        self.url = f"http://{_url_host(self.host)}:{self.port}"
        self.state.host, self.state.port = self.host, self.port
        self.state.faults.restart_clock()
        return self.url

    async def stop(self) -> None:
        """Abort in-flight requests, close every connection and the simulator."""
        runner, self._runner = self._runner, None
        self.state.closing = True
        await self.backend.abort_all()
        if runner is not None:
            await asyncio.sleep(0)
            await runner.cleanup()
        await self.backend.close()

    async def restart(self, down_s: float = 0.0) -> str:
        """Crash and come back on the same port, as a server process that dies and is started again.

        Every open connection is cut at once: a stream in flight ends without `[DONE]`, a request
        waiting for its answer gets none, and nothing is aborted politely first. For `down_s` seconds
        nothing listens on the port (connections are refused). The new server has an empty cache and
        knows no request of the old one. The fault plan carries on (request count, bursts), and
        `loading_s` counts again from the restart, as a server loading its weights again.
        """
        runner, self._runner = self._runner, None
        if runner is not None:
            for connection in list(runner.server.connections if runner.server else ()):
                _cut(connection)
            await runner.cleanup()
        self.state.closing = True
        await self.backend.close()
        self._renew()
        self.restarts += 1
        if down_s > 0:
            await asyncio.sleep(down_s)
        return await self.start()

    def _renew(self) -> None:
        """A fresh simulator behind the same settings; the fault plan is kept."""
        faults = self.state.faults
        self.state = ServerState.build(self._config, faults.faults, self._settings)
        self.state.faults = faults

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def serve(
    config: SimConfig,
    host: str,
    port: int,
    faults: Faults,
    reasoning_parser: bool,
    model_name: str,
    enable_cache_report: bool = True,
) -> None:
    """Run a `SimServer` until SIGINT or SIGTERM (what `orchestrate sim-server` calls)."""
    server = SimServer(
        config,
        host=host,
        port=port,
        faults=faults,
        reasoning_parser=reasoning_parser,
        model_name=model_name,
        enable_cache_report=enable_cache_report,
    )
    asyncio.run(_serve(server))


async def _serve(server: SimServer) -> None:
    url = await server.start()
    print(f"sim-server (SIMULATED SGLang) listening on {url}", file=sys.stderr, flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await server.stop()


def _cut(connection: asyncio.Protocol) -> None:
    """Drop a connection as a dying process does: unsent bytes discarded, its handler cancelled now
    (before it can write to the dead socket)."""
    transport = getattr(connection, "transport", None)
    if transport is not None:
        transport.abort()
    connection.connection_lost(ConnectionResetError("the server crashed (simulated restart)"))


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return requested


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
