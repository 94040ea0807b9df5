"""The OpenAI-compatible routes: models, completions and chat, streamed and not, with usage."""

from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator.backends.sim import SimConfig
from orchestrator.simserver import SimServer

CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Think step by step: what is 6*7?"},
]


@pytest.fixture
async def parsing() -> AsyncIterator[httpx.AsyncClient]:
    config = SimConfig(time_scale=0, trace_tokens=60)
    async with (
        SimServer(config, reasoning_parser=True, model_name="sim-qwen") as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        yield client


async def test_models_lists_the_served_model(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/models")).json()
    assert listed["object"] == "list" and listed["data"][0]["id"] == "sim-model"
    assert (await client.get("/v1/models/sim-model")).json()["max_model_len"] > 0
    assert (await client.get("/v1/models/other")).status_code == 404


async def test_a_completion_defaults_to_16_tokens_and_reports_cached_tokens(client: httpx.AsyncClient) -> None:
    body = {"model": "anything", "prompt": "Write a long story about a simulator."}
    first = (await client.post("/v1/completions", json=body)).json()
    second = (await client.post("/v1/completions", json=body)).json()
    assert first["object"] == "text_completion" and first["model"] == "anything"
    choice = second["choices"][0]
    assert choice["finish_reason"] == "length" and choice["index"] == 0 and choice["text"]
    usage = second["usage"]
    assert usage["completion_tokens"] == 16 and usage["total_tokens"] == usage["prompt_tokens"] + 16
    assert usage["prompt_tokens_details"] == {"cached_tokens": usage["prompt_tokens"] - 1}
    assert first["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}


async def test_a_streamed_completion_sends_deltas_then_usage(client: httpx.AsyncClient, events) -> None:
    body = {
        "prompt": "Stream this.",
        "max_tokens": 8,
        "stream": True,
        "stream_options": {"include_usage": True},
        "logprobs": 2,
    }
    async with client.stream("POST", "/v1/completions", json=body) as response:
        chunks = await events(response)
    assert chunks[-1] == "[DONE]"
    usage_chunk, texts = chunks[-2], chunks[:-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 8
    assert "prompt_tokens_details" in usage_chunk["usage"]
    assert all(c["object"] == "text_completion" and c["usage"] is None for c in texts)
    assert texts[-1]["choices"][0]["finish_reason"] == "length"
    logprobs = [c["choices"][0]["logprobs"] for c in texts if c["choices"][0]["logprobs"]]
    assert sum(len(lp["tokens"]) for lp in logprobs) == 8 and all(
        len(row) == 2 for lp in logprobs for row in lp["top_logprobs"]
    )


async def test_n_completions_share_the_prompt(client: httpx.AsyncClient) -> None:
    out = (await client.post("/v1/completions", json={"prompt": "Fan out.", "n": 3, "max_tokens": 4})).json()
    assert [c["index"] for c in out["choices"]] == [0, 1, 2]
    assert out["usage"]["completion_tokens"] == 12
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == out["usage"]["prompt_tokens"] - 1


async def test_chat_splits_reasoning_content(parsing: httpx.AsyncClient) -> None:
    out = (await parsing.post("/v1/chat/completions", json={"messages": CHAT, "seed": 3})).json()
    assert out["object"] == "chat.completion" and out["model"] == "default"
    message = out["choices"][0]["message"]
    assert message["role"] == "assistant" and "<think>" not in message["content"]
    assert message["reasoning_content"] and "The answer is \\boxed{" in message["content"]
    assert out["usage"]["completion_tokens_details"]["reasoning_tokens"] == out["usage"]["reasoning_tokens"] > 0
    assert out["choices"][0]["finish_reason"] == "stop" and out["choices"][0]["matched_stop"] == 0


async def test_a_streamed_chat_sends_role_reasoning_content_finish_and_usage(
    parsing: httpx.AsyncClient, events
) -> None:
    body = {"messages": CHAT, "seed": 3, "stream": True, "stream_options": {"include_usage": True}}
    async with parsing.stream("POST", "/v1/chat/completions", json=body) as response:
        chunks = await events(response)
    whole = (await parsing.post("/v1/chat/completions", json={"messages": CHAT, "seed": 3})).json()
    assert chunks[-1] == "[DONE]" and chunks[-2]["choices"] == [] and chunks[-2]["usage"]["prompt_tokens"] > 0
    deltas = [c["choices"][0]["delta"] for c in chunks[:-2]]
    assert deltas[0] == {"reasoning_content": None, "role": "assistant", "content": ""}
    assert (
        "".join(d.get("reasoning_content") or "" for d in deltas) == whole["choices"][0]["message"]["reasoning_content"]
    )
    assert "".join(d.get("content") or "" for d in deltas) == whole["choices"][0]["message"]["content"]
    assert chunks[-3]["choices"][0]["finish_reason"] == "stop" and chunks[-3]["object"] == "chat.completion.chunk"


async def test_chat_without_the_parser_keeps_the_tags_and_gives_logprobs(client: httpx.AsyncClient) -> None:
    body = {"messages": CHAT, "max_completion_tokens": 5, "logprobs": True, "top_logprobs": 2, "n": 2}
    out = (await client.post("/v1/chat/completions", json=body)).json()
    assert [c["index"] for c in out["choices"]] == [0, 1]
    choice = out["choices"][0]
    assert choice["message"]["content"].startswith("<think>") and choice["message"]["reasoning_content"] is None
    tokens = choice["logprobs"]["content"]
    assert len(tokens) == 5 and all(
        len(t["top_logprobs"]) == 2 and t["bytes"] == list(t["token"].encode()) for t in tokens
    )


async def test_openai_errors_have_the_error_object_shape(client: httpx.AsyncClient) -> None:
    empty = await client.post("/v1/chat/completions", json={"messages": []})
    assert empty.status_code == 400 and empty.json() == {
        "object": "error", "message": "Messages cannot be empty.", "type": "BadRequestError", "param": None, "code": 400,
    }  # fmt: skip
    zero = await client.post("/v1/completions", json={"prompt": "x", "max_tokens": 0})
    assert zero.status_code == 400 and zero.json()["type"] == "Bad Request"
    plain = await client.post("/v1/completions", content=b'{"prompt": "x"}', headers={"content-type": "text/plain"})
    assert plain.status_code == 400


async def test_the_cache_report_can_be_turned_off() -> None:
    async with (
        SimServer(SimConfig(time_scale=0), enable_cache_report=False) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        out = (await client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})).json()
    assert out["usage"]["prompt_tokens_details"] is None
