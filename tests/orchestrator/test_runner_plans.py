"""`Orchestrator.run(task, plan=...)` on the simulator: given and planned DAGs, refinement, budgets, cancelling."""

import asyncio
import json
from pathlib import Path

import pytest

from orchestrator.backends.openai import OpenAIBackend, OpenAIConfig
from orchestrator.backends.sglang import SGLangBackend, SGLangConfig
from orchestrator.backends.sim import SimBackend, SimConfig
from orchestrator.backends.sim.generation import default_scripts
from orchestrator.backends.sim.script import FallbackScript, ScriptOutput, ScriptRequest
from orchestrator.budget import Budget
from orchestrator.engine import Policy
from orchestrator.errors import PlanError, RunError
from orchestrator.events import Event, StepFinished
from orchestrator.plan import Plan
from orchestrator.plan_prompts import PLANNER_MARKER
from orchestrator.planner import PlannerConfig
from orchestrator.refiner import RefineConfig
from orchestrator.result import RunResult
from orchestrator.runner import Orchestrator, resolve_plan
from orchestrator.simserver import SimServer
from orchestrator.spec import Strategy, parse_task

TWO_SUMS = "What is 6 * 7? And what is 40 + 2?"


def sim(**config: object) -> SimBackend:
    return SimBackend(SimConfig(**{"time_scale": 0, "answers": {"42": 1.0}, **config}))  # type: ignore[arg-type]


async def run(
    backend: SimBackend, task: str = TWO_SUMS, plan: Plan | str | None = "auto", **options: object
) -> RunResult:
    async with asyncio.timeout(20), Orchestrator(backend, Strategy(threads=3), **options) as orchestrator:  # type: ignore[arg-type]
        return await orchestrator.run(task, plan=plan)  # type: ignore[arg-type]


def statuses(result: RunResult) -> dict[str, str]:
    return {step.id: step.status.value for step in result.steps}


async def test_the_simulators_planner_makes_a_plan_that_runs_to_an_answer() -> None:
    backend = sim()
    result = await run(backend)
    assert statuses(result) == {"calc1": "done", "calc2": "done", "q1": "done", "q2": "done", "answer": "done"}
    assert [step.result for step in result.steps[:2]] == ["42", "42"] and result.answer == "42"
    assert result.critical_path_steps[-1] == "answer" and result.stopped is None
    assert all(step.started_s is not None and step.ended_s is not None for step in result.steps)
    assert result.usage.requests > 1 and backend.stats()["running"] == 0


class SlowPlan:
    """A planner answer whose first step is short and whose second is long, so the answer takes a while."""

    name = "slow-plan"

    def matches(self, prompt: str) -> bool:
        return prompt.startswith(PLANNER_MARKER)

    def write(self, request: ScriptRequest) -> ScriptOutput:
        first = {"id": "calc", "tool": "calculator", "args": {"expression": "6*7"}}
        second = {"id": "explain", "prompt": "Explain ${calc} " + "in great detail " * 100}
        return ScriptOutput(json.dumps({"steps": [first, second]}))


async def test_a_planned_step_runs_while_the_planner_is_still_writing() -> None:
    backend = SimBackend(SimConfig(time_scale=0), scripts=[SlowPlan(), *default_scripts()])
    seen: dict[str, tuple[int, int]] = {}

    def observer(event: Event) -> None:
        if isinstance(event, StepFinished):
            stats = backend.stats()
            seen[event.report.id] = (stats["running"], stats["finished"])

    result = await run(backend, "task", observer=observer)
    assert statuses(result) == {"calc": "done", "explain": "done"}
    assert seen["calc"] == (1, 0), "the planner's request was still running, nothing had finished"


async def test_a_planner_that_never_writes_a_valid_plan_fails_the_run_clearly() -> None:
    class Nonsense(FallbackScript):
        def matches(self, prompt: str) -> bool:
            return prompt.startswith(PLANNER_MARKER)

    backend = SimBackend(SimConfig(time_scale=0), scripts=[Nonsense(), FallbackScript()])
    with pytest.raises(RunError, match=r"^planning failed: no valid plan after 2 attempts: the plan is not valid JSON"):
        await run(backend, planner=PlannerConfig(max_repairs=1))
    assert backend.stats()["running"] == 0


async def test_a_given_plan_with_several_ends_gets_a_final_step_that_answers_from_them() -> None:
    plan = Plan.of([{"id": "a", "tool": "calculator", "args": {"expression": "6*7"}}, {"id": "b", "prompt": "guess"}])
    result = await run(sim(), "the task", plan)
    assert [step.id for step in result.steps] == ["a", "b", "answer"]
    assert result.steps[-1].depends_on == ["a", "b"] and result.answer == "42"


async def test_a_plan_ending_in_a_tool_step_answers_with_its_result() -> None:
    plan = Plan.of([{"id": "a", "tool": "calculator", "args": {"expression": "6*7"}}])
    result = await run(sim(), "t", plan)
    assert result.answer == "42" and result.threads == []


async def test_a_failed_step_in_a_plan_is_a_partial_result_not_an_exception() -> None:
    plan = Plan.of(
        [{"id": "bad", "tool": "calculator", "args": {"expression": "1/0"}}, {"id": "use", "prompt": "${bad}"}]
    )
    result = await run(sim(), "t", plan, policy=Policy(retries=0))
    assert statuses(result) == {"bad": "failed", "use": "cancelled"} and result.answer is None
    assert "division by zero" in (result.steps[0].error or "")


async def test_the_simulators_refiner_replaces_a_failed_tool_step_so_its_dependents_run() -> None:
    plan = Plan.of(
        [{"id": "bad", "tool": "calculator", "args": {"expression": "1/0"}}, {"id": "use", "prompt": "${bad}"}]
    )
    result = await run(sim(), "t", plan, policy=Policy(retries=0), refine=RefineConfig(every=100))
    assert statuses(result) == {"bad": "done", "use": "done"} and result.answer == "42"
    assert result.steps[0].kind == "reasoning" and result.notes == ["refiner: replace step 'bad'"]


async def test_a_plan_with_an_unknown_tool_is_refused_before_anything_runs() -> None:
    backend = sim()
    with pytest.raises(PlanError, match="step 'a' uses unknown tool 'search'"):
        await run(backend, "t", [{"id": "a", "tool": "search", "args": {}}])  # type: ignore[arg-type]
    assert backend.stats()["submitted"] == 0


async def test_a_token_budget_stops_the_run_cleanly_with_a_partial_result() -> None:
    backend = sim()
    result = await run(backend, budget=Budget(tokens=150))
    assert result.stopped is not None and result.stopped.startswith("the token budget was reached (")
    assert {"done", "cancelled"} >= set(statuses(result).values()) and "cancelled" in statuses(result).values()
    assert all(step.error == result.stopped for step in result.steps if step.status == "cancelled")
    assert backend.stats()["running"] == 0 and backend.stats()["waiting"] == 0


async def test_a_wall_time_budget_stops_a_slow_run() -> None:
    backend = sim(time_scale=1.0)
    result = await run(backend, "t", None, budget=Budget(wall_s=0.2))
    assert result.stopped == "the wall-time budget of 0.2 s was reached" and statuses(result) == {"answer": "cancelled"}
    assert backend.stats()["running"] == 0 and backend.stats()["aborted"] > 0


async def test_cancelling_a_planned_run_aborts_its_requests_on_the_backend() -> None:
    backend = sim(time_scale=1.0)
    task = asyncio.create_task(run(backend))
    await asyncio.sleep(0.3)
    assert backend.stats()["running"] > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert backend.stats()["running"] == 0 and backend.stats()["aborted"] > 0


async def test_resolve_plan_gives_the_plan_without_running_it(tmp_path: Path) -> None:
    given = parse_task({"task": "t", "backend": {"time_scale": 0}, "plan": [{"id": "a", "prompt": "x"}]})
    assert (await resolve_plan(given, tmp_path)).ids == ["a"]
    auto = parse_task({"task": TWO_SUMS, "backend": {"time_scale": 0}, "plan": "auto"})
    assert (await resolve_plan(auto, tmp_path)).ids == ["calc1", "calc2", "q1", "q2", "answer"]
    single = parse_task({"task": "t", "backend": {"time_scale": 0}})
    assert (await resolve_plan(single, tmp_path)).dump() == [{"id": "answer", "prompt": "t"}]


@pytest.mark.parametrize("api", ["sglang", "chat", "completions"])
async def test_the_planner_runs_over_http_on_sim_server(api: str) -> None:
    async with SimServer(SimConfig(time_scale=0, answers={"42": 1.0})) as server:
        if api == "sglang":
            backend: SGLangBackend | OpenAIBackend = SGLangBackend(SGLangConfig(url=server.url))
        else:
            backend = OpenAIBackend(OpenAIConfig(base_url=f"{server.url}/v1", model="sim-model", api=api))
        async with Orchestrator(backend, Strategy(threads=2, max_tokens=1024)) as orchestrator:
            result = await orchestrator.run(TWO_SUMS, plan="auto")
    assert [step.id for step in result.steps] == ["calc1", "calc2", "q1", "q2", "answer"]
    assert result.steps[0].result == "42" and result.answer == "42"
