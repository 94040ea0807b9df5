"""SGLang's native routes: `POST /generate` and `POST /abort_request`.

`/generate` as SGLang 0.5.23 serves it: the JSON contract first (400 `{"error": "<text>"}`), then
SGLang's normalisation (400 `{"error": {"message": ...}}`); a single request answers one output
object, a batch or `n > 1` a list. With `"stream": true` the answer is 200 `text/event-stream` at
once, so a request rejected after that point is reported as a `data: {"error": {...}}` event before
`data: [DONE]`, as SGLang's `stream_results` does.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.errors import BackendError
from orchestrator.simserver.contract import (
    ContractError,
    GenerateBody,
    MalformedBody,
    parse_generate,
)
from orchestrator.simserver.errors import (
    contract_error,
    http_exception,
    invalid_request,
    json_response,
    openai_error,
    stream_error,
)
from orchestrator.simserver.faults import FaultDraw
from orchestrator.simserver.jobs import GenerateInput
from orchestrator.simserver.sse import EventStream, StreamCut
from orchestrator.simserver.state import ServerState, state_of


class AbortBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rid: str = ""
    abort_all: bool = False


async def generate(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    body = _parse(await request.read())
    draw = draw_fault(state)
    inp = to_input(body)
    if inp.stream:
        return await _stream(request, state, inp, draw)
    return await _complete(state, inp)


async def abort_request(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = AbortBody.model_validate_json(await request.read())
    except ValidationError as error:
        raise openai_error(str(error), "Bad Request") from None
    if not state.faults.faults.ignore_abort:
        await _abort(state, body)
    return web.Response(status=200)


def draw_fault(state: ServerState) -> FaultDraw:
    """This request's fault; an error status is raised at once, before any output."""
    draw = state.faults.draw()
    if draw.status == 500:
        raise http_exception("Internal server error (simulated fault)", 500)
    if draw.status == 503:
        raise http_exception("Service unavailable (simulated fault)", 503)
    return draw


def to_input(body: GenerateBody) -> GenerateInput:
    sampling = body.sampling_params
    if isinstance(sampling, list):
        params: dict[str, Any] | list[dict[str, Any]] | None = [s.model_dump(exclude_unset=True) for s in sampling]
    else:
        params = None if sampling is None else sampling.model_dump(exclude_unset=True)
    return GenerateInput(
        text=body.text,
        input_ids=body.input_ids,
        sampling_params=params,
        rid=body.rid,
        stream=bool(body.stream),
        return_logprob=body.return_logprob,
        top_logprobs_num=body.top_logprobs_num,
        return_text_in_logprobs=bool(body.return_text_in_logprobs),
    )


def _parse(body: bytes) -> GenerateBody:
    try:
        return parse_generate(body)
    except MalformedBody as error:
        raise openai_error(str(error), "Bad Request") from None
    except ContractError as error:
        raise contract_error(str(error)) from None


async def _complete(state: ServerState, inp: GenerateInput) -> web.Response:
    try:
        batch = state.planner.plan(inp)
        outs = await state.engine.results(batch)
    except (ValueError, BackendError) as error:
        raise invalid_request(str(error)) from None
    return json_response(outs[0] if batch.single else outs)


async def _stream(request: web.Request, state: ServerState, inp: GenerateInput, draw: FaultDraw) -> web.StreamResponse:
    stream = EventStream(request, draw.cut_after)
    await stream.open()
    try:
        await _send_or_report(stream, state, inp)
    except StreamCut:
        return stream.cut()
    return await stream.close()


async def _send_or_report(stream: EventStream, state: ServerState, inp: GenerateInput) -> None:
    try:
        await _send_outputs(stream, state, inp)
    except (ValueError, BackendError) as error:
        await stream.send(stream_error(str(error)))


async def _send_outputs(stream: EventStream, state: ServerState, inp: GenerateInput) -> None:
    batch = state.planner.plan(inp)
    async with aclosing(state.engine.outputs(batch)) as outs:
        async for out in outs:
            await stream.send(out, final=out["meta_info"]["finish_reason"] is not None)


async def _abort(state: ServerState, body: AbortBody) -> None:
    if body.abort_all:
        await state.backend.abort_all()
    elif body.rid:
        await state.backend.abort(body.rid)
