"""`orchestrate bench prune`: every problem of a trace file through the engine over the replay backend.

Each problem's recorded samples are served token by token by the replay backend, so a strategy runs
exactly as it would against a live server: threads start in rounds, monitors abort them mid-stream,
the stopping rule ends sampling. Cost is counted in whitespace-separated words of all trace text the
strategy made the "model" generate (partial traces up to where they were stopped included), so figures
compare across tokenizers. One JSON line per problem is written, in input order, as it finishes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from orchestrator.aggregate import normalize_answer
from orchestrator.backends.replay import ReplayBackend, ReplayConfig
from orchestrator.errors import UsageError
from orchestrator.result import ANSWERED, RunResult, ThreadStatus
from orchestrator.runner import Orchestrator
from orchestrator.spec import Strategy
from orchestrator.traces import TraceProblem

ESC_ANSWER_PATTERN = r"answer is\s*(\S+)"
"""The ESC traces end "The answer is X." with a one-word X; this reads it the way the reference figures do."""

PRESETS: dict[str, dict[str, Any]] = {
    "cons": {"stop": "cons"},
    "esc": {"stop": {"rule": "esc", "window": 5}},
    "adaptive": {"stop": {"rule": "adaptive", "threshold": 0.95, "window": 1}},
    "deepconf": {"stop": {"rule": "deepconf", "warmup": 16, "percentile": 90, "group_tokens": 2048}},
    "deepprune": {
        "stop": {"rule": "adaptive", "threshold": 0.97, "window": 1},
        "prune": {"judge": "features", "truncation": {"mode": "words", "limit": 8}, "confirm": 3, "anchor": 1},
    },
    "deepprune-lean": {
        "stop": {"rule": "adaptive", "threshold": 0.95, "window": 1},
        "prune": {"judge": "features", "truncation": {"mode": "words", "limit": 8}, "confirm": 2, "anchor": 1},
    },
    "deepprune-cluster": {
        "stop": {"rule": "adaptive", "threshold": 0.97, "window": 1},
        "prune": {"judge": "features", "truncation": {"mode": "words", "limit": 8}, "confirm": 3},
    },
}
"""Strategy name -> `strategy:` fields (a task file could say the same)."""


@dataclass(frozen=True, slots=True)
class ProblemOutcome:
    index: int
    answer: str | None
    gold: str | None
    correct: bool
    tokens: int
    started: int
    finished: int
    pruned: int
    stopped: int
    model_tokens: int

    def line(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class BenchSummary:
    strategy: str
    problems: int
    accuracy: float
    tokens: int
    cons_tokens: int
    mean_started: float
    mean_finished: float
    wall_s: float

    @property
    def relative(self) -> float:
        """Words generated relative to cons@N (every sample to its end)."""
        return self.tokens / self.cons_tokens if self.cons_tokens else 0.0


def preset(name: str) -> dict[str, Any]:
    """The `strategy:` fields of a named strategy; `UsageError` naming the choices when unknown."""
    if name not in PRESETS:
        raise UsageError(f"unknown strategy '{name}' (choose from: {', '.join(PRESETS)})")
    return PRESETS[name]


def strategy_for(name: str, threads: int, answer_pattern: str | None, **overrides: Any) -> Strategy:
    fields = {"threads": threads, "seed": 0, "prompt": "{task}", "max_tokens": 1_000_000, "temperature": 0.7}
    return Strategy.model_validate(fields | preset(name) | {"answer_pattern": answer_pattern} | overrides)


async def bench_prune(
    traces: Path,
    strategy: str,
    out: TextIO,
    *,
    order_seed: int | None = None,
    limit: int | None = None,
    answer_pattern: str | None = "auto",
    on_problem: Callable[[ProblemOutcome], None] = lambda outcome: None,
) -> BenchSummary:
    """Run every problem (the first `limit`) of `traces` with `strategy`; write one line per problem to `out`."""
    started = time.perf_counter()
    async with ReplayBackend(ReplayConfig(traces=str(traces), order_seed=order_seed)) as backend:
        problems = backend.problems[:limit] if limit is not None else backend.problems
        pattern = _pattern(answer_pattern, traces)
        outcomes = []
        for index, problem in enumerate(problems):
            outcome = await _run_problem(backend, index, problem, strategy_for(strategy, len(problem.samples), pattern))
            out.write(outcome.line() + "\n")
            out.flush()
            on_problem(outcome)
            outcomes.append(outcome)
    return summarize(strategy, outcomes, problems, time.perf_counter() - started)


async def _run_problem(backend: ReplayBackend, index: int, problem: TraceProblem, strategy: Strategy) -> ProblemOutcome:
    orchestrator = Orchestrator(backend, strategy)
    result = await orchestrator.run(problem.question)
    return outcome_of(index, problem, result)


def outcome_of(index: int, problem: TraceProblem, result: RunResult) -> ProblemOutcome:
    return ProblemOutcome(
        index=index,
        answer=result.answer,
        gold=problem.answer,
        correct=is_correct(result.answer, problem.answer),
        tokens=sum(len(thread.text.split()) for thread in result.threads),
        started=len(result.threads),
        finished=result.count(*ANSWERED),
        pruned=result.count(ThreadStatus.PRUNED),
        stopped=result.count(ThreadStatus.ABORTED),
        model_tokens=sum(thread.tokens for thread in result.threads),
    )


def is_correct(answer: str | None, gold: str | None) -> bool:
    return answer is not None and gold is not None and normalize_answer(answer) == normalize_answer(gold)


def summarize(
    strategy: str, outcomes: Sequence[ProblemOutcome], problems: Sequence[TraceProblem], wall_s: float
) -> BenchSummary:
    count = max(1, len(outcomes))
    return BenchSummary(
        strategy=strategy,
        problems=len(outcomes),
        accuracy=sum(outcome.correct for outcome in outcomes) / count,
        tokens=sum(outcome.tokens for outcome in outcomes),
        cons_tokens=sum(len(sample.text.split()) for problem in problems for sample in problem.samples),
        mean_started=sum(outcome.started for outcome in outcomes) / count,
        mean_finished=sum(outcome.finished for outcome in outcomes) / count,
        wall_s=wall_s,
    )


def _pattern(answer_pattern: str | None, traces: Path) -> str | None:
    if answer_pattern != "auto":
        return answer_pattern
    return ESC_ANSWER_PATTERN if _first_record(traces).keys() >= {"generated_answer"} else None


def _first_record(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as lines:
        first = next((line for line in lines if line.strip()), "{}")
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}
