"""The Orchestrator: the async entry point that runs a task as a plan of steps and reports what it cost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Literal

from judges.base import Judge
from orchestrator.backends import Backend, create_backend
from orchestrator.backends.base import AsyncClosing
from orchestrator.backends.meter import TokenMeter
from orchestrator.backends.stack import with_limits
from orchestrator.budget import Budget
from orchestrator.engine import Engine, EngineOutcome, Policy
from orchestrator.errors import RunError
from orchestrator.events import Observer, for_step, ignore
from orchestrator.plan import Plan, Step
from orchestrator.planner import Planner, PlannerConfig
from orchestrator.refiner import LLMRefiner, RefineConfig
from orchestrator.result import BackendReport, RunResult, StepReport, StepStatus, UsageReport
from orchestrator.sampling import Sampler, StepOutcome
from orchestrator.spec import Strategy, TaskSpec
from orchestrator.steps import FINAL_STEP, StepRunner, final_step
from orchestrator.strategies import build_monitor, build_protocol, build_rule
from orchestrator.threads import ThreadProtocol
from tools.base import ToolRegistry
from tools.config import ToolsConfig, build_registry

PlanSource = Plan | tuple[Step, ...] | Literal["auto"] | None


class Orchestrator(AsyncClosing):
    """Runs tasks on one backend; use as `async with Orchestrator(backend) as o: await o.run(task)`.

    A task runs as a plan: given (`plan=`), written by the LLM planner (`plan="auto"`), or, by
    default, the one reasoning step that samples the task in parallel threads. `judge` overrides the
    judge `strategy.prune` names (any object with the `Judge` protocol), `protocol` the thread
    protocol `strategy.protocol` names (any object with the `ThreadProtocol` interface).
    """

    def __init__(
        self,
        backend: Backend,
        strategy: Strategy | None = None,
        observer: Observer = ignore,
        judge: Judge | None = None,
        tools: ToolRegistry | None = None,
        *,
        policy: Policy | None = None,
        budget: Budget | None = None,
        planner: PlannerConfig | None = None,
        refine: RefineConfig | None = None,
        protocol: ThreadProtocol | None = None,
    ) -> None:
        self.backend = backend
        self.strategy = strategy or Strategy()
        self.observer = observer
        self.judge = judge
        self.tools = tools if tools is not None else build_registry(ToolsConfig())
        self.policy, self.budget = policy or Policy(), budget or Budget()
        self.planner, self.refine = planner or PlannerConfig(), refine
        self.protocol = protocol

    @classmethod
    def from_spec(cls, spec: TaskSpec, observer: Observer = ignore, base_dir: Path | None = None) -> Orchestrator:
        backend = with_limits(create_backend(spec.backend), spec.limits)
        tools = build_registry(spec.tools, base_dir)
        return cls(backend, spec.strategy, observer, tools=tools, policy=spec.execution, budget=spec.budget,
                   planner=spec.planner, refine=spec.refine)  # fmt: skip

    async def run(self, task: str | TaskSpec, plan: PlanSource = None) -> RunResult:
        """Run the task's plan, each step as soon as its dependencies finish; report the answer and the cost."""
        text, strategy, plan = _unpack(task, self.strategy, plan)
        started, usage = time.perf_counter(), UsageReport()
        meter = TokenMeter(self.backend, self.budget.tokens)
        runner = StepRunner(self.tools, strategy, lambda each, step: self.sampler(each, usage, meter, step))
        engine = self._engine(runner, text, meter, usage)
        meter.on_limit = lambda tokens: engine.stop(f"the token budget was reached ({tokens} tokens generated)")
        outcome = await engine.run(self.source(text, plan, meter, usage))
        if plan is None:
            _raise_if_the_task_failed(outcome)
        return self._result(text, strategy, outcome, runner, usage, started)

    def sampler(
        self, strategy: Strategy, usage: UsageReport, backend: Backend | None = None, step: str | None = None
    ) -> Sampler:
        """The sampler of one reasoning step under `strategy` (its events tagged with `step`)."""
        backend = backend or self.backend
        rule = build_rule(strategy, backend)
        monitor = build_monitor(strategy, backend, self.judge)
        observer = for_step(self.observer, step) if step else self.observer
        protocol = self.protocol or build_protocol(strategy.protocol)
        return Sampler(backend, strategy, rule, monitor, usage, observer, strategy.pattern(), protocol)

    async def close(self) -> None:
        await self.backend.close()

    def _engine(self, runner: StepRunner, task: str, backend: Backend, usage: UsageReport) -> Engine:
        schemas = self.tools.schemas()
        refiner = LLMRefiner(backend, task, schemas, self.refine, usage) if self.refine else None
        finalize = _finalizer(task)
        return Engine(runner, policy=self.policy, budget=self.budget, observer=self.observer, refiner=refiner,
                      tools=self.tools.names(), finalize=finalize)  # fmt: skip

    def source(self, task: str, plan: PlanSource, backend: Backend, usage: UsageReport) -> Plan | AsyncIterator[Step]:
        """The plan to run: given, streamed from the planner, or the task as one reasoning step."""
        if plan == "auto":
            return Planner(backend, self.tools.schemas(), self.planner, usage).steps(task)
        if plan is None:
            return Plan.of([Step(id=FINAL_STEP, prompt=task)])
        return Plan.of(plan, self.tools.names())

    def _result(
        self,
        task: str,
        strategy: Strategy,
        outcome: EngineOutcome,
        runner: StepRunner,
        usage: UsageReport,
        started: float,
    ) -> RunResult:
        final = outcome.report(outcome.final) if outcome.final else None
        step = runner.outcomes.get(outcome.final or "")
        path, _ = outcome.plan.critical_path(_duration(outcome))
        sampled = [runner.outcomes[step_id] for step_id in outcome.plan.ids if step_id in runner.outcomes]
        return RunResult(
            task=task,
            answer=_answer(final, step),
            votes=step.vote.counts if step else {},
            support=round(step.vote.support, 4) if step else (1.0 if final and final.result else 0.0),
            threads=runner.threads,
            usage=usage,
            wall_s=round(time.perf_counter() - started, 6),
            critical_path_tokens=sum(runner.outcomes[s].critical_path_tokens for s in path if s in runner.outcomes),
            tokens_saved=sum(each.tokens_saved for each in sampled),
            stop=strategy.stop.rule,
            pruned=strategy.prune is not None,
            rounds=sum(each.rounds for each in sampled),
            settled_early=any(each.settled_early for each in sampled),
            steps=[_with_reasoning(report, runner.outcomes.get(report.id)) for report in outcome.reports],
            critical_path_steps=path,
            stopped=outcome.stopped,
            notes=outcome.notes,
            backend=BackendReport.from_info(self.backend.info()),
        )


async def resolve_plan(spec: TaskSpec, base_dir: Path | None = None) -> Plan:
    """The plan a task file would run, without running it (`plan: auto` asks the planner only)."""
    async with Orchestrator.from_spec(spec, base_dir=base_dir) as orchestrator:
        source = orchestrator.source(
            spec.task, _unpack(spec, spec.strategy, None)[2], orchestrator.backend, UsageReport()
        )
        if isinstance(source, Plan):
            return source
        plan = Plan()
        async for step in source:
            plan.add(step, orchestrator.tools.names())
        return plan


async def run_task(spec: TaskSpec, observer: Observer = ignore, base_dir: Path | None = None) -> RunResult:
    """Run a loaded task file on the backend it names."""
    async with Orchestrator.from_spec(spec, observer, base_dir) as orchestrator:
        return await orchestrator.run(spec)


def _unpack(task: str | TaskSpec, strategy: Strategy, plan: PlanSource) -> tuple[str, Strategy, PlanSource]:
    if not isinstance(task, TaskSpec):
        return task, strategy, plan
    return task.task, task.strategy, plan if plan is not None else task.plan


def _answer(final: StepReport | None, sampled: StepOutcome | None) -> str | None:
    """The final step's result; for a reasoning step, only an answer its threads voted for."""
    if final is None or final.status is not StepStatus.DONE:
        return None
    return sampled.vote.answer if sampled is not None else final.result


def _with_reasoning(report: StepReport, sampled: StepOutcome | None) -> StepReport:
    return report if sampled is None else report.model_copy(update={"reasoning": sampled.report})


def _finalizer(task: str) -> Callable[[Plan], Step | None]:
    def finalize(plan: Plan) -> Step | None:
        sinks = plan.sinks()
        return final_step(task, sinks, plan.__contains__) if len(sinks) > 1 else None

    return finalize


def _duration(outcome: EngineOutcome) -> Callable[[Step], float]:
    spans = {
        r.id: (r.ended_s - r.started_s) for r in outcome.reports if r.started_s is not None and r.ended_s is not None
    }
    return lambda step: spans.get(step.id, 0.0)


def _raise_if_the_task_failed(outcome: EngineOutcome) -> None:
    """A task run as its one reasoning step has no partial result worth returning when it failed."""
    if outcome.stopped is None:
        report = outcome.reports[0]
        if report.status is StepStatus.FAILED:
            raise RunError(report.error or "the step failed")
