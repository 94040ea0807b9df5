"""Configuration of the embedded SGLang simulator (`backend: {kind: sim, ...}` in a task file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.backends.base import MAX_SEED

ModelPreset = Literal["qwen3-4b", "llama-3-8b", "qwen3-8b", "qwen3-32b"]
GpuPreset = Literal["h100", "h200"]


class SimConfig(BaseModel):
    """A simulated SGLang server: timing from a model/GPU roofline preset, a radix cache, a scripted model.

    - `seed`: seeds every scripted output (with the prompt and the request's sampling seed).
    - `model`, `gpu`: the timing preset (see `orchestrator.backends.sim.timing`).
    - `time_scale`: real seconds per simulated second; 0 runs as fast as the CPU allows.
    - `cache_tokens`: KV pool size in tokens; None sizes it from GPU memory like SGLang
      (`mem_fraction_static` x memory - weights) / KV bytes per token.
    - `max_running`: most requests decoding at once (SGLang's `--max-running-requests`).
    - `max_prefill_tokens`: most uncached prompt tokens in one prefill batch (SGLang's default 16384);
      a longer single prompt still runs alone.
    - `mem_fraction_static`: share of GPU memory for weights plus KV pool (SGLang's
      `--mem-fraction-static`), used only when `cache_tokens` is None.
    - `answers`: answer -> weight for the reasoning script (the distribution at temperature 1; a
      request at temperature T draws with weights w ** (1 / T)); None derives four from each prompt.
    - `trace_tokens`: median length of a reasoning trace with the top answer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sim"] = "sim"
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    model: ModelPreset = "llama-3-8b"
    gpu: GpuPreset = "h200"
    time_scale: float = Field(default=1.0, ge=0.0, le=1000.0)
    cache_tokens: int | None = Field(default=None, ge=0, le=1_000_000_000)
    max_running: int = Field(default=256, ge=1, le=100_000)
    answers: dict[str, float] | None = None
    trace_tokens: int = Field(default=400, ge=8, le=1_000_000)
    max_prefill_tokens: int = Field(default=16384, ge=1, le=10_000_000)
    mem_fraction_static: float = Field(default=0.88, gt=0.0, le=1.0)

    @field_validator("answers")
    @classmethod
    def _weights_are_a_distribution(cls, answers: dict[str, float] | None) -> dict[str, float] | None:
        if answers is None:
            return None
        if not answers or min(answers.values()) < 0 or sum(answers.values()) <= 0:
            raise ValueError("answer weights must be >= 0 with a positive sum")
        return answers
