"""The simulator plays planner and refiner: scripted plans by rule, and stand-ins for failed tool steps."""

import json
from typing import Any

import pytest

from orchestrator.backends.base import CompletionRequest, SamplingParams, complete
from orchestrator.backends.sim import SimBackend, SimConfig
from orchestrator.backends.sim.planning import scripted_plan
from orchestrator.engine import ReplaceStep
from orchestrator.plan import Plan
from orchestrator.plan_prompts import planner_prompt, refiner_prompt, repair_prompt, state_line
from orchestrator.refiner import parse_edits
from tools.base import ToolRegistry
from tools.calculator import Calculator
from tools.join import Join

TOOLS = ToolRegistry([Calculator(), Join()]).schemas()
TWO_SUMS = "What is 17 * 23? And what is 2 ** 10?"


async def ask(prompt: str) -> str:
    backend = SimBackend(SimConfig(time_scale=0))
    completion = await complete(backend, CompletionRequest(prompt, SamplingParams(max_tokens=4096, temperature=0)))
    await backend.close()
    return completion.text


def test_a_calculator_step_per_expression_and_a_reasoning_step_per_question() -> None:
    steps = scripted_plan(TWO_SUMS, {"calculator", "join"})
    assert [step["id"] for step in steps] == ["calc1", "calc2", "q1", "q2", "answer"]
    assert [step["args"]["expression"] for step in steps[:2]] == ["17 * 23", "2 ** 10"]
    assert [step["prompt"] for step in steps[2:4]] == ["What is 17 * 23?", "And what is 2 ** 10?"]
    assert steps[-1]["depends_on"] == ["calc1", "calc2", "q1", "q2"] and "- calc1: ${calc1}" in steps[-1]["prompt"]


def test_without_the_calculator_only_reasoning_steps_are_planned() -> None:
    assert [step["id"] for step in scripted_plan(TWO_SUMS, {"join"})] == ["q1", "q2", "answer"]


@pytest.mark.parametrize(
    ("task", "ids"),
    [
        ("How many positive divisors does 360 have?", ["answer"]),
        ("Compute 12 * (3 + 4) please.", ["calc1", "answer"]),
        ("Who wrote Hamlet?\nWho wrote Faust?", ["q1", "q2", "answer"]),
    ],
)
def test_the_plan_follows_the_shape_of_the_task(task: str, ids: list[str]) -> None:
    steps = scripted_plan(task, {"calculator"})
    assert [step["id"] for step in steps] == ids
    assert Plan.of(steps, ["calculator"]).sinks() == ["answer"]


def test_a_single_question_is_one_step_that_asks_it() -> None:
    assert scripted_plan("How many positive divisors does 360 have?", set()) == [
        {"id": "answer", "prompt": "How many positive divisors does 360 have?"}
    ]


async def test_the_planner_prompt_gets_a_valid_plan_in_json() -> None:
    text = await ask(planner_prompt(TWO_SUMS, TOOLS))
    plan = Plan.of(json.loads(text)["steps"], ["calculator", "join"])
    assert plan.waves() == [["calc1", "calc2", "q1", "q2"], ["answer"]]


async def test_a_repair_prompt_gets_only_the_steps_not_yet_accepted() -> None:
    accepted = scripted_plan(TWO_SUMS, {"calculator"})[:2]
    text = await ask(repair_prompt(TWO_SUMS, TOOLS, accepted, "step 'q1' depends on unknown step 'x'"))
    assert [step["id"] for step in json.loads(text)["steps"]] == ["q1", "q2", "answer"]


def state(step: dict[str, Any], status: str, result: str | None = None, error: str | None = None) -> str:
    return state_line(step, status, result, error)


async def test_the_refiner_replaces_a_failed_tool_step_with_a_reasoning_step_of_the_same_id() -> None:
    calc = {"id": "calc1", "tool": "calculator", "args": {"expression": "1/0"}, "depends_on": ["a"]}
    lines = [
        state({"id": "a", "prompt": "first"}, "done", "1"),
        state(calc, "failed", error="calculator: division by zero"),
        state({"id": "answer", "prompt": "${calc1}"}, "pending"),
    ]
    edits = parse_edits(await ask(refiner_prompt("task", TOOLS, lines)))
    assert len(edits) == 1 and isinstance(edits[0], ReplaceStep)
    stand_in = edits[0].step
    assert stand_in.id == "calc1" and stand_in.kind == "reasoning" and stand_in.depends_on == ("a",)
    assert stand_in.prompt is not None and "calculator" in stand_in.prompt and '"1/0"' in stand_in.prompt


@pytest.mark.parametrize(
    "lines",
    [
        [state({"id": "a", "tool": "calculator", "args": {"expression": "1"}}, "done", "1")],
        [state({"id": "r", "prompt": "think"}, "failed", error="all 8 threads failed")],
    ],
    ids=["nothing failed", "a failed reasoning step"],
)
async def test_the_refiner_leaves_the_plan_alone_otherwise(lines: list[str]) -> None:
    assert parse_edits(await ask(refiner_prompt("task", TOOLS, lines))) == []
