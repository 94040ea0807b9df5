"""The `/generate` JSON contract, as SGLang 0.5.23 checks it (`sglang/api/v1/api_types.py`).

SGLang decodes the body against a generated schema before serving it: unknown keys inside
`sampling_params` are rejected, unknown top-level keys ignored, and values are not coerced (a string
is not a number). A violation is answered 400 with the decoder's text as a bare string,
`{"error": "unknown field `foo`, expected one of `max_new_tokens`, ..."}` (type errors approximate
serde's wording here). A body that is not a JSON object fails earlier, in FastAPI, with the OpenAI
error shape; so, in SGLang, do top-level values FastAPI's lax parse cannot coerce (`"text": 5`),
which the simulator answers in the contract shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

SAMPLING_FIELDS = (
    "max_new_tokens", "stop", "stop_token_ids", "stop_regex", "temperature", "top_p", "top_k", "min_p",
    "frequency_penalty", "presence_penalty", "repetition_penalty", "min_new_tokens", "n", "json_schema",
    "regex", "ebnf", "structural_tag", "ignore_eos", "skip_special_tokens", "spaces_between_special_tokens",
    "no_stop_trim", "stream_interval", "logit_bias", "sampling_seed", "custom_params", "beam_width",
    "watermark", "choice",
)  # fmt: skip
WATERMARK_FIELDS = ("enabled", "key", "context_window")

_EXPECTED = {
    "int_type": "i64",
    "float_type": "f64",
    "bool_type": "a boolean",
    "string_type": "a string",
    "list_type": "a sequence",
    "dict_type": "a map",
    "model_type": "a map",
}


class ContractError(ValueError):
    """The body breaks SGLang's JSON contract (HTTP 400 `{"error": "<text>"}`)."""


class MalformedBody(ValueError):
    """The body is not a JSON object (HTTP 400 in FastAPI's OpenAI error shape)."""


class Watermark(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool | None = None
    key: str | None = None
    context_window: int | None = None


class SamplingBody(BaseModel):
    """`sampling_params`; a null value means the default, as in SGLang."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_new_tokens: int | None = 128
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    stop_regex: str | list[str] | None = None
    temperature: float | None = 1.0
    top_p: float | None = 1.0
    top_k: int | None = -1
    min_p: float | None = 0.0
    frequency_penalty: float | None = 0.0
    presence_penalty: float | None = 0.0
    repetition_penalty: float | None = 1.0
    min_new_tokens: int | None = 0
    n: int | None = 1
    json_schema: str | None = None
    regex: str | None = None
    ebnf: str | None = None
    structural_tag: str | None = None
    ignore_eos: bool | None = False
    skip_special_tokens: bool | None = True
    spaces_between_special_tokens: bool | None = True
    no_stop_trim: bool | None = False
    stream_interval: int | None = None
    logit_bias: dict[str, float] | None = None
    sampling_seed: int | None = None
    custom_params: Any = None
    beam_width: int | None = None
    watermark: Watermark | None = None
    choice: list[str] | None = None


class GenerateBody(BaseModel):
    """The `/generate` keys the simulator reads; SGLang's other keys are accepted and ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    rid: str | list[str] | None = None
    text: str | list[str] | None = None
    input_ids: list[int] | list[list[int]] | None = None
    stream: bool | None = False
    sampling_params: SamplingBody | list[SamplingBody] | None = None
    return_logprob: bool | list[bool] | None = None
    logprob_start_len: int | list[int] | None = None
    top_logprobs_num: int | list[int] | None = None
    return_text_in_logprobs: bool | None = None


def parse_generate(body: bytes) -> GenerateBody:
    try:
        return GenerateBody.model_validate_json(body)
    except ValidationError as error:
        raise _translate(error) from None


def _translate(error: ValidationError) -> ValueError:
    first = max(error.errors(), key=lambda e: len(e["loc"]))
    if first["type"] in ("json_invalid", "model_type") and not first["loc"]:
        return MalformedBody(str(error))
    if first["type"] == "extra_forbidden":
        return ContractError(unknown_field(str(first["loc"][-1]), first["loc"]))
    expected = _EXPECTED.get(first["type"], "a valid value")
    return ContractError(f"invalid type: {unexpected(first.get('input'))}, expected {expected}")


def unknown_field(key: str, loc: tuple[Any, ...]) -> str:
    """serde's `unknown_field` text."""
    fields = WATERMARK_FIELDS if "watermark" in loc else SAMPLING_FIELDS
    listed = ", ".join(f"`{name}`" for name in fields)
    return f"unknown field `{key}`, expected one of {listed}"


def unexpected(value: Any) -> str:
    """serde's `Unexpected` display of a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    return "sequence" if isinstance(value, list) else "map"
