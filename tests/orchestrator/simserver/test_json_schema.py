"""Constrained decoding: every route's JSON Schema reaches scripts as `SamplingParams.json_schema`.

Native `sampling_params.json_schema`, OpenAI `response_format` (`json_schema`, `json_object`) and the
completions-only `json_schema` string, mapped as SGLang maps them; schemas SGLang cannot compile are 400s.
"""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orchestrator.backends.sim import ScriptOutput, ScriptRequest, SimConfig
from orchestrator.simserver import SimServer

PLAN = "Write the plan as JSON."
UNCONSTRAINED = "unconstrained"
SCHEMA_OBJECT = {"type": "object", "properties": {"steps": {"type": "array"}}, "required": ["steps"]}
SCHEMA = json.dumps(SCHEMA_OBJECT)  # as SGLang serialises a `response_format` schema
BAD_SCHEMA = '{"type": "object"'
BAD_GRAMMAR = f"Invalid grammar request: req.grammar_key=('json', {BAD_SCHEMA!r})"


class SchemaEcho:
    """Writes the JSON Schema its request is constrained to, or `UNCONSTRAINED`."""

    name = "schema-echo"

    def matches(self, prompt: str) -> bool:
        return PLAN in prompt

    def write(self, request: ScriptRequest) -> ScriptOutput:
        return ScriptOutput(request.params.json_schema or UNCONSTRAINED)


@pytest.fixture
async def echoing() -> AsyncIterator[httpx.AsyncClient]:
    async with SimServer(SimConfig(time_scale=0)) as server:
        server.backend.model.register(SchemaEcho())
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield client


async def generated(client: httpx.AsyncClient, **sampling: Any) -> httpx.Response:
    return await client.post("/generate", json={"text": PLAN, "sampling_params": sampling})


async def completed(client: httpx.AsyncClient, **fields: Any) -> str:
    response = await client.post("/v1/completions", json={"prompt": PLAN, "max_tokens": 200} | fields)
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["text"])


async def chatted(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    return await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": PLAN}]} | fields)


def json_schema_format(schema: dict[str, Any] | None = SCHEMA_OBJECT) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}}


async def test_native_json_schema_reaches_the_script(echoing: httpx.AsyncClient) -> None:
    constrained = await generated(echoing, json_schema='{"type":"object"}')
    assert constrained.status_code == 200 and constrained.json()["text"] == '{"type":"object"}'
    assert (await generated(echoing)).json()["text"] == UNCONSTRAINED
    assert (await generated(echoing, json_schema=None)).json()["text"] == UNCONSTRAINED


async def test_native_schemas_sglang_cannot_compile_are_400s(echoing: httpx.AsyncClient, events) -> None:
    invalid = await generated(echoing, json_schema=BAD_SCHEMA)
    assert invalid.status_code == 400 and invalid.json() == {"error": {"message": BAD_GRAMMAR}}
    assert (await generated(echoing, json_schema="[1, 2]")).status_code == 400
    two = await generated(echoing, json_schema=SCHEMA, regex="a+")
    assert (
        two.status_code == 400
        and two.json()["error"]["message"] == "Only one of regex, json_schema, or ebnf can be set."
    )
    body = {"text": PLAN, "sampling_params": {"json_schema": BAD_SCHEMA}, "stream": True}
    async with echoing.stream("POST", "/generate", json=body) as response:
        streamed = await events(response)
    assert streamed[0]["error"]["message"] == BAD_GRAMMAR and streamed[-1] == "[DONE]"


async def test_native_contract_still_wants_a_string_schema(echoing: httpx.AsyncClient) -> None:
    typed = await generated(echoing, json_schema=SCHEMA_OBJECT)
    assert typed.status_code == 400 and typed.json() == {"error": "invalid type: map, expected a string"}


async def test_completions_take_json_schema_and_response_format(echoing: httpx.AsyncClient) -> None:
    assert await completed(echoing, json_schema='{"type":"object"}') == '{"type":"object"}'
    assert await completed(echoing, response_format=json_schema_format()) == SCHEMA
    assert await completed(echoing, response_format=json_schema_format(), json_schema="{}") == SCHEMA
    assert await completed(echoing, response_format={"type": "json_object"}) == '{"type": "object"}'
    assert await completed(echoing, response_format={"type": "text"}, json_schema="{}") == "{}"
    assert await completed(echoing, response_format={"type": "text"}) == UNCONSTRAINED


async def test_chat_takes_response_format(echoing: httpx.AsyncClient) -> None:
    constrained = (await chatted(echoing, response_format=json_schema_format())).json()
    assert constrained["choices"][0]["message"]["content"] == SCHEMA
    as_object = (await chatted(echoing, response_format={"type": "json_object"})).json()
    assert as_object["choices"][0]["message"]["content"] == '{"type": "object"}'
    plain = (await chatted(echoing)).json()
    assert plain["choices"][0]["message"]["content"] == UNCONSTRAINED


async def test_openai_routes_reject_what_sglang_rejects(echoing: httpx.AsyncClient) -> None:
    invalid = await echoing.post("/v1/completions", json={"prompt": PLAN, "json_schema": BAD_SCHEMA, "stream": True})
    assert invalid.status_code == 400 and invalid.json()["message"] == BAD_GRAMMAR
    missing = await chatted(echoing, response_format=json_schema_format(None))
    assert missing.status_code == 400
    assert missing.json()["message"] == "schema_ is required for json_schema response format request."
    unknown = await chatted(echoing, response_format={"type": "yaml"})
    assert unknown.status_code == 400 and unknown.json()["type"] == "Bad Request"
    nameless = await chatted(echoing, response_format={"type": "json_schema", "json_schema": {"schema": {}}})
    assert nameless.status_code == 400
    both = await chatted(echoing, response_format=json_schema_format(), regex="a+")
    assert both.status_code == 400 and both.json()["message"] == "Only one of regex, json_schema, or ebnf can be set."
