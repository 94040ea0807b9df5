"""Backends: the protocol, its records, and the implementations a task file can name."""

from typing import Annotated

from pydantic import BaseModel, Field

from orchestrator.backends.base import (
    Backend,
    BackendInfo,
    Completion,
    CompletionRequest,
    FinishReason,
    SamplingParams,
    StreamEvent,
    TextChunk,
    Usage,
    complete,
    new_request_id,
)
from orchestrator.backends.openai import OpenAIBackend, OpenAIConfig
from orchestrator.backends.replay import ReplayBackend, ReplayConfig
from orchestrator.backends.sglang import SGLangBackend, SGLangConfig
from orchestrator.backends.sim import SimBackend, SimConfig

BackendConfig = Annotated[SimConfig | SGLangConfig | OpenAIConfig | ReplayConfig, Field(discriminator="kind")]
BACKEND_CONFIGS: dict[str, type[BaseModel]] = {
    "sim": SimConfig,
    "sglang": SGLangConfig,
    "openai": OpenAIConfig,
    "replay": ReplayConfig,
}


def create_backend(config: SimConfig | SGLangConfig | OpenAIConfig | ReplayConfig) -> Backend:
    """The backend a task file's `backend:` section describes."""
    if isinstance(config, SGLangConfig):
        return SGLangBackend(config)
    if isinstance(config, OpenAIConfig):
        return OpenAIBackend(config)
    if isinstance(config, ReplayConfig):
        return ReplayBackend(config)
    return SimBackend(config)


__all__ = [
    "BACKEND_CONFIGS",
    "Backend",
    "BackendConfig",
    "BackendInfo",
    "Completion",
    "CompletionRequest",
    "FinishReason",
    "OpenAIBackend",
    "OpenAIConfig",
    "ReplayBackend",
    "ReplayConfig",
    "SGLangBackend",
    "SGLangConfig",
    "SamplingParams",
    "SimBackend",
    "SimConfig",
    "StreamEvent",
    "TextChunk",
    "Usage",
    "complete",
    "create_backend",
    "new_request_id",
]
