from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

Serve = Callable[[web.Application], AbstractAsyncContextManager[str]]


@pytest.fixture
def serve() -> Serve:
    """Serve an aiohttp app on a real socket on 127.0.0.1; yields its base URL, e.g. http://127.0.0.1:PORT."""

    @asynccontextmanager
    async def running(app: web.Application) -> AsyncIterator[str]:
        server = TestServer(app, host="127.0.0.1", handler_cancellation=True, shutdown_timeout=1)
        await server.start_server()
        try:
            yield str(server.make_url("")).rstrip("/")
        finally:
            await server.close()

    return running
