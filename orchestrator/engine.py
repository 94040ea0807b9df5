"""The DAG engine: a step starts the moment its last dependency finishes.

Event-driven, with no polling loop and no supersteps: every step runs as its own task and reports
to one queue; the loop wakes only when something happened (a step finished or failed, the planner
streamed a step, the refiner proposed edits, a budget was reached). A failed step is a result: it
is retried per the policy, then marked failed and handed to the refiner, or its dependents are
cancelled. A configuration error (a bad option, a rule the backend cannot serve) ends the run at
once and is raised as it is. Stopping the run (a budget, or cancelling `run`) cancels every running step, which
aborts its in-flight requests on the backend.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Collection, Mapping
from dataclasses import dataclass, field

import networkx as nx

from orchestrator.budget import Budget
from orchestrator.errors import OrchestrateError, PlanError, RunError, TaskFileError, UsageError
from orchestrator.events import Observer, StepFinished, StepStarted, ignore
from orchestrator.plan import Plan, Step
from orchestrator.result import StepReport, StepStatus
from orchestrator.step_types import (
    AddStep,
    CancelStep,
    Edit,
    Finalize,
    Policy,
    Refiner,
    ReplaceStep,
    StepExecutor,
    StepOutput,
    describe,
)

_SETTLED = frozenset({StepStatus.DONE, StepStatus.FAILED, StepStatus.CANCELLED})


@dataclass(slots=True)
class EngineOutcome:
    plan: Plan
    reports: list[StepReport]
    stopped: str | None
    final: str | None
    notes: list[str]

    def report(self, step_id: str) -> StepReport:
        return next(report for report in self.reports if report.id == step_id)


@dataclass(slots=True)
class _State:
    status: StepStatus = StepStatus.PENDING
    result: str | None = None
    error: str | None = None
    started: float | None = None
    ended: float | None = None
    attempts: int = 0
    tokens: int = 0
    reused: bool = False
    waiting: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Arrived:
    step: Step


@dataclass(frozen=True, slots=True)
class _Closed:
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Done:
    step_id: str
    output: StepOutput


@dataclass(frozen=True, slots=True)
class _Failed:
    step_id: str
    error: str


@dataclass(frozen=True, slots=True)
class _Edits:
    edits: list[Edit]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Stop:
    reason: str


@dataclass(frozen=True, slots=True)
class _Fatal:
    error: OrchestrateError


_Event = _Arrived | _Closed | _Done | _Failed | _Edits | _Stop | _Fatal


class _StepFailure(Exception):
    def __init__(self, error: str) -> None:
        self.error = error


class Engine:
    """Runs one plan (given whole, or streamed step by step from a planner) to the end."""

    def __init__(
        self,
        execute: StepExecutor,
        *,
        policy: Policy | None = None,
        budget: Budget | None = None,
        observer: Observer = ignore,
        refiner: Refiner | None = None,
        tools: Collection[str] | None = None,
        finalize: Finalize | None = None,
    ) -> None:
        self.execute, self.policy, self.budget = execute, policy or Policy(), budget or Budget()
        self.observer, self.refiner, self.tools, self.finalize = observer, refiner, tools, finalize
        self.plan = Plan()
        self._states: dict[str, _State] = {}
        self._results: dict[str, str] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._queue: asyncio.Queue[_Event] = asyncio.Queue()
        self._closed = False
        self._stopped: str | None = None
        self._failure: str | None = None
        self._fatal: OrchestrateError | None = None
        self._final: str | None = None
        self._notes: list[str] = []
        self._unsettled: list[str] = []
        self._launched = 0
        self._spent: str | None = None
        self._refining: asyncio.Task[None] | None = None
        self._refine_again = False
        self._refine_rounds = 0
        self._since_refine = 0
        self._t0 = time.perf_counter()

    def stop(self, reason: str) -> None:
        """Stop the run from outside (e.g. a token meter): running steps are cancelled, the rest is not started."""
        self._queue.put_nowait(_Stop(reason))

    async def run(self, source: Plan | AsyncIterable[Step]) -> EngineOutcome:
        self._t0 = time.perf_counter()
        feeder = self._start(source)
        try:
            async with asyncio.timeout(self.budget.wall_s):
                await self._loop()
        except TimeoutError:
            self._stopped = f"the wall-time budget of {self.budget.wall_s:g} s was reached"
        finally:
            await self._shutdown(feeder)
        if self._fatal is not None:
            raise self._fatal
        if self._failure is not None:
            raise RunError(self._failure)
        return EngineOutcome(self.plan, self.reports(), self._stopped or self._spent, self._final, self._notes)

    def reports(self) -> list[StepReport]:
        return [self._report(step) for step in self.plan]

    def _start(self, source: Plan | AsyncIterable[Step]) -> asyncio.Task[None] | None:
        if isinstance(source, Plan):
            self.plan = source
            for step_id in source.ids:
                self._states[step_id] = _State()
            for step_id in nx.topological_sort(source.graph):
                self._admit(source[step_id])
            self._close()
            return None
        return asyncio.create_task(self._feed(source))

    async def _feed(self, source: AsyncIterable[Step]) -> None:
        try:
            async for step in source:
                self._queue.put_nowait(_Arrived(step))
        except Exception as error:  # noqa: BLE001 - a broken stream ends the run; it must not hang it
            self._queue.put_nowait(_Closed(_message(error)))
            return
        self._queue.put_nowait(_Closed())

    async def _loop(self) -> None:
        while not self._over():
            self._handle(await self._queue.get())

    def _over(self) -> bool:
        if self._stopped is not None or self._failure is not None or self._fatal is not None:
            return True
        return self._closed and not self._tasks and self._refining is None

    def _handle(self, event: _Event) -> None:
        match event:
            case _Done(step_id, output):
                self._done(step_id, output)
            case _Failed(step_id, error):
                self._failed(step_id, error)
            case _Arrived(step):
                self._arrive(step)
            case _Closed(None):
                self._close()
            case _Closed(error):
                self._failure = f"planning failed: {error}"
            case _Edits(edits, error):
                self._edited(edits, error)
            case _Stop(reason):
                self._stopped = reason
            case _Fatal(error):
                self._fatal = error

    def _arrive(self, step: Step) -> None:
        try:
            self.plan.add(step, self.tools)
        except PlanError as error:
            self._failure = f"planning failed: {error}"
            return
        self._admit(step)

    def _close(self) -> None:
        self._closed = True
        extra = self.finalize(self.plan) if self.finalize else None
        if extra is not None:
            self.plan.add(extra, self.tools)
            self._admit(extra)
        sinks = self.plan.sinks()
        self._final = extra.id if extra is not None else (sinks[-1] if sinks else None)

    def _admit(self, step: Step) -> None:
        state = self._states.setdefault(step.id, _State())
        state.status = StepStatus.PENDING
        state.waiting = {need for need in step.needs() if self._states[need].status is not StepStatus.DONE}
        if not state.waiting:
            self._launch(step.id)
        elif self._refining is None and (cause := self._blocker(state)) is not None:
            self._cancel(step.id, self._because(cause))

    def _launch(self, step_id: str) -> None:
        if self.budget.steps is not None and self._launched >= self.budget.steps:
            self._spent = f"the step budget of {self.budget.steps} steps was reached"
            self._cancel(step_id, self._spent)
            return
        self._launched += 1
        state = self._states[step_id]
        state.status, state.started = StepStatus.RUNNING, self._now()
        self._tasks[step_id] = asyncio.create_task(self._run_step(self.plan[step_id], state))

    async def _run_step(self, step: Step, state: _State) -> None:
        inputs = {need: self._results[need] for need in step.needs()}
        try:
            output = await self._attempts(step, inputs, state)
        except _StepFailure as failure:
            self._queue.put_nowait(_Failed(step.id, failure.error))
        except (TaskFileError, UsageError) as error:
            self._queue.put_nowait(_Fatal(error))
        except Exception as error:  # noqa: BLE001 - e.g. an observer's bug: end the run, never hang it
            self._queue.put_nowait(_Fatal(OrchestrateError(f"internal error in step '{step.id}': {error!r}")))
        else:
            self._queue.put_nowait(_Done(step.id, output))

    async def _attempts(self, step: Step, inputs: Mapping[str, str], state: _State) -> StepOutput:
        error = ""
        for attempt in range(self.policy.retries + 1):
            state.attempts = attempt + 1
            self.observer(StepStarted(step.id, attempt + 1, step))
            try:
                return await self._attempt(step, inputs)
            except _StepFailure as failure:
                error = failure.error
            if attempt < self.policy.retries:
                await asyncio.sleep(self.policy.retry_delay_s * 2**attempt)
        raise _StepFailure(error)

    async def _attempt(self, step: Step, inputs: Mapping[str, str]) -> StepOutput:
        limit = step.timeout_s or self.policy.step_timeout_s
        try:
            async with asyncio.timeout(limit):
                return await self.execute(step, inputs)
        except TimeoutError:
            raise _StepFailure(f"timed out after {limit:g} s") from None
        except (TaskFileError, UsageError):
            raise
        except OrchestrateError as error:
            raise _StepFailure(str(error)) from None
        except Exception as error:  # noqa: BLE001 - a tool's own bug is still just a failed step
            raise _StepFailure(f"{type(error).__name__}: {error}") from None
        except asyncio.CancelledError as error:
            if _cancelling():  # the run is stopping this step
                raise
            # a tool that raises CancelledError of its own would otherwise end its task with no event: a hang
            raise _StepFailure(f"CancelledError: {error}") from None

    def _done(self, step_id: str, output: StepOutput) -> None:
        state = self._finish(step_id, StepStatus.DONE)
        state.result, state.tokens, state.reused = output.result, output.tokens, output.reused
        self._results[step_id] = output.result
        self.observer(StepFinished(self._report(self.plan[step_id])))
        for dependent in self.plan.dependents(step_id):
            waiting = self._states[dependent].waiting
            waiting.discard(step_id)
            if not waiting and self._states[dependent].status is StepStatus.PENDING:
                self._launch(dependent)
        self._after_step(failed=False)

    def _failed(self, step_id: str, error: str) -> None:
        self._finish(step_id, StepStatus.FAILED).error = error
        self._unsettled.append(step_id)
        self.observer(StepFinished(self._report(self.plan[step_id])))
        self._after_step(failed=True)

    def _finish(self, step_id: str, status: StepStatus) -> _State:
        del self._tasks[step_id]
        state = self._states[step_id]
        state.status, state.ended = status, self._now()
        return state

    def _after_step(self, failed: bool) -> None:
        self._since_refine += 1
        if self._wants_refine(failed):
            self._start_refine()
        elif self._refining is None:
            self._settle_failures()

    def _wants_refine(self, failed: bool) -> bool:
        refiner = self.refiner
        if refiner is None or self._refine_rounds >= refiner.max_rounds:
            return False
        if self._refining is not None:
            self._refine_again = True
            return False
        return failed or self._since_refine >= refiner.every

    def _start_refine(self) -> None:
        self._refine_rounds += 1
        self._since_refine = 0
        self._refine_again = False
        self._refining = asyncio.create_task(self._refine())

    async def _refine(self) -> None:
        assert self.refiner is not None
        reports = {report.id: report for report in self.reports()}
        try:
            edits = await self.refiner.refine(self.plan, reports)
        except Exception as error:  # noqa: BLE001 - a broken refiner is noted; it must not hang the run
            self._queue.put_nowait(_Edits([], _message(error)))
            return
        self._queue.put_nowait(_Edits(edits))

    def _edited(self, edits: list[Edit], error: str | None) -> None:
        self._refining = None
        if error is not None:
            self._notes.append(f"refiner: {error}")
        for edit in edits:
            self._apply(edit)
        if self._refine_again and self.refiner and self._refine_rounds < self.refiner.max_rounds:
            self._start_refine()
        else:
            self._settle_failures()

    def _apply(self, edit: Edit) -> None:
        try:
            match edit:
                case AddStep(step):
                    self.plan.add(step, self.tools)
                    self._admit(step)
                case CancelStep(step_id):
                    self._cancel(self._pending(step_id), "cancelled by the refiner")
                case ReplaceStep(step):
                    self._replace(step)
            self._notes.append(f"refiner: {describe(edit)}")
        except PlanError as error:
            self._notes.append(f"refiner: rejected {describe(edit)}: {error}")

    def _replace(self, step: Step) -> None:
        state = self._states.get(step.id)
        if state is None or state.status not in (StepStatus.PENDING, StepStatus.FAILED, StepStatus.CANCELLED):
            raise PlanError(f"step '{step.id}' is not pending or failed")
        self.plan.replace(step, self.tools)
        state.result = state.error = state.started = state.ended = None
        self._admit(step)

    def _pending(self, step_id: str) -> str:
        state = self._states.get(step_id)
        if state is None or state.status is not StepStatus.PENDING:
            raise PlanError(f"step '{step_id}' is not pending")
        return step_id

    def _cancel(self, step_id: str, reason: str) -> None:
        for victim in [step_id, *nx.descendants(self.plan.graph, step_id)]:
            state = self._states[victim]
            if state.status is StepStatus.PENDING:
                state.status, state.error = StepStatus.CANCELLED, reason
                self.observer(StepFinished(self._report(self.plan[victim])))

    def _settle_failures(self) -> None:
        """Cancel the pending dependents of steps that failed (and were not replaced since)."""
        unsettled, self._unsettled = self._unsettled, []
        for step_id in unsettled:
            if self._states[step_id].status is StepStatus.FAILED:
                self._cancel(step_id, self._because(step_id))

    def _because(self, cause: str) -> str:
        return f"dependency '{cause}' {self._states[cause].status.value}"

    def _blocker(self, state: _State) -> str | None:
        dead = (StepStatus.FAILED, StepStatus.CANCELLED)
        return next((need for need in state.waiting if self._states[need].status in dead), None)

    async def _shutdown(self, feeder: asyncio.Task[None] | None) -> None:
        tasks = [task for task in (*self._tasks.values(), feeder, self._refining) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        reason = self._stopped or self._failure or "the run stopped"
        for state in self._states.values():
            if state.status not in _SETTLED:
                state.status, state.error, state.ended = StepStatus.CANCELLED, reason, state.started and self._now()
        self._tasks.clear()
        self._refining = None

    def _report(self, step: Step) -> StepReport:
        state = self._states[step.id]
        return StepReport(
            id=step.id,
            kind=step.kind,
            tool=step.tool,
            depends_on=step.needs(),
            status=state.status,
            result=state.result,
            error=state.error,
            started_s=state.started,
            ended_s=state.ended,
            attempts=state.attempts,
            tokens=state.tokens,
            reused=state.reused,
        )

    def _now(self) -> float:
        return round(time.perf_counter() - self._t0, 6)


def _message(error: Exception) -> str:
    return str(error) if isinstance(error, OrchestrateError) else f"{type(error).__name__}: {error}"


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
