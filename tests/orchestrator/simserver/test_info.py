"""Health, readiness, server and model information, cache flushing, tokenizing and metrics."""

import asyncio
import re

import httpx

from orchestrator.backends.sim import SimConfig
from orchestrator.simserver import SimServer

SAMPLE = re.compile(r"^(?P<name>[a-z_:]+)\{(?P<labels>[^}]*)\} (?P<value>[-+0-9.e]+|NaN)$")
REQUIRED = (
    "sglang:cache_hit_rate",
    "sglang:cached_tokens_total",
    "sglang:num_aborted_requests_total",
    "sglang:prompt_tokens_total",
    "sglang:generation_tokens_total",
    "sglang:num_running_reqs",
    "sglang:num_queue_reqs",
)


async def test_health_and_ready_pass_on_a_running_simulator(server: SimServer, client: httpx.AsyncClient) -> None:
    for path in ("/health", "/health_generate", "/ready"):
        response = await client.get(path)
        assert response.status_code == 200 and response.headers["x-simulated"] == "true"
    assert server.backend.stats()["generated_tokens"] >= 2  # the health checks generated a token each


async def test_server_info_says_simulated_and_carries_the_limits(server: SimServer, client: httpx.AsyncClient) -> None:
    info = (await client.get("/server_info")).json()
    assert info == {**info, "simulated": True, "tp_size": 1, "max_running_requests": 256, "model_path": "sim-model"}
    assert info["max_total_num_tokens"] == server.backend.cache.capacity
    assert info["sim_config"]["time_scale"] == 0 and info["enable_cache_report"] is True
    old = (await client.get("/get_server_info")).json()
    assert old["max_total_num_tokens"] == info["max_total_num_tokens"]


async def test_model_info(client: httpx.AsyncClient) -> None:
    info = (await client.get("/model_info")).json()
    assert info["model_path"] == "sim-model" and info["is_generation"] is True and info["simulated"] is True
    assert info["reasoning_parser"] is None


async def test_flush_cache_is_refused_while_busy() -> None:
    async with (
        SimServer(SimConfig(time_scale=1.0, trace_tokens=3000)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        assert (await client.post("/flush_cache")).status_code == 200
        busy = asyncio.create_task(client.post("/generate", json={"text": "step by step", "rid": "busy"}))
        while server.backend.stats()["running"] < 1:
            await asyncio.sleep(0.01)
        refused = await client.post("/flush_cache")
        await client.post("/abort_request", json={"rid": "busy"})
        await busy
        assert (await client.get("/flush_cache", params={"timeout": 1})).status_code == 200
    assert refused.status_code == 400


async def test_tokenize_uses_the_simulator_tokenizer(server: SimServer, client: httpx.AsyncClient) -> None:
    one = (await client.post("/tokenize", json={"prompt": "Hello world"})).json()
    assert one["tokens"] == server.backend.tokenizer.encode("Hello world") and one["count"] == 2
    many = (await client.post("/v1/tokenize", json={"prompt": ["a b", "c"]})).json()
    assert many["count"] == [2, 1] and many["max_model_len"] > 0
    both = await client.post("/tokenize", json={"prompt": "x", "messages": [{"role": "user", "content": "x"}]})
    assert both.status_code == 400


async def test_metrics_are_prometheus_text_with_the_sglang_names(client: httpx.AsyncClient) -> None:
    await client.post("/generate", json={"text": "Count these tokens.", "sampling_params": {"max_new_tokens": 3}})
    text = (await client.get("/metrics")).text
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        assert 'model_name="sim-model"' in match["labels"]
        samples[match["name"]] = samples.get(match["name"], 0.0) + float(match["value"])
    for name in REQUIRED:
        assert name in samples and f"# HELP {name} " in text and f"# TYPE {name} " in text
    assert samples["sglang:prompt_tokens_total"] > 0 and samples["sglang:generation_tokens_total"] == 3
    assert samples["sglang_sim:simulated"] == 1 and "SIMULATED" in text


async def test_every_response_is_marked_simulated(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no/such/route")
    assert missing.status_code == 404 and missing.headers["x-simulated"] == "true"
