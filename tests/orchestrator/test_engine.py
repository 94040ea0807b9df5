"""The engine on hand-built DAGs with a fake executor: dispatch order and timing, failures, refinement, budgets."""

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest

from orchestrator.budget import Budget
from orchestrator.engine import (
    AddStep,
    CancelStep,
    Edit,
    Engine,
    EngineOutcome,
    Policy,
    ReplaceStep,
    StepOutput,
)
from orchestrator.errors import RunError, UsageError
from orchestrator.events import Event, StepFinished, StepStarted
from orchestrator.plan import Plan, Step
from orchestrator.result import StepReport, StepStatus
from tools.base import ToolError

NO_RETRY = Policy(retries=0)


@pytest.fixture(autouse=True)
def no_gc_pauses() -> Iterator[None]:
    """A full garbage collection of this process (openai, pydantic, rich loaded) takes ~0.1 s: keep it out of timings."""
    gc.freeze()
    yield
    gc.unfreeze()


class Fake:
    """Sleeps `durations[id]` seconds, then raises `errors[id]` (a list: one error per call, then succeeds) or echoes."""

    def __init__(self, durations: Mapping[str, float] | None = None, errors: Mapping[str, Any] | None = None) -> None:
        self.durations, self.errors = dict(durations or {}), dict(errors or {})
        self.calls: list[str] = []
        self.cancelled: list[str] = []

    async def __call__(self, step: Step, inputs: Mapping[str, str]) -> StepOutput:
        self.calls.append(step.id)
        try:
            await asyncio.sleep(self.durations.get(step.id, 0.0))
        except asyncio.CancelledError:
            self.cancelled.append(step.id)
            raise
        error = self.errors.get(step.id)
        if isinstance(error, list) and error:
            raise error.pop(0)
        if isinstance(error, BaseException):
            raise error
        return StepOutput(step.id + "(" + ",".join(f"{key}={value}" for key, value in sorted(inputs.items())) + ")", 1)


class Scripted:
    """A refiner that answers its rounds in order (then no edits) and keeps what it was shown."""

    def __init__(self, *rounds: list[Edit], every: int = 1_000, max_rounds: int = 8) -> None:
        self.rounds, self.every, self.max_rounds = list(rounds), every, max_rounds
        self.seen: list[dict[str, StepStatus]] = []

    async def refine(self, plan: Plan, reports: Mapping[str, StepReport]) -> list[Edit]:
        self.seen.append({step_id: report.status for step_id, report in reports.items()})
        return self.rounds.pop(0) if self.rounds else []


def plan(*steps: dict[str, Any]) -> Plan:
    return Plan.of(steps)


def step(step_id: str, *needs: str) -> dict[str, Any]:
    return {"id": step_id, "prompt": f"step {step_id}", "depends_on": list(needs)}


def statuses(outcome: EngineOutcome) -> dict[str, str]:
    return {report.id: report.status.value for report in outcome.reports}


async def run(source: Plan | AsyncIterator[Step], executor: Fake | None = None, **options: Any) -> EngineOutcome:
    async with asyncio.timeout(10):
        return await Engine(executor or Fake(), **{"policy": NO_RETRY, **options}).run(source)


# --- dispatch order and timing --------------------------------------------------------------------


async def test_a_step_gets_the_results_of_what_it_needs() -> None:
    outcome = await run(plan(step("a"), step("b"), step("c", "a", "b")))
    assert outcome.report("c").result == "c(a=a(),b=b())"
    assert outcome.final == "c" and outcome.stopped is None and outcome.notes == []


async def test_a_chain_runs_in_order() -> None:
    fake = Fake()
    await run(plan(step("c", "b"), step("b", "a"), step("a")), fake)
    assert fake.calls == ["a", "b", "c"]


async def test_a_fast_branch_never_waits_for_a_slow_sibling() -> None:
    fake = Fake({"slow": 0.4, "fast": 0.01, "after_fast": 0.01})
    outcome = await run(
        plan(step("slow"), step("fast"), step("after_fast", "fast"), step("join", "slow", "after_fast")), fake
    )
    after_fast, slow = outcome.report("after_fast"), outcome.report("slow")
    assert after_fast.started_s is not None and slow.ended_s is not None and after_fast.ended_s is not None
    assert after_fast.started_s < 0.15 and after_fast.ended_s < slow.ended_s - 0.2


async def test_a_join_starts_right_after_its_last_dependency() -> None:
    outcome = await run(plan(step("a"), step("b"), step("join", "a", "b")), Fake({"a": 0.05, "b": 0.2}))
    join, b = outcome.report("join"), outcome.report("b")
    assert join.started_s is not None and b.ended_s is not None
    assert 0 <= join.started_s - b.ended_s < 0.05


async def test_independent_steps_overlap_so_makespan_is_the_critical_path_not_the_sum() -> None:
    durations = {"a": 0.1, "b": 0.25, "c": 0.1, "d": 0.1, "e": 0.05}
    the_plan = plan(step("a"), step("b", "a"), step("c", "a"), step("d", "a"), step("e", "b", "c", "d"))
    _, critical = the_plan.critical_path(lambda s: durations[s.id])
    started = time.perf_counter()
    await run(the_plan, Fake(durations))
    makespan = time.perf_counter() - started
    assert critical == pytest.approx(0.4)
    assert critical <= makespan < critical + 0.1 < sum(durations.values())


async def test_steps_streamed_in_run_as_they_arrive() -> None:
    fake, arrived_second = Fake(), asyncio.Event()

    async def source() -> AsyncIterator[Step]:
        yield Step(id="a", prompt="first")
        await asyncio.sleep(0.05)
        assert fake.calls == ["a"], "the first step runs before the second is written"
        arrived_second.set()
        yield Step(id="b", prompt="then ${a}")

    outcome = await run(source(), fake)
    assert arrived_second.is_set() and statuses(outcome) == {"a": "done", "b": "done"}


async def test_finalize_adds_a_step_after_the_stream_closes() -> None:
    def finalize(the_plan: Plan) -> Step | None:
        return Step(id="final", prompt="all", depends_on=the_plan.sinks())

    outcome = await run(plan(step("a"), step("b")), finalize=finalize)
    assert outcome.final == "final" and outcome.report("final").result == "final(a=a(),b=b())"


async def test_the_observer_sees_each_start_and_finish() -> None:
    events: list[Event] = []
    await run(plan(step("a"), step("b", "a")), observer=events.append)
    seen = [(type(e).__name__, e.step_id if isinstance(e, StepStarted) else e.report.id) for e in events]  # type: ignore[union-attr]
    assert seen == [("StepStarted", "a"), ("StepFinished", "a"), ("StepStarted", "b"), ("StepFinished", "b")]
    assert all(isinstance(e, StepStarted | StepFinished) for e in events)


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (ValueError("bad value"), "ValueError: bad value"),
        (KeyError("k"), "KeyError: 'k'"),
        (ZeroDivisionError("division by zero"), "ZeroDivisionError: division by zero"),
        (ToolError("calculator: no such operator"), "calculator: no such operator"),
        (RunError("all 4 threads failed"), "all 4 threads failed"),
        (asyncio.CancelledError("raised by the tool itself"), "CancelledError: raised by the tool itself"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
async def test_a_raising_step_fails_with_its_message_and_its_dependents_are_cancelled(
    error: BaseException, message: str
) -> None:
    outcome = await run(plan(step("a"), step("b", "a"), step("c", "b"), step("d")), Fake(errors={"a": error}))
    assert statuses(outcome) == {"a": "failed", "b": "cancelled", "c": "cancelled", "d": "done"}
    assert outcome.report("a").error == message
    assert outcome.report("b").error == outcome.report("c").error == "dependency 'a' failed"
    assert outcome.report("b").started_s is None and outcome.stopped is None


async def test_a_step_that_fails_once_is_retried_and_done_on_its_second_attempt() -> None:
    fake = Fake(errors={"a": [ConnectionError("flaky")]})
    outcome = await run(plan(step("a"), step("b", "a")), fake, policy=Policy(retries=1, retry_delay_s=0))
    assert statuses(outcome) == {"a": "done", "b": "done"}
    assert outcome.report("a").attempts == 2 and fake.calls == ["a", "a", "b"]


async def test_retries_back_off_exponentially_then_give_up_with_the_last_error() -> None:
    fake = Fake(errors={"a": [ValueError("1"), ValueError("2"), ValueError("3")]})
    started = time.perf_counter()
    outcome = await run(plan(step("a")), fake, policy=Policy(retries=2, retry_delay_s=0.05))
    assert time.perf_counter() - started >= 0.05 + 0.1
    assert outcome.report("a").error == "ValueError: 3" and outcome.report("a").attempts == 3


async def test_a_step_over_its_timeout_fails_as_timed_out_and_is_not_left_running() -> None:
    fake = Fake({"slow": 5.0})
    the_plan = Plan.of([{"id": "slow", "prompt": "x", "timeout_s": 0.05}, step("next", "slow")])
    started = time.perf_counter()
    outcome = await run(the_plan, fake)
    assert time.perf_counter() - started < 1
    assert outcome.report("slow").error == "timed out after 0.05 s" and fake.cancelled == ["slow"]
    assert statuses(outcome) == {"slow": "failed", "next": "cancelled"}


async def test_the_policy_timeout_applies_when_a_step_sets_none() -> None:
    outcome = await run(plan(step("slow")), Fake({"slow": 5.0}), policy=Policy(retries=0, step_timeout_s=0.05))
    assert outcome.report("slow").error == "timed out after 0.05 s"


async def test_a_configuration_error_is_raised_not_reported_as_a_failed_step() -> None:
    fake = Fake({"other": 5.0}, errors={"a": UsageError("strategy.stop: needs log-probabilities")})
    with pytest.raises(UsageError, match="needs log-probabilities"):
        await run(plan(step("a"), step("other")), fake)
    assert fake.cancelled == ["other"]


async def test_a_broken_plan_stream_fails_the_run_as_planning_failed() -> None:
    async def source() -> AsyncIterator[Step]:
        yield Step(id="a", prompt="x")
        raise ValueError("stream broke")

    with pytest.raises(RunError, match="^planning failed: ValueError: stream broke$"):
        await run(source())


async def test_a_streamed_step_with_an_unknown_reference_fails_the_run_as_planning_failed() -> None:
    async def source() -> AsyncIterator[Step]:
        yield Step(id="a", prompt="${nope}")

    with pytest.raises(RunError, match="^planning failed: step 'a' depends on unknown step 'nope'$"):
        await run(source())


async def test_a_streamed_step_after_a_failed_one_is_cancelled_on_arrival() -> None:
    async def source() -> AsyncIterator[Step]:
        yield Step(id="a", prompt="x")
        await asyncio.sleep(0.05)
        yield Step(id="b", prompt="${a}")

    outcome = await run(source(), Fake(errors={"a": ValueError("no")}))
    assert statuses(outcome) == {"a": "failed", "b": "cancelled"}


# --- refinement -----------------------------------------------------------------------------------


async def test_a_refiner_that_replaces_a_failed_step_lets_its_dependents_run() -> None:
    fix = ReplaceStep(Step(id="a", prompt="work it out without the tool"))
    refiner = Scripted([fix])
    the_plan = Plan.of([{"id": "a", "tool": "kb", "args": {"key": "x"}}, step("b", "a")])
    fake = Fake(errors={"a": [ValueError("kb down")]})
    outcome = await run(the_plan, fake, refiner=refiner)
    assert statuses(outcome) == {"a": "done", "b": "done"}
    assert outcome.plan["a"].kind == "reasoning" and outcome.report("b").result == "b(a=a())"
    assert refiner.seen[0] == {"a": StepStatus.FAILED, "b": StepStatus.PENDING}
    assert outcome.notes == ["refiner: replace step 'a'"]


@pytest.mark.parametrize(
    ("edit", "note"),
    [
        (AddStep(Step(id="x", prompt="${zz}")), "rejected add step 'x': step 'x' depends on unknown step 'zz'"),
        (AddStep(Step(id="b", prompt="again")), "rejected add step 'b': step 'b' is defined twice"),
        (
            ReplaceStep(Step(id="c", prompt="now after ${d}")),
            "rejected replace step 'c': replacing step 'c' would make a cycle",
        ),
        (
            ReplaceStep(Step(id="c", tool="python", args={})),
            "rejected replace step 'c': step 'c' uses unknown tool 'python' (known: kb)",
        ),
        (ReplaceStep(Step(id="a", prompt="x")), "rejected replace step 'a': step 'a' is not pending or failed"),
        (ReplaceStep(Step(id="b", prompt="x")), "rejected replace step 'b': step 'b' is not pending or failed"),
        (ReplaceStep(Step(id="zz", prompt="x")), "rejected replace step 'zz': step 'zz' is not pending or failed"),
        (CancelStep("a"), "rejected cancel step 'a': step 'a' is not pending"),
        (CancelStep("zz"), "rejected cancel step 'zz': step 'zz' is not pending"),
    ],
)
async def test_an_invalid_refiner_edit_is_rejected_and_noted_never_applied(edit: Edit, note: str) -> None:
    the_plan = Plan.of([{"id": "a", "tool": "kb", "args": {}}, step("b"), step("c", "a"), step("d", "c")], ["kb"])
    before = the_plan.dump()
    outcome = await run(the_plan, Fake({"a": 0.1}), refiner=Scripted([edit], every=1), tools=["kb"])
    assert outcome.notes == ["refiner: " + note]
    assert outcome.plan.dump() == before
    assert statuses(outcome) == {"a": "done", "b": "done", "c": "done", "d": "done"}


async def test_a_refiner_cancels_a_pending_step_and_what_depends_on_it() -> None:
    the_plan = plan(step("slow"), step("fast"), step("later", "slow"), step("last", "later"))
    outcome = await run(the_plan, Fake({"slow": 0.1}), refiner=Scripted([CancelStep("later")], every=1))
    assert statuses(outcome) == {"slow": "done", "fast": "done", "later": "cancelled", "last": "cancelled"}
    assert outcome.report("later").error == outcome.report("last").error == "cancelled by the refiner"
    assert outcome.notes == ["refiner: cancel step 'later'"]


async def test_a_refiner_adds_a_step_that_runs_after_existing_ones() -> None:
    edit = AddStep(Step(id="extra", prompt="check ${a}"))
    outcome = await run(plan(step("a"), step("b", "a")), refiner=Scripted([edit], every=1))
    assert statuses(outcome)["extra"] == "done" and outcome.report("extra").result == "extra(a=a())"


async def test_a_failing_refiner_is_noted_and_dependents_of_the_failure_are_cancelled() -> None:
    class Broken(Scripted):
        async def refine(self, plan: Plan, reports: Mapping[str, StepReport]) -> list[Edit]:
            raise RuntimeError("refiner bug")

    outcome = await run(plan(step("a"), step("b", "a")), Fake(errors={"a": ValueError("x")}), refiner=Broken())
    assert statuses(outcome) == {"a": "failed", "b": "cancelled"}
    assert outcome.notes == ["refiner: RuntimeError: refiner bug"]


async def test_the_refiner_runs_at_most_max_rounds() -> None:
    refiner = Scripted(every=1, max_rounds=2)
    await run(plan(step("a"), step("b", "a"), step("c", "b"), step("d", "c")), refiner=refiner)
    assert len(refiner.seen) == 2


# --- budgets and stopping -------------------------------------------------------------------------


async def test_a_step_budget_stops_the_run_before_the_next_step_starts() -> None:
    fake = Fake()
    outcome = await run(plan(step("a"), step("b", "a"), step("c", "b")), fake, budget=Budget(steps=2))
    assert outcome.stopped == "the step budget of 2 steps was reached"
    assert statuses(outcome) == {"a": "done", "b": "done", "c": "cancelled"}
    assert fake.calls == ["a", "b"] and outcome.report("c").error == outcome.stopped


async def test_a_wall_time_budget_stops_a_slow_step_and_cancels_what_is_pending() -> None:
    fake = Fake({"slow": 5.0})
    started = time.perf_counter()
    outcome = await run(plan(step("fast"), step("slow"), step("after", "slow")), fake, budget=Budget(wall_s=0.1))
    assert time.perf_counter() - started < 1
    assert outcome.stopped == "the wall-time budget of 0.1 s was reached"
    assert statuses(outcome) == {"fast": "done", "slow": "cancelled", "after": "cancelled"}
    assert fake.cancelled == ["slow"] and outcome.report("slow").ended_s is not None
    assert outcome.report("after").started_s is None


async def test_stop_from_outside_cancels_running_steps_with_the_reason() -> None:
    fake = Fake({"a": 5.0})
    engine = Engine(fake, policy=NO_RETRY)
    asyncio.get_running_loop().call_later(0.05, engine.stop, "enough")
    async with asyncio.timeout(2):
        outcome = await engine.run(plan(step("a"), step("b", "a")))
    assert outcome.stopped == "enough" and fake.cancelled == ["a"]
    assert {r.id: r.error for r in outcome.reports} == {"a": "enough", "b": "enough"}


async def test_cancelling_run_cancels_every_running_step() -> None:
    fake = Fake({"a": 5.0, "b": 5.0})
    task = asyncio.create_task(Engine(fake).run(plan(step("a"), step("b"), step("c", "a"))))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(fake.cancelled) == ["a", "b"]
