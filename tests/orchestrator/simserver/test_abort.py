"""Aborts: by rid mid-stream, abort_all, in the waiting queue, by a client leaving, and ignored."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orchestrator.backends.sim import SimConfig
from orchestrator.simserver import Faults, SimServer

LONG = SimConfig(time_scale=1.0, trace_tokens=3000)  # about 12 s of simulated decoding per request


@pytest.fixture
async def slow() -> AsyncIterator[tuple[SimServer, httpx.AsyncClient]]:
    async with SimServer(LONG) as server, httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield server, client


async def stream_until_aborted(client: httpx.AsyncClient, body: dict[str, Any], abort: dict[str, Any]) -> list[Any]:
    """Stream `body`, post `abort` after the third output, return every event payload."""
    out: list[Any] = []
    async with client.stream("POST", "/generate", json=body | {"stream": True}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                payload = line.removeprefix("data: ")
                out.append(payload if payload == "[DONE]" else json.loads(payload))
            if len(out) == 3:
                assert (await client.post("/abort_request", json=abort)).status_code == 200
    return out


async def generated(server: SimServer) -> int:
    return int(server.backend.stats()["generated_tokens"])


async def test_an_abort_ends_the_stream_and_stops_generation(slow, reasoning_prompt: str) -> None:
    server, client = slow
    rid = uuid.uuid4().hex
    streamed = await stream_until_aborted(client, {"text": reasoning_prompt, "rid": rid}, {"rid": rid})
    last = streamed[-2]
    assert streamed[-1] == "[DONE]"
    assert last["meta_info"]["finish_reason"] == {
        "type": "abort",
        "message": "Aborted",
        "status_code": None,
        "err_type": None,
    }
    assert last["text"] and last["meta_info"]["completion_tokens"] == len(last["output_ids"]) > 0
    before = await generated(server)
    await asyncio.sleep(0.1)
    assert await generated(server) == before and server.backend.stats()["running"] == 0


async def test_abort_all_ends_every_request(slow, reasoning_prompt: str) -> None:
    server, client = slow
    tasks = [asyncio.create_task(client.post("/generate", json={"text": reasoning_prompt})) for _ in range(3)]
    while server.backend.stats()["running"] < 3:
        await asyncio.sleep(0.01)
    assert (await client.post("/abort_request", json={"abort_all": True})).status_code == 200
    outs = [response.json() for response in await asyncio.gather(*tasks)]
    assert all(out["meta_info"]["finish_reason"]["type"] == "abort" for out in outs)


async def test_an_abort_in_the_waiting_queue_answers_as_sglang() -> None:
    async with (
        SimServer(SimConfig(time_scale=1.0, trace_tokens=3000, max_running=1)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        first = asyncio.create_task(client.post("/generate", json={"text": "step by step", "rid": "running"}))
        queued = asyncio.create_task(client.post("/generate", json={"text": "step by step", "rid": "queued"}))
        while server.backend.stats()["waiting"] < 1:
            await asyncio.sleep(0.01)
        await client.post("/abort_request", json={"rid": "queued"})
        meta = (await queued).json()["meta_info"]
        await client.post("/abort_request", json={"rid": "running"})
        await first
    assert meta["finish_reason"] == {"type": "abort", "message": "Abort in waiting queue"}
    assert meta["completion_tokens"] == 0 and "prompt_tokens" not in meta


async def settled(server: SimServer, aborted: int) -> bool:
    for _ in range(200):
        stats = server.backend.stats()
        if stats["aborted"] == aborted and stats["running"] == 0:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_client_leaving_aborts_its_request(slow, reasoning_prompt: str) -> None:
    server, client = slow
    async with client.stream("POST", "/generate", json={"text": reasoning_prompt, "stream": True}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and server.backend.stats()["generated_tokens"] > 3:
                break
    assert await settled(server, aborted=1)
    pending = asyncio.create_task(client.post("/generate", json={"text": reasoning_prompt}))
    while server.backend.stats()["running"] < 1:
        await asyncio.sleep(0.01)
    pending.cancel()
    assert await settled(server, aborted=2)


async def test_an_unknown_rid_is_ignored_and_a_prefix_of_a_live_rid_is_not_forwarded(slow) -> None:
    server, client = slow
    assert (await client.post("/abort_request", json={"rid": "no-such-request"})).status_code == 200
    assert (await client.post("/abort_request", json={})).status_code == 200
    assert server.backend.stats()["aborted"] == 0


async def test_ignore_abort_answers_200_and_aborts_nothing(reasoning_prompt: str) -> None:
    config = SimConfig(time_scale=0, trace_tokens=60)
    async with (
        SimServer(config, faults=Faults(ignore_abort=True)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        assert (await client.post("/abort_request", json={"abort_all": True})).status_code == 200
        out = (await client.post("/generate", json={"text": reasoning_prompt, "rid": "kept"})).json()
    assert out["meta_info"]["finish_reason"]["type"] == "stop"
