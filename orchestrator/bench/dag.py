"""`orchestrate bench dag`: FanOutQA's human decompositions run as explicit plans through the engine.

A leaf sub-question is a `kb` step answered from its stored sub-answer after `latency` seconds; a
sub-question with its own decomposition is a `join` step that depends on its children (no latency);
`depends_on` are dependencies; a last `join` step gathers the top-level sub-questions. The bound on
a question's makespan is its critical path (latency x the most leaves on one dependency chain);
one-step-at-a-time execution takes latency x the number of leaves.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.backends.sim import SimBackend, SimConfig
from orchestrator.errors import PlanError, UsageError
from orchestrator.plan import Plan, reference
from orchestrator.runner import Orchestrator
from orchestrator.step_types import Policy
from tools.base import ToolRegistry
from tools.join import Join
from tools.kb import KnowledgeBase

ANSWER_STEP = "answer"


class SubQuestion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    question: str = ""
    answer: Any = None
    depends_on: list[str] = []
    decomposition: list[SubQuestion] = []


class Question(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    question: str = ""
    decomposition: list[SubQuestion]


@dataclass(frozen=True, slots=True)
class QuestionPlan:
    question: Question
    plan: Plan
    entries: dict[str, Any]

    def leaves(self) -> int:
        return len(self.entries)


@dataclass(frozen=True, slots=True)
class QuestionOutcome:
    id: str
    makespan_s: float
    critical_path_s: float
    sequential_s: float
    steps: int
    done: int

    def line(self) -> str:
        return json.dumps({"id": self.id, "makespan_s": self.makespan_s, "critical_path_s": self.critical_path_s,
                           "sequential_s": self.sequential_s, "steps": self.steps, "done": self.done})  # fmt: skip


@dataclass(frozen=True, slots=True)
class DagSummary:
    questions: int
    steps: int
    makespan_s: float
    critical_path_s: float
    sequential_s: float

    @property
    def speedup(self) -> float:
        return self.sequential_s / self.makespan_s if self.makespan_s else 0.0

    @property
    def ideal_speedup(self) -> float:
        return self.sequential_s / self.critical_path_s if self.critical_path_s else 0.0

    @property
    def over_bound(self) -> float:
        """How far the makespan is above the critical-path bound, as a fraction of the bound."""
        return self.makespan_s / self.critical_path_s - 1 if self.critical_path_s else 0.0

    @property
    def overhead_us_per_step(self) -> float:
        return (self.makespan_s - self.critical_path_s) / self.steps * 1e6 if self.steps else 0.0


def load_fanoutqa(path: Path) -> list[Question]:
    """The questions of a FanOutQA file (a JSON list), or `UsageError` in one line."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not JSON ({error})") from None
    if not isinstance(data, list):
        raise UsageError(f"{path}: expected a JSON list of questions")
    return [_question(item, index, path) for index, item in enumerate(data)]


def _question(item: Any, index: int, path: Path) -> Question:
    try:
        return Question.model_validate(item)
    except ValidationError as error:
        detail = error.errors()[0]
        field = ".".join(map(str, detail["loc"]))
        raise UsageError(f"{path}: question {index + 1}: {field + ': ' if field else ''}{detail['msg']}") from None


def question_plan(question: Question) -> QuestionPlan:
    """The plan of one question; `PlanError` naming the question if its decomposition is not a valid plan."""
    steps: list[dict[str, Any]] = []
    entries: dict[str, Any] = {}
    for node in _walk(question.decomposition):
        steps.append(_node_step(node))
        if not node.decomposition:
            entries[node.id] = node.answer
    top = [node.id for node in question.decomposition]
    steps.append({"id": ANSWER_STEP, "tool": "join", "args": {"parts": [reference(i) for i in top]}, "depends_on": top})
    try:
        return QuestionPlan(question, Plan.of(steps), entries)
    except PlanError as error:
        raise PlanError(f"question '{question.id}': {error}") from None


def _walk(nodes: list[SubQuestion]) -> Iterator[SubQuestion]:
    for node in nodes:
        yield node
        yield from _walk(node.decomposition)


def _node_step(node: SubQuestion) -> dict[str, Any]:
    if not node.decomposition:
        return {"id": node.id, "tool": "kb", "args": {"key": node.id}, "depends_on": node.depends_on}
    children = [child.id for child in node.decomposition]
    parts = [reference(child) for child in children]
    return {"id": node.id, "tool": "join", "args": {"parts": parts}, "depends_on": [*node.depends_on, *children]}


def bounds(plan: QuestionPlan, latency: float) -> tuple[float, float]:
    """The critical-path bound and the one-at-a-time time of a question, in seconds."""
    _, longest = plan.plan.critical_path(lambda step: latency if step.tool == "kb" else 0.0)
    return longest, latency * plan.leaves()


async def run_question(plan: QuestionPlan, latency: float, backend: SimBackend) -> QuestionOutcome:
    tools = ToolRegistry([KnowledgeBase(plan.entries, latency_s=latency), Join()])
    orchestrator = Orchestrator(backend, tools=tools, policy=Policy(retries=0))
    started = time.perf_counter()
    result = await orchestrator.run(plan.question.question or plan.question.id, plan=plan.plan)
    makespan = time.perf_counter() - started
    critical, sequential = bounds(plan, latency)
    done = sum(step.status == "done" for step in result.steps)
    return QuestionOutcome(plan.question.id, round(makespan, 6), round(critical, 6), round(sequential, 6),
                           len(plan.plan), done)  # fmt: skip


async def bench_dag(questions: list[Question], latency: float, out: TextIO) -> DagSummary:
    """Run every question one after another; write each line to `out` as it finishes."""
    plans = [question_plan(question) for question in questions]  # a bad decomposition fails before anything runs
    outcomes = []
    with frozen_heap():
        async with SimBackend(SimConfig(time_scale=0)) as backend:
            for plan in plans:
                outcome = await run_question(plan, latency, backend)
                out.write(outcome.line() + "\n")
                out.flush()
                outcomes.append(outcome)
    return summarize(outcomes)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects alive so far out of the garbage collector's full passes while timing (a full
    pass over a process with openai, pydantic and rich loaded takes tens of milliseconds)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def summarize(outcomes: list[QuestionOutcome]) -> DagSummary:
    return DagSummary(
        questions=len(outcomes),
        steps=sum(o.steps for o in outcomes),
        makespan_s=sum(o.makespan_s for o in outcomes),
        critical_path_s=sum(o.critical_path_s for o in outcomes),
        sequential_s=sum(o.sequential_s for o in outcomes),
    )
