"""Scripts: what the simulated model writes for a prompt.

A script is asked `matches(prompt)`; the first script that matches writes the whole output text for
the request from a `ScriptRequest` (its random generator is seeded from the simulator seed, the prompt
and the request's sampling seed, so a script must draw all its randomness from it). Later work adds
scripts (planner JSON, ThreadWeaver tags) with `ScriptedModel.register`; trace replay is
`orchestrator.backends.replay.ReplayScript`.
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
    """The full text the model would write, and the mean per-token log-probability it writes it with.

    A script that knows the exact output gives `tokens` (streamed as they are, nothing appended; they
    must join to `text`) and may give `logprobs` and `top_logprobs`, one entry per token, used instead
    of synthetic ones. `synthesize_logprobs` False: without given logprobs, stream none at all.
    """

    text: str
    mean_logprob: float = -0.5
    answer: str | None = None
    tokens: tuple[str, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    top_logprobs: tuple[tuple[float, ...], ...] | None = None
    synthesize_logprobs: bool = True

    def __post_init__(self) -> None:
        if self.tokens is not None and "".join(self.tokens) != self.text:
            raise ValueError("ScriptOutput.tokens must join to its text")
        for name, values in (("logprobs", self.logprobs), ("top_logprobs", self.top_logprobs)):
            if values is not None and (self.tokens is None or len(values) != len(self.tokens)):
                raise ValueError(f"ScriptOutput.{name} needs `tokens` and one entry per token")


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
