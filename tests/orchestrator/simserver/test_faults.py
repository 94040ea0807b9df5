"""Fault injection: error and unavailable rates, cut streams, slow tokens, loading; and a clean stop."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from orchestrator.backends.sim import SimConfig
from orchestrator.simserver import Faults, SimServer

FAST = SimConfig(time_scale=0, trace_tokens=60)
BODY = {"text": "Hello, simulator.", "sampling_params": {"max_new_tokens": 2}}


@asynccontextmanager
async def serving(faults: Faults, config: SimConfig = FAST) -> AsyncIterator[tuple[SimServer, httpx.AsyncClient]]:
    async with SimServer(config, faults=faults) as server, httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield server, client


async def statuses(client: httpx.AsyncClient, count: int = 40) -> Counter[int]:
    responses = [await client.post("/generate", json=BODY) for _ in range(count)]
    return Counter(response.status_code for response in responses)


async def test_error_and_unavailable_rates_are_roughly_honoured() -> None:
    async with serving(Faults(error_rate=0.25, unavailable_rate=0.25, seed=1)) as (_, client):
        seen = await statuses(client)
        failed = await client.post("/v1/completions", json={"prompt": "x", "max_tokens": 1})
        while failed.status_code == 200:
            failed = await client.post("/v1/completions", json={"prompt": "x", "max_tokens": 1})
    assert 4 <= seen[500] <= 18 and 4 <= seen[503] <= 18 and seen[200] >= 10
    assert failed.json()["object"] == "error" and failed.json()["code"] == failed.status_code


async def test_faults_are_deterministic_per_seed() -> None:
    async with serving(Faults(error_rate=0.5, seed=9)) as (_, client):
        first = [(await client.post("/generate", json=BODY)).status_code for _ in range(12)]
    async with serving(Faults(error_rate=0.5, seed=9)) as (_, client):
        second = [(await client.post("/generate", json=BODY)).status_code for _ in range(12)]
    assert first == second and set(first) == {200, 500}


async def test_a_cut_stream_ends_without_done_and_aborts_its_request(reasoning_prompt: str) -> None:
    lines: list[str] = []
    async with serving(Faults(cut_rate=1.0), SimConfig(time_scale=1.0, trace_tokens=3000)) as (server, client):
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream("POST", "/generate", json={"text": reasoning_prompt, "stream": True}) as response:
                async for line in response.aiter_lines():
                    lines.append(line)
        await asyncio.sleep(0.05)
        assert server.backend.stats()["aborted"] == 1 and server.backend.stats()["running"] == 0
    data = [line for line in lines if line.startswith("data: ")]
    assert 1 <= len(data) <= 3 and "data: [DONE]" not in data


async def test_slow_tokens_slow_a_stream(events) -> None:
    body = {"text": "Hello, simulator.", "stream": True, "sampling_params": {"max_new_tokens": 20}}

    async def timed(faults: Faults) -> float:
        async with serving(faults) as (_, client):
            started = time.perf_counter()
            async with client.stream("POST", "/generate", json=body) as response:
                assert (await events(response))[-1] == "[DONE]"
            return time.perf_counter() - started

    plain, slow = await timed(Faults()), await timed(Faults(token_delay_s=0.02))
    assert slow >= 0.3 and slow > 3 * plain


async def test_a_loading_server_answers_503_then_serves() -> None:
    async with serving(Faults(loading_s=0.4)) as (_, client):
        health, generate = await client.get("/health"), await client.post("/generate", json=BODY)
        ready = await client.get("/ready")
        await asyncio.sleep(0.45)
        later = [await client.get("/health"), await client.post("/generate", json=BODY)]
    assert health.status_code == ready.status_code == generate.status_code == 503 and health.content == b""
    assert generate.json()["object"] == "error"
    assert [response.status_code for response in later] == [200, 200]


async def test_stop_with_streams_in_flight_ends_them_and_does_not_hang(events, reasoning_prompt: str) -> None:
    server = SimServer(SimConfig(time_scale=1.0, trace_tokens=3000))
    await server.start()
    client = httpx.AsyncClient(base_url=server.url, timeout=10)

    async def consume() -> list:
        async with client.stream("POST", "/generate", json={"text": reasoning_prompt, "stream": True}) as response:
            return await events(response)

    streams = [asyncio.create_task(consume()) for _ in range(3)]
    while server.backend.stats()["running"] < 3:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(server.stop(), timeout=5)
    ended = await asyncio.wait_for(asyncio.gather(*streams), timeout=5)
    await client.aclose()
    assert all(out[-1] == "[DONE]" and out[-2]["meta_info"]["finish_reason"]["type"] == "abort" for out in ended)


def test_faults_are_validated() -> None:
    with pytest.raises(ValueError):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError):
        Faults(error_rate=0.6, unavailable_rate=0.6)


async def test_errors_come_in_bursts_of_the_same_status() -> None:
    async with serving(Faults(error_rate=0.1, unavailable_rate=0.1, burst=4, seed=2)) as (server, client):
        seen = [(await client.post("/generate", json=BODY)).status_code for _ in range(60)]
        injected = server.state.faults.injected
    runs: list[list[int]] = []
    for status in seen:
        if runs and runs[-1][0] == status:
            runs[-1].append(status)
        else:
            runs.append([status])
    errors = [run for run in runs[:-1] if run[0] != 200]
    assert errors and all(len(run) >= 4 for run in errors), seen
    assert injected == Counter(status for status in seen if status != 200)


async def test_a_burst_is_deterministic_and_one_means_independent_draws() -> None:
    async def draws(burst: int) -> list[int]:
        async with serving(Faults(error_rate=0.2, burst=burst, seed=4)) as (_, client):
            return [(await client.post("/generate", json=BODY)).status_code for _ in range(30)]

    single, bursty, again = await draws(1), await draws(3), await draws(3)
    assert bursty == again and single != bursty
    first = single.index(500)
    assert bursty[: first + 3] == single[:first] + [500] * 3


async def test_a_restart_cuts_streams_forgets_the_cache_and_serves_on_the_same_port(reasoning_prompt: str) -> None:
    server = SimServer(SimConfig(time_scale=1.0, trace_tokens=3000))
    url = await server.start()
    prompt = {"text": reasoning_prompt, "sampling_params": {"max_new_tokens": 1}}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await client.post("/generate", json=prompt)
        assert (await client.post("/generate", json=prompt)).json()["meta_info"]["cached_tokens"] > 0
        lines: list[str] = []

        async def consume() -> None:
            async with client.stream("POST", "/generate", json={"text": reasoning_prompt, "stream": True}) as response:
                async for line in response.aiter_lines():
                    lines.append(line)

        stream = asyncio.create_task(consume())
        while len(lines) < 2:
            await asyncio.sleep(0.01)
        old = server.backend
        restarting = asyncio.create_task(server.restart(down_s=0.3))
        with pytest.raises(httpx.RemoteProtocolError):
            await asyncio.wait_for(stream, 5)
        await asyncio.sleep(0.1)
        with pytest.raises(httpx.ConnectError):
            await client.get("/health")
        assert await asyncio.wait_for(restarting, 5) == url and server.restarts == 1
        fresh = (await client.post("/generate", json=prompt)).json()["meta_info"]
    await server.stop()
    assert "data: [DONE]" not in lines and old.stats()["running"] == 0 and old.stats()["finished"] == 2
    assert server.backend is not old and fresh["cached_tokens"] == 0


async def test_stop_then_start_serves_again_on_the_same_port() -> None:
    server = SimServer(FAST)
    url = await server.start()
    async with httpx.AsyncClient(timeout=10) as client:
        await client.post(f"{url}/generate", json=BODY)
        await server.stop()
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/health")
        assert await server.start() == url
        answer = await client.post(f"{url}/generate", json=BODY)
    await server.stop()
    assert answer.status_code == 200 and server.backend.stats()["finished"] == 1


async def test_an_abort_stops_a_slow_stream_at_once(events) -> None:
    rid = "a" * 32
    body = {"text": "Hello, simulator.", "stream": True, "rid": rid, "sampling_params": {"max_new_tokens": 400}}
    async with serving(Faults(token_delay_s=0.02)) as (server, client):
        started = time.perf_counter()
        async with client.stream("POST", "/generate", json=body) as response:
            aborting = asyncio.create_task(_abort_soon(client, rid))
            out = await events(response)
        await aborting
        took = time.perf_counter() - started
        stats = server.backend.stats()
    assert took < 2.0, took  # 400 held tokens would take 8 s
    assert out[-1] == "[DONE]" and out[-2]["meta_info"]["finish_reason"]["type"] == "abort"
    assert out[-2]["meta_info"]["completion_tokens"] < 400
    assert stats["aborted"] == 1 and stats["finished"] == 0


async def test_an_ignored_abort_leaves_a_slow_stream_running(events) -> None:
    rid = "b" * 32
    body = {"text": "Hello, simulator.", "stream": True, "rid": rid, "sampling_params": {"max_new_tokens": 20}}
    async with serving(Faults(token_delay_s=0.02, ignore_abort=True)) as (server, client):
        async with client.stream("POST", "/generate", json=body) as response:
            aborting = asyncio.create_task(_abort_soon(client, rid))
            out = await events(response)
        await aborting
    assert out[-2]["meta_info"]["finish_reason"]["type"] == "length" and server.backend.stats()["finished"] == 1


async def _abort_soon(client: httpx.AsyncClient, rid: str) -> None:
    await asyncio.sleep(0.1)
    assert (await client.post("/abort_request", json={"rid": rid})).status_code == 200
