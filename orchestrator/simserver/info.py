"""Health, information and maintenance routes, as SGLang 0.5.23 answers them.

`/health` and `/health_generate` pass only once the simulator produced a token for a 1-token
request (SGLang's default health check); `/ready` is 200 once loaded and not shutting down.
`/server_info` (and the deprecated `/get_server_info`) flattens the server arguments and scheduler
limits as SGLang does, plus `"simulated": true`, the `SimConfig` and the simulator's live stats.
`/flush_cache` is 400 while any request waits or runs (SGLang's `timeout` query waits for idle).
`/tokenize` and `/detokenize` use the simulator's tokenizer.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import aclosing
from typing import Any

from aiohttp import web

from orchestrator.backends.base import CompletionRequest, SamplingParams
from orchestrator.errors import BackendError
from orchestrator.simserver.chat import chat_prompt, message_text
from orchestrator.simserver.errors import json_response, openai_error
from orchestrator.simserver.openai_api import parse_body
from orchestrator.simserver.openai_models import DetokenizeBody, TokenizeBody
from orchestrator.simserver.outputs import WEIGHT_VERSION
from orchestrator.simserver.state import REASONING_PARSER, ServerState, state_of

HEALTH_CHECK_TIMEOUT_S = 20.0
HEALTH_CHECK_RID_PREFIX = "HEALTH_CHECK"
SGLANG_VERSION = "0.5.23"
FLUSH_POLL_S = 0.05
ARCHITECTURES = {"llama-3-8b": ("llama", "LlamaForCausalLM")}


async def health(request: web.Request) -> web.Response:
    state = state_of(request)
    if state.closing:
        return web.Response(status=503)
    healthy = await _one_token(state)
    return web.Response(status=200 if healthy else 503)


async def ready(request: web.Request) -> web.Response:
    state = state_of(request)
    return web.Response(status=503 if state.closing or state.faults.loading() else 200)


async def server_info(request: web.Request) -> web.Response:
    return json_response(build_server_info(state_of(request)))


async def model_info(request: web.Request) -> web.Response:
    state = state_of(request)
    model_type, architecture = ARCHITECTURES.get(state.backend.config.model, ("qwen3", "Qwen3ForCausalLM"))
    name = state.settings.model_name
    return json_response(
        {
            "model_path": name,
            "served_model_name": name,
            "tokenizer_path": name,
            "is_generation": True,
            "preferred_sampling_params": None,
            "weight_version": WEIGHT_VERSION,
            "load_format": "dummy",
            "reasoning_parser": REASONING_PARSER if state.settings.reasoning_parser else None,
            "tool_call_parser": None,
            "disaggregation_mode": "null",
            "has_image_understanding": False,
            "has_audio_understanding": False,
            "model_type": model_type,
            "architectures": [architecture],
            "simulated": True,
        }
    )


async def flush_cache(request: web.Request) -> web.Response:
    state = state_of(request)
    timeout = _float_query(request, "timeout")
    flushed = await _flush(state, timeout)
    if flushed:
        text = (
            "Cache flushed.\nPlease check backend logs for more details. (When there are running or "
            "waiting requests, the operation will not be performed.)\n"
        )
        return web.Response(text=text, status=200)
    return web.Response(text="Flush cache failed.\n", status=400)


async def tokenize(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await parse_body(request, TokenizeBody)
    encode = state.backend.tokenizer.encode
    if body.messages is not None:
        tokens: Any = encode(chat_prompt((m.role, message_text(m.content)) for m in body.messages))
        count: Any = len(tokens)
    elif isinstance(body.prompt, str):
        tokens = encode(body.prompt)
        count = len(tokens)
    else:
        tokens = [encode(text) for text in body.prompt or ()]
        count = [len(ids) for ids in tokens]
    return json_response({"tokens": tokens, "count": count, "max_model_len": state.context_len})


async def detokenize(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await parse_body(request, DetokenizeBody)
    decode = state.backend.tokenizer.decode
    try:
        nested = bool(body.tokens) and isinstance(body.tokens[0], list)
        text: Any = [decode(ids) for ids in body.tokens] if nested else decode(body.tokens)  # type: ignore[arg-type]
    except BackendError as error:
        raise openai_error(str(error)) from None
    return json_response({"text": text})


async def metrics(request: web.Request) -> web.Response:
    state = state_of(request)
    text = state.metrics.render(state.backend.stats())
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def build_server_info(state: ServerState) -> dict[str, Any]:
    config = state.backend.config
    stats = state.backend.stats()
    name = state.settings.model_name
    return {
        "model_path": name,
        "served_model_name": name,
        "tokenizer_path": name,
        "host": state.host,
        "port": state.port,
        "tp_size": 1,
        "dp_size": 1,
        "pp_size": 1,
        "context_length": state.context_len,
        "max_running_requests": config.max_running,
        "max_prefill_tokens": config.max_prefill_tokens,
        "mem_fraction_static": config.mem_fraction_static,
        "schedule_policy": "fcfs",
        "enable_cache_report": state.settings.enable_cache_report,
        "enable_metrics": True,
        "reasoning_parser": REASONING_PARSER if state.settings.reasoning_parser else None,
        "incremental_streaming_output": False,
        "stream_interval": 1,
        "weight_version": WEIGHT_VERSION,
        "status": "ready",
        "max_total_num_tokens": stats["cache_capacity"],
        "max_req_input_len": state.context_len - 1,
        "internal_states": [{"num_running_reqs": stats["running"], "num_queue_reqs": stats["waiting"]}],
        "version": SGLANG_VERSION,
        "frontend": "python",
        "simulated": True,
        "sim_config": config.model_dump(mode="json"),
        "sim_stats": stats,
    }


async def _one_token(state: ServerState) -> bool:
    rid = f"{HEALTH_CHECK_RID_PREFIX}_{uuid.uuid4().hex}"
    prompt = "health check"
    request = CompletionRequest(prompt, SamplingParams(max_tokens=1, temperature=0.0), rid)
    events = state.backend.stream(request)
    try:
        async with aclosing(events):
            await asyncio.wait_for(anext(events), HEALTH_CHECK_TIMEOUT_S)
        return True
    except (TimeoutError, BackendError, StopAsyncIteration):
        return False
    finally:
        state.backend.forget(rid)


async def _flush(state: ServerState, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not state.backend.flush_cache():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(FLUSH_POLL_S)
    return True


def _float_query(request: web.Request, name: str) -> float:
    try:
        return max(0.0, float(request.query.get(name, 0.0)))
    except ValueError:
        raise openai_error(f"query parameter {name!r} must be a number", "Bad Request") from None
