"""Configuration of the embedded SGLang simulator (`backend: {kind: sim, ...}` in a task file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ModelPreset = Literal["qwen3-4b", "llama-3-8b", "qwen3-8b", "qwen3-32b"]
GpuPreset = Literal["h100", "h200"]


class SimConfig(BaseModel):
    """A simulated SGLang server: timing from a model/GPU roofline preset, a radix cache, a scripted model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sim"] = "sim"
    seed: int = 0
    model: ModelPreset = "llama-3-8b"
    gpu: GpuPreset = "h200"
    time_scale: float = Field(1.0, ge=0.0, le=1000.0)
    cache_tokens: int | None = Field(None, ge=0, le=1_000_000_000)
    max_running: int = Field(256, ge=1, le=100_000)
    answers: dict[str, float] | None = None
    trace_tokens: int = Field(400, ge=8, le=1_000_000)

