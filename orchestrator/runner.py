"""The Orchestrator: the async entry point that runs a task as a plan of steps and reports what it cost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Literal

from judges.base import Judge
from orchestrator.backends import Backend, create_backend
from orchestrator.backends.base import AsyncClosing, Usage
from orchestrator.backends.meter import BudgetMeter, Spent
from orchestrator.backends.stack import with_limits
from orchestrator.budget import Budget
from orchestrator.engine import Engine, EngineOutcome, Policy
from orchestrator.errors import RunError
from orchestrator.events import Observer, PlanComplete, PlanStepAdded, for_step, ignore
from orchestrator.plan import Plan, Step
from orchestrator.planner import Planner, PlannerConfig
from orchestrator.refiner import LLMRefiner, RefineConfig
from orchestrator.result import BackendReport, RunResult, StepReport, StepStatus, ThreadReport, UsageReport
from orchestrator.resume import Reuse
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
    protocol `strategy.protocol` names (any object with the `ThreadProtocol` interface). `reuse`
    (from `read_run`) resumes an interrupted run: what its journal shows finished is not run again.
    `stop(reason)` ends a run from outside (a signal handler): its partial result is returned.
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
        reuse: Reuse | None = None,
    ) -> None:
        self.backend = backend
        self.strategy = strategy or Strategy()
        self.observer = observer
        self.judge = judge
        self.tools = tools if tools is not None else build_registry(ToolsConfig())
        self.policy, self.budget = policy or Policy(), budget or Budget()
        self.planner, self.refine = planner or PlannerConfig(), refine
        self.protocol, self.reuse = protocol, reuse
        self._engine_now: Engine | None = None
        self._stop_reason: str | None = None

    @classmethod
    def from_spec(
        cls, spec: TaskSpec, observer: Observer = ignore, base_dir: Path | None = None, reuse: Reuse | None = None
    ) -> Orchestrator:
        backend = with_limits(create_backend(spec.backend), spec.limits)
        tools = build_registry(spec.tools, base_dir)
        return cls(backend, spec.strategy, observer, tools=tools, policy=spec.execution, budget=spec.budget,
                   planner=spec.planner, refine=spec.refine, reuse=reuse)  # fmt: skip

    async def run(self, task: str | TaskSpec, plan: PlanSource = None) -> RunResult:
        """Run the task's plan, each step as soon as its dependencies finish; report the answer and the cost."""
        text, strategy, plan = _unpack(task, self.strategy, plan)
        started, usage = time.perf_counter(), UsageReport()
        meter = BudgetMeter(self.backend, self.budget, spent=self._spent_before())
        runner = StepRunner(self.tools, strategy, partial(self.sampler, usage=usage, backend=meter),
                            self.observer, self.reuse)  # fmt: skip
        engine = self._engine_now = self._engine(runner, text, meter, usage)
        meter.on_limit = engine.stop
        if self._stop_reason is not None:
            engine.stop(self._stop_reason)
        try:
            outcome = await engine.run(self.source(text, plan, meter, usage))
        finally:
            self._engine_now = None
        if plan is None:
            _raise_if_the_task_failed(outcome, runner.threads)
        return self._result(text, strategy, outcome, runner, usage, started)

    def stop(self, reason: str) -> None:
        """End the running (or next) run: pending steps are not started, running ones are cancelled and their
        requests aborted on the server; `run` returns the partial result with `stopped` set to `reason`."""
        self._stop_reason = reason
        if self._engine_now is not None:
            self._engine_now.stop(reason)

    def sampler(
        self,
        strategy: Strategy,
        step: str | None = None,
        reused: Mapping[int, ThreadReport] | None = None,
        *,
        usage: UsageReport,
        backend: Backend | None = None,
    ) -> Sampler:
        """The sampler of one reasoning step under `strategy` (its events tagged with `step`)."""
        backend = backend or self.backend
        rule = build_rule(strategy, backend)
        monitor = build_monitor(strategy, backend, self.judge)
        observer = for_step(self.observer, step) if step else self.observer
        protocol = self.protocol or build_protocol(strategy.protocol)
        return Sampler(backend, strategy, rule, monitor, usage, observer, strategy.pattern(), protocol, reused)

    def _spent_before(self) -> Spent:
        """What the runs this one resumes spent: budgets hold across resumes (wall time excepted)."""
        if self.reuse is None:
            return Spent()
        price = self.budget.price(self.backend.info().model)
        cost = price.cost(self.reuse.spent) if price else 0.0
        return Spent(self.reuse.spent.completion_tokens, self.reuse.spent_requests, cost)

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
        if plan == "auto" and self.reuse is not None and self.reuse.plan is not None:
            return Plan.of(self.reuse.plan, self.tools.names())
        if plan == "auto":
            return self._announced(Planner(backend, self.tools.schemas(), self.planner, usage).steps(task))
        if plan is None:
            return Plan.of([Step(id=FINAL_STEP, prompt=task)])
        return Plan.of(plan, self.tools.names())

    async def _announced(self, steps: AsyncIterator[Step]) -> AsyncIterator[Step]:
        """The planner's steps, each told to the observer (the journal keeps the plan) as it arrives."""
        async for step in steps:
            self.observer(PlanStepAdded(step))
            yield step
        self.observer(PlanComplete())

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
            cost=_cost(self.budget, self.backend.info().model, usage),
            reused=self.reuse.taken if self.reuse is not None else None,
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


def _cost(budget: Budget, model: str, usage: UsageReport) -> float | None:
    """Dollars this run spent, where the price table has the model."""
    price = budget.price(model)
    spent = Usage(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
    return None if price is None else round(price.cost(spent), 6)


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


def _raise_if_the_task_failed(outcome: EngineOutcome, threads: list[ThreadReport]) -> None:
    """A task run as its one reasoning step has no partial result worth returning when it failed with
    no thread that finished; one that did (a step timeout, say) is kept and the result says it failed."""
    if outcome.stopped is None:
        report = outcome.reports[0]
        if report.status is StepStatus.FAILED and not any(thread.answered for thread in threads):
            raise RunError(report.error or "the step failed")
