"""Scripts: what the simulated model writes for a prompt.

A script is asked `matches(prompt)`; the first script that matches writes the whole output text for
the request from a `ScriptRequest` (its random generator is seeded from the simulator seed, the prompt
and the request's sampling seed, so a script must draw all its randomness from it). Later work adds
scripts (planner JSON, ThreadWeaver tags, trace replay) with `ScriptedModel.register`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from orchestrator.backends.base import SamplingParams
from orchestrator.backends.sim.config import SimConfig


@dataclass(frozen=True, slots=True)
class ScriptRequest:
    prompt: str
    params: SamplingParams
    config: SimConfig
    rng: random.Random


@dataclass(frozen=True, slots=True)
class ScriptOutput:
    """The full text the model would write, and the mean per-token log-probability it writes it with."""

    text: str
    mean_logprob: float = -0.5
    answer: str | None = None


@runtime_checkable
class Script(Protocol):
    name: str

    def matches(self, prompt: str) -> bool: ...

    def write(self, request: ScriptRequest) -> ScriptOutput: ...


class FallbackScript:
    """Any prompt: a short reply that says plainly it is simulated."""

    name = "fallback"

    def matches(self, prompt: str) -> bool:
        return True

    def write(self, request: ScriptRequest) -> ScriptOutput:
        words = len(request.prompt.split())
        sample = request.rng.randrange(10_000)
        text = (
            f"[simulated reply] The orchestrate simulator read a {words}-word prompt. No model ran, "
            f"so this text carries no meaning (sample {sample:04d})."
        )
        return ScriptOutput(text, mean_logprob=-0.5 - request.rng.random() * 0.2)
