import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from orchestrator.backends.sim import SimConfig
from orchestrator.simserver import SimServer

REASONING = "Reason step by step and put the final answer in \\boxed{}. How many divisors does 360 have?"

Events = Callable[[httpx.Response], Awaitable[list[Any]]]


@pytest.fixture
async def server() -> AsyncIterator[SimServer]:
    async with SimServer(SimConfig(time_scale=0, trace_tokens=60)) as running:
        yield running


@pytest.fixture
async def client(server: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        yield http


@pytest.fixture
def reasoning_prompt() -> str:
    return REASONING


async def _events(response: httpx.Response) -> list[Any]:
    """Every SSE `data:` payload of a streamed response, `"[DONE]"` kept as the string."""
    out: list[Any] = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


@pytest.fixture
def events() -> Events:
    return _events
