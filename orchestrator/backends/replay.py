"""`ReplayBackend`: recorded reasoning traces served token by token through the simulator engine.

The scheduler, radix cache, timing model and aborts are the simulator's (`SimBackend`), so a strategy
runs against a replay exactly as it would against a live server; only the text comes from a trace
file (`orchestrator.traces`). A prompt that contains a recorded question (the longest such question
when several do) gets one of that problem's samples:

- The request's sampling seed picks it: sample `seed % n` of the problem's n samples, in file order,
  or in an order shuffled per problem by `order_seed`. The engine gives thread i the seed
  `strategy.seed + i`, so N threads replay N different samples.
- Without a seed, each problem's requests take its samples in turn (a per-problem counter); a
  prefill-only request (`max_tokens` 0) takes none.
- Temperature and top-p change nothing: a recorded sample is what it is. Stop strings and
  `max_tokens` still cut it, as a server would.
- Log-probabilities are the recorded ones; when the traces carry none, no chunk carries any (none
  are made up) and `info().logprobs` is False.

Any other prompt gets the simulator's fallback reply, marked as simulated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.backends.base import MAX_SEED, BackendInfo, SamplingParams
from orchestrator.backends.sim._stable import seeded_rng
from orchestrator.backends.sim.backend import SimBackend
from orchestrator.backends.sim.config import GpuPreset, ModelPreset, SimConfig
from orchestrator.backends.sim.script import FallbackScript, ScriptOutput, ScriptRequest
from orchestrator.traces import TraceProblem, TraceSample, has_logprobs, load_traces

MAX_REMEMBERED_PROMPTS = 65536


class ReplayConfig(BaseModel):
    """A replay of `traces` (a JSONL trace file) with the simulator's timing knobs (see `SimConfig`).

    `order_seed`: None serves each problem's samples in file order; an int shuffles them per problem.
    `time_scale` defaults to 0 (as fast as the CPU allows; the simulated clock still advances).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["replay"] = "replay"
    traces: str = Field(min_length=1)
    order_seed: int | None = Field(None, ge=0, le=MAX_SEED)
    model: ModelPreset = "llama-3-8b"
    gpu: GpuPreset = "h200"
    time_scale: float = Field(default=0.0, ge=0.0, le=1000.0)
    max_running: int = Field(default=256, ge=1, le=100_000)
    cache_tokens: int | None = Field(default=None, ge=0, le=1_000_000_000)

    def sim_config(self) -> SimConfig:
        """The simulator configuration with the same timing."""
        return SimConfig(
            model=self.model,
            gpu=self.gpu,
            time_scale=self.time_scale,
            max_running=self.max_running,
            cache_tokens=self.cache_tokens,
        )


class ReplayScript:
    """Writes the recorded sample a request's seed picks, for the problem whose question its prompt contains."""

    name = "replay"

    def __init__(self, problems: Sequence[TraceProblem], order_seed: int | None = None) -> None:
        self.problems = list(problems)
        self._longest_first = sorted(range(len(self.problems)), key=lambda i: -len(self.problems[i].question))
        self._orders = [_order(problem, order_seed) for problem in self.problems]
        self._turns = [0] * len(self.problems)
        self._matched: dict[str, int | None] = {}

    def matches(self, prompt: str) -> bool:
        return self.problem_index(prompt) is not None

    def write(self, request: ScriptRequest) -> ScriptOutput:
        problem = self.problem_index(request.prompt)
        if problem is None:
            raise ValueError("no recorded question is in this prompt")
        sample = self.problems[problem].samples[self.sample_index(problem, request.params)]
        return _output(sample)

    def problem_index(self, prompt: str) -> int | None:
        """The problem whose question the prompt contains (the longest question when several do)."""
        if prompt not in self._matched:
            if len(self._matched) >= MAX_REMEMBERED_PROMPTS:
                self._matched.clear()
            self._matched[prompt] = self._find(prompt)
        return self._matched[prompt]

    def sample_index(self, problem: int, params: SamplingParams) -> int:
        """The index in the problem's samples of the one this request replays."""
        order = self._orders[problem]
        return order[self._turn(problem, params) % len(order)]

    def _find(self, prompt: str) -> int | None:
        return next((i for i in self._longest_first if self.problems[i].question in prompt), None)

    def _turn(self, problem: int, params: SamplingParams) -> int:
        if params.seed is not None:
            return params.seed
        turn = self._turns[problem]
        if params.max_tokens > 0:
            self._turns[problem] += 1
        return turn


class ReplayFallback(FallbackScript):
    """The simulator's fallback for prompts with no recorded question; counts them, and makes up no logprobs
    when the traces carry none."""

    def __init__(self, logprobs: bool) -> None:
        self.logprobs = logprobs
        self.used = 0

    def write(self, request: ScriptRequest) -> ScriptOutput:
        self.used += 1
        output = super().write(request)
        return output if self.logprobs else replace(output, synthesize_logprobs=False)


class ReplayBackend(SimBackend):
    """The simulator serving recorded traces; `problems` are the loaded traces, in file order."""

    def __init__(self, config: ReplayConfig, problems: Sequence[TraceProblem] | None = None) -> None:
        self.replay_config = config
        self.problems = list(problems) if problems is not None else load_traces(config.traces)
        self.script = ReplayScript(self.problems, config.order_seed)
        self.fallback = ReplayFallback(has_logprobs(self.problems))
        super().__init__(config.sim_config(), scripts=[self.script, self.fallback])

    def info(self) -> BackendInfo:
        timing = f"simulated {self.timing.model.name} on {self.timing.gpu.name}"
        model = f"replay of {Path(self.replay_config.traces).name} (timing: {timing})"
        return BackendInfo("replay", model, simulated=True, stats=self.stats(), logprobs=self.fallback.logprobs)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "replay_problems": len(self.problems), "replay_fallbacks": self.fallback.used}


def _order(problem: TraceProblem, order_seed: int | None) -> list[int]:
    order = list(range(len(problem.samples)))
    if order_seed is not None:
        seeded_rng("replay-order", order_seed, problem.question).shuffle(order)
    return order


def _output(sample: TraceSample) -> ScriptOutput:
    return ScriptOutput(
        sample.text,
        tokens=_tuple(sample.tokens),
        logprobs=_tuple(sample.logprobs),
        top_logprobs=tuple(map(tuple, sample.top_logprobs)) if sample.top_logprobs is not None else None,
        synthesize_logprobs=False,
    )


def _tuple(values: list[Any] | None) -> tuple[Any, ...] | None:
    return tuple(values) if values is not None else None
