"""OpenAI-compatible routes: `/v1/models`, `/v1/completions`, `/v1/chat/completions`.

As SGLang's serving layer answers them: bodies must be `application/json`; the request's `model` is
echoed back whatever it names (SGLang serves its one model under any name); a stream is started only
once its first chunk exists, so a request rejected by the engine is a 400 error object, never a
broken stream; `max_tokens` defaults to 16 on completions and to the context left on chat.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from orchestrator.errors import BackendError
from orchestrator.simserver.chat import chat_prompt, message_text, split_reasoning
from orchestrator.simserver.errors import error_body, json_response, openai_error
from orchestrator.simserver.faults import FaultDraw
from orchestrator.simserver.jobs import Batch, GenerateInput
from orchestrator.simserver.native import draw_fault
from orchestrator.simserver.openai_models import ChatBody, CompletionBody
from orchestrator.simserver.openai_shapes import (
    chat_logprobs,
    completion_logprobs,
    finish_fields,
    response,
    usage,
)
from orchestrator.simserver.openai_streams import ChatStream, CompletionStream, Event
from orchestrator.simserver.outputs import Out
from orchestrator.simserver.sse import EventStream, StreamCut
from orchestrator.simserver.state import ServerState, state_of

Body = TypeVar("Body", bound=BaseModel)


async def models(request: web.Request) -> web.Response:
    state = state_of(request)
    return json_response({"object": "list", "data": [model_card(state)]})


async def model(request: web.Request) -> web.Response:
    state = state_of(request)
    name = request.match_info["model"]
    if name != state.settings.model_name:
        error = {"message": f"The model '{name}' does not exist", "type": "invalid_request_error"}
        return json_response({"error": error | {"param": "model", "code": "model_not_found"}}, 404)
    return json_response(model_card(state))


async def completions(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    body = await parse_body(request, CompletionBody)
    if not body.prompt or (isinstance(body.prompt, list) and all(not p for p in body.prompt)):
        raise openai_error("Prompt cannot be empty")
    draw = draw_fault(state)
    batch = plan(state, request_input(completion_input, body))
    if body.stream:
        return await serve_stream(request, CompletionStream(body, state).events(batch), draw)
    outs = await results(state, batch)
    choices = [_completion_choice(body, i, out) for i, out in enumerate(outs)]
    cache_report = state.settings.enable_cache_report
    return json_response(response("text_completion", body.model, outs, choices, usage(outs, body.n, cache_report)))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    body = await parse_body(request, ChatBody)
    _validate_chat(body, state)
    draw = draw_fault(state)
    batch = plan(state, request_input(chat_input, body))
    if body.stream:
        return await serve_stream(request, ChatStream(body, state).events(batch), draw)
    outs = await results(state, batch)
    split = state.settings.reasoning_parser and body.separate_reasoning
    choices = [_chat_choice(body, i, out, split) for i, out in enumerate(outs)]
    cache_report = state.settings.enable_cache_report
    return json_response(response("chat.completion", body.model, outs, choices, usage(outs, body.n, cache_report)))


# --- requests ------------------------------------------------------------------------------------


async def parse_body(request: web.Request, model_type: type[Body]) -> Body:
    if request.content_type != "application/json":
        raise openai_error("Unsupported Media Type: Only 'application/json' is allowed", "Bad Request")
    try:
        return model_type.model_validate_json(await request.read())
    except ValidationError as error:
        raise openai_error(str(error), "Bad Request") from None


def request_input(convert: Callable[[Body], GenerateInput], body: Body) -> GenerateInput:
    """`convert(body)`; a body SGLang cannot turn into a generate request is a 400."""
    try:
        return convert(body)
    except ValueError as error:
        raise openai_error(str(error)) from None


def completion_input(body: CompletionBody) -> GenerateInput:
    prompt = body.prompt
    texts = isinstance(prompt, str) or isinstance(prompt[0], str)
    return GenerateInput(
        text=prompt if texts else None,  # type: ignore[arg-type]
        input_ids=None if texts else prompt,  # type: ignore[arg-type]
        sampling_params=body.sampling(),
        rid=body.rid,
        stream=body.stream,
        return_logprob=body.logprobs is not None,
        top_logprobs_num=body.logprobs or 0,
        return_text_in_logprobs=True,
    )


def chat_input(body: ChatBody) -> GenerateInput:
    prompt = chat_prompt((m.role, message_text(m.content)) for m in body.messages)
    return GenerateInput(
        text=prompt,
        sampling_params=body.sampling(),
        rid=body.rid,
        stream=body.stream,
        return_logprob=body.logprobs,
        top_logprobs_num=(body.top_logprobs or 0) if body.logprobs else 0,
        return_text_in_logprobs=True,
    )


def plan(state: ServerState, inp: GenerateInput) -> Batch:
    try:
        return state.planner.plan(inp)
    except ValueError as error:
        raise openai_error(str(error)) from None


async def results(state: ServerState, batch: Batch) -> list[Out]:
    try:
        return await state.engine.results(batch)
    except (ValueError, BackendError) as error:
        raise openai_error(str(error)) from None


def _validate_chat(body: ChatBody, state: ServerState) -> None:
    if not body.messages:
        raise openai_error("Messages cannot be empty.")
    most = body.max_completion_tokens or body.max_tokens
    if most and most > state.context_len:
        raise openai_error(
            f"max_completion_tokens is too large: {most}.This model supports at most "
            f"{state.context_len} completion tokens."
        )


# --- responses -----------------------------------------------------------------------------------


def model_card(state: ServerState) -> dict[str, Any]:
    name = state.settings.model_name
    card = {"id": name, "object": "model", "created": int(state.started), "owned_by": "sglang"}
    return card | {"root": name, "parent": None, "max_model_len": state.context_len}


def _completion_choice(body: CompletionBody, index: int, out: Out) -> dict[str, Any]:
    meta = out["meta_info"]
    text = out["text"]
    if body.echo and isinstance(body.prompt, (str, list)):
        text = _echo(body, index) + text
    logprobs = None
    if body.logprobs is not None:
        logprobs = completion_logprobs(meta.get("output_token_logprobs", []), meta.get("output_top_logprobs"))
    return {"index": index, "text": text, "logprobs": logprobs, **finish_fields(meta)}


def _echo(body: CompletionBody, index: int) -> str:
    prompt = body.prompt
    if isinstance(prompt, str):
        return prompt
    item = prompt[index // body.n]
    return item if isinstance(item, str) else ""


def _chat_choice(body: ChatBody, index: int, out: Out, split: bool) -> dict[str, Any]:
    meta = out["meta_info"]
    reasoning, text = split_reasoning(out["text"]) if split else (None, out["text"])
    message = {"role": "assistant", "content": text or "", "reasoning_content": reasoning}
    logprobs = None
    if body.logprobs:
        logprobs = chat_logprobs(meta.get("output_token_logprobs", []), meta.get("output_top_logprobs"))
    return {"index": index, "message": message, "logprobs": logprobs, **finish_fields(meta)}


# --- streaming -----------------------------------------------------------------------------------


async def serve_stream(
    request: web.Request, events: AsyncGenerator[Event, None], draw: FaultDraw
) -> web.StreamResponse:
    """Start the stream once its first chunk exists (SGLang's kick-start), then relay the rest."""
    async with aclosing(events):
        first = await _first(events)
        stream = EventStream(request, draw.cut_after)
        await stream.open()
        try:
            await _relay(stream, first, events)
        except StreamCut:
            return stream.cut()
        return await stream.close()


async def _first(events: AsyncGenerator[Event, None]) -> Event:
    try:
        return await anext(events)
    except (ValueError, BackendError) as error:
        raise openai_error(str(error)) from None


async def _relay(stream: EventStream, first: Event, events: AsyncGenerator[Event, None]) -> None:
    try:
        await stream.send(first[0], final=first[1])
        async for payload, final in events:
            await stream.send(payload, final=final)
    except (ValueError, BackendError) as error:
        await stream.send({"error": error_body(str(error))})
