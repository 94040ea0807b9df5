"""Backends: the protocol, its records, and the implementations a task file can name."""

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
from orchestrator.backends.sim import SimBackend, SimConfig

BackendConfig = SimConfig


def create_backend(config: BackendConfig) -> Backend:
    """The backend a task file's `backend:` section describes."""
    return SimBackend(config)


__all__ = [
    "Backend",
    "BackendConfig",
    "BackendInfo",
    "Completion",
    "CompletionRequest",
    "FinishReason",
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
