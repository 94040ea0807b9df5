"""Request bodies of the OpenAI-compatible routes, as SGLang's `entrypoints/openai/protocol.py` has them.

Unknown keys are ignored and values coerced (plain pydantic models, as SGLang's). The JSON Schema of
a `response_format` (`json_schema`, or `{"type": "object"}` for `json_object`), overriding the
completions-only `json_schema` string, becomes `sampling_params.json_schema`, as SGLang maps it; scripts
see it as `SamplingParams.json_schema`. Fields the simulator cannot honour (penalties, `regex`, `ebnf`,
structural tags, `logit_bias`, ...) are accepted and have no effect on the scripted output.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_MODEL_NAME = "default"
JSON_OBJECT_SCHEMA = '{"type": "object"}'  # what SGLang constrains `json_object` to


class StreamOptions(BaseModel):
    include_usage: bool | None = False
    continuous_usage_stats: bool | None = False


class JsonSchemaFormat(BaseModel):
    name: str
    description: str | None = None
    schema_: dict[str, object] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def schema_text(self) -> str | None:
        """The JSON Schema string SGLang constrains the output to; None for `text`."""
        if self.type == "json_object":
            return JSON_OBJECT_SCHEMA
        if self.type == "text":
            return None
        if self.json_schema is None or self.json_schema.schema_ is None:
            raise ValueError("schema_ is required for json_schema response format request.")
        return json.dumps(self.json_schema.schema_)


class StructuralTagFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["structural_tag"]


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = DEFAULT_MODEL_NAME
    n: int = 1
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logit_bias: dict[str, float] | None = None
    response_format: ResponseFormat | StructuralTagFormat | None = None
    regex: str | None = None
    ebnf: str | None = None
    user: str | None = None
    min_tokens: int = 0
    stop_token_ids: list[int] | None = None
    no_stop_trim: bool = False
    ignore_eos: bool = False
    skip_special_tokens: bool = True
    rid: str | list[str] | None = None

    def common_sampling(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "stop": self.stop,
            "sampling_seed": self.seed,
            "min_new_tokens": self.min_tokens,
            "no_stop_trim": self.no_stop_trim,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
            "regex": self.regex,
            "ebnf": self.ebnf,
        }

    def constrained(self, json_schema: str | None) -> str | None:
        """The `sampling_params.json_schema`: `response_format`'s schema, else `json_schema`."""
        fmt = self.response_format
        schema = fmt.schema_text() if isinstance(fmt, ResponseFormat) else None
        return json_schema if schema is None else schema


class CompletionBody(_Common):
    prompt: list[int] | list[list[int]] | str | list[str]
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    logprobs: int | None = None
    echo: bool = False
    suffix: str | None = None
    json_schema: str | None = None

    @field_validator("max_tokens")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value is not None and value <= 0:
            raise ValueError("max_tokens must be positive")
        return value

    def sampling(self) -> dict[str, Any]:
        values = {"max_new_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p}
        extra = {"top_k": self.top_k, "min_p": self.min_p, "repetition_penalty": self.repetition_penalty}
        return self.common_sampling() | values | extra | {"json_schema": self.constrained(self.json_schema)}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatBody(_Common):
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    separate_reasoning: bool = True
    stream_reasoning: bool = True
    chat_template_kwargs: dict[str, Any] | None = None

    def sampling(self) -> dict[str, Any]:
        values = {
            "max_new_tokens": self.max_completion_tokens or self.max_tokens,
            "temperature": 1.0 if self.temperature is None else self.temperature,
            "top_p": 1.0 if self.top_p is None else self.top_p,
            "top_k": -1 if self.top_k is None else self.top_k,
            "min_p": 0.0 if self.min_p is None else self.min_p,
            "repetition_penalty": 1.0 if self.repetition_penalty is None else self.repetition_penalty,
        }
        return self.common_sampling() | values | {"json_schema": self.constrained(None)}


class TokenizeBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = DEFAULT_MODEL_NAME
    prompt: str | list[str] | None = None
    messages: list[ChatMessage] | None = None
    add_special_tokens: bool = True

    @model_validator(mode="after")
    def _exactly_one(self) -> TokenizeBody:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("Exactly one of 'prompt' or 'messages' must be provided.")
        return self


class DetokenizeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = DEFAULT_MODEL_NAME
    tokens: list[int] | list[list[int]]
    skip_special_tokens: bool = True
