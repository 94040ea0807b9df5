"""What runs one step: a tool through the registry with `${id}` filled in, or a reasoning step as parallel threads."""

import json
import time
from collections.abc import AsyncIterator

import pytest

from orchestrator.backends.base import CompletionRequest, StreamEvent
from orchestrator.backends.sim import SimBackend, SimConfig
from orchestrator.errors import BackendError, RunError
from orchestrator.plan import Step
from orchestrator.result import UsageReport
from orchestrator.runner import Orchestrator
from orchestrator.spec import Strategy
from orchestrator.steps import FINAL_STEP, StepRunner, final_step
from tools.base import ToolError, ToolRegistry
from tools.calculator import Calculator
from tools.join import Join
from tools.kb import KnowledgeBase


def runner(strategy: Strategy | None = None, **sim: object) -> StepRunner:
    backend = SimBackend(SimConfig(time_scale=0, **sim))  # type: ignore[arg-type]
    orchestrator = Orchestrator(backend, tools=ToolRegistry([Calculator(), Join()]))
    usage = UsageReport()
    return StepRunner(
        orchestrator.tools,
        strategy or Strategy(threads=3),
        lambda each, step, reused: orchestrator.sampler(each, step, reused, usage=usage),
    )


async def test_a_tool_step_gets_the_results_it_refers_to() -> None:
    output = await runner()(Step(id="c", tool="calculator", args={"expression": "${a} * ${b}"}), {"a": "6", "b": "7"})
    assert output.result == "42" and output.tokens == 0


async def test_substitution_reaches_lists_of_arguments() -> None:
    step = Step(id="j", tool="join", args={"parts": ["${a}", "and", "${b}"], "separator": " "})
    assert (await runner()(step, {"a": "x", "b": "y"})).result == "x and y"


async def test_a_list_of_args_calls_the_tool_once_for_each_at_the_same_time() -> None:
    tools = ToolRegistry([KnowledgeBase({"a": "x", "b": "y", "c": 3}, latency_s=0.1)])
    step_runner = StepRunner(tools, Strategy(), lambda each, _: pytest.fail("no reasoning here"))
    step = Step(id="k", tool="kb", args=[{"key": "a"}, {"key": "${which}"}, {"key": "c"}])
    started = time.perf_counter()
    output = await step_runner(step, {"which": "b"})
    assert time.perf_counter() - started < 0.25
    assert json.loads(output.result) == ["x", "y", "3"]


async def test_one_failing_call_of_a_list_fails_the_step_with_its_error() -> None:
    step = Step(id="c", tool="calculator", args=[{"expression": "1 + 1"}, {"expression": "1 / 0"}])
    with pytest.raises(ToolError, match="division by zero"):
        await runner()(step, {})


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (Step(id="s", tool="search", args={"query": "q"}), "unknown tool 'search' (known: calculator, join)"),
        (Step(id="s", tool="calculator", args={}), "calculator: expression: Field required"),
    ],
)
async def test_a_bad_tool_call_raises_one_tool_error(step: Step, message: str) -> None:
    with pytest.raises(ToolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await runner()(step, {})


async def test_a_reasoning_step_samples_threads_and_answers_with_the_vote() -> None:
    step_runner = runner(Strategy(threads=3, max_tokens=4096), answers={"42": 1.0})
    output = await step_runner(Step(id="r", prompt="What is ${a} times seven?"), {"a": "6"})
    assert output.result == "42" and output.tokens == sum(t.tokens for t in step_runner.threads) > 0
    assert len(step_runner.threads) == 3 and {t.step for t in step_runner.threads} == {"r"}
    assert step_runner.outcomes["r"].vote.answer == "42"


async def test_a_steps_own_thread_count_overrides_the_strategy() -> None:
    step_runner = runner(Strategy(threads=3, max_tokens=4096), answers={"1": 1.0})
    await step_runner(Step(id="r", prompt="q", threads=5), {})
    assert len(step_runner.threads) == 5


async def test_without_an_extractable_answer_the_result_is_the_threads_text() -> None:
    step_runner = runner(Strategy(threads=2, max_tokens=16, prompt="{task}"))
    output = await step_runner(Step(id="r", prompt="Say something."), {})
    assert output.result and output.result == step_runner.threads[0].text.strip()


class ThreadsFail(SimBackend):
    """The simulator, but every thread (not the prefix warm-up) fails as its stream begins."""

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        if request.params.max_tokens > 0:
            raise BackendError("connection reset by peer")
        async for event in super().stream(request):
            yield event


async def test_a_reasoning_step_whose_threads_all_fail_raises_run_error() -> None:
    orchestrator, usage = Orchestrator(ThreadsFail(SimConfig(time_scale=0))), UsageReport()
    failing = StepRunner(
        orchestrator.tools, Strategy(threads=2), lambda each, _, __: orchestrator.sampler(each, usage=usage)
    )
    with pytest.raises(RunError, match="^all 2 threads failed; first error: connection reset by peer$"):
        await failing(Step(id="r", prompt="q"), {})


def test_the_final_step_depends_on_every_sink_by_reference() -> None:
    step = final_step("the task", ["a", "b"], lambda step_id: False)
    assert step.id == FINAL_STEP and step.needs() == ["a", "b"]
    assert step.prompt is not None and step.prompt.startswith("the task\n") and "- a: ${a}\n- b: ${b}" in step.prompt


def test_the_final_step_takes_a_free_id() -> None:
    assert final_step("t", ["answer"], {"answer", "answer_"}.__contains__).id == "answer__"
