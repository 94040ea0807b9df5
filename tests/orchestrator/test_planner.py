"""The LLM planner: an incremental JSON step parser, a streamed and validated plan, and its bounded repair loop."""

import json
from typing import Any

import pytest

from orchestrator.backends.base import SamplingParams
from orchestrator.backends.sim import SimBackend, SimConfig
from orchestrator.backends.sim.script import FallbackScript, ScriptOutput, ScriptRequest
from orchestrator.errors import PlanError
from orchestrator.plan import Step
from orchestrator.plan_prompts import PLANNER_MARKER, REJECTED_HEADER, section
from orchestrator.planner import Planner, PlannerConfig, StepStream
from orchestrator.result import UsageReport
from tools.base import ToolRegistry
from tools.calculator import Calculator

PLAN = '{"steps": [{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y ${a}"}, {"id": "c", "prompt": "z"}]}'


class Answers:
    """Plays the planner: answers its prompts with the given texts in turn (the last one again and again)."""

    name = "test-planner"

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.prompts: list[str] = []
        self.params: list[SamplingParams] = []

    def matches(self, prompt: str) -> bool:
        return prompt.startswith(PLANNER_MARKER)

    def write(self, request: ScriptRequest) -> ScriptOutput:
        self.prompts.append(request.prompt)
        self.params.append(request.params)
        return ScriptOutput(self.texts.pop(0) if len(self.texts) > 1 else self.texts[0])


def plan_text(*steps: dict[str, Any]) -> str:
    return json.dumps({"steps": list(steps)})


def planner(answers: Answers, **config: Any) -> Planner:
    backend = SimBackend(SimConfig(time_scale=0), scripts=[answers, FallbackScript()])
    return Planner(backend, ToolRegistry([Calculator()]).schemas(), PlannerConfig(**config), UsageReport())


async def written(the_planner: Planner, task: str = "the task") -> list[Step]:
    return [step async for step in the_planner.steps(task)]


# --- StepStream -----------------------------------------------------------------------------------


def test_a_step_is_emitted_once_the_next_one_begins_and_the_last_on_close() -> None:
    stream, emitted = StepStream(), []
    for start in range(0, len(PLAN), 5):
        emitted.append([step["id"] for step in stream.feed(PLAN[start : start + 5])])
    assert [ids for ids in emitted if ids] == [["a"], ["b"]]
    assert stream.close() == [{"id": "c", "prompt": "z"}]


def test_a_half_written_step_is_not_emitted() -> None:
    stream = StepStream()
    assert stream.feed('{"steps": [{"id": "a", "prompt": "x, y}') == []
    assert stream.feed('"}, {"id": "b"') == [{"id": "a", "prompt": "x, y}"}]


def test_every_step_is_emitted_exactly_once() -> None:
    stream = StepStream()
    fed = [step for char in PLAN for step in stream.feed(char)]
    assert [step["id"] for step in fed + stream.close()] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "the plan is not valid JSON"),
        ('{"steps": [{"id": "a"', "the plan is not valid JSON"),
        ("[1, 2]", 'the plan must be a JSON object {"steps": [...]}'),
        ('{"steps": 3}', 'the plan must be a JSON object {"steps": [...]}'),
    ],
)
def test_an_answer_that_is_not_a_plan_fails_on_close(text: str, message: str) -> None:
    stream = StepStream()
    stream.feed(text)
    with pytest.raises(PlanError, match=message.replace("[", r"\[").replace("{", r"\{")):
        stream.close()


# --- Planner --------------------------------------------------------------------------------------


async def test_a_valid_plan_is_written_step_by_step() -> None:
    answers = Answers(PLAN)
    the_planner = planner(answers)
    steps = await written(the_planner)
    assert [step.id for step in steps] == ["a", "b", "c"] and steps[1].needs() == ["a"]
    assert the_planner.attempts == 1 and the_planner.usage.requests == 1
    assert "### Task\nthe task" in answers.prompts[0] and "- calculator: " in answers.prompts[0]


async def test_the_plan_schema_reaches_the_backend_as_json_schema() -> None:
    answers = Answers(PLAN)
    await written(planner(answers, max_tokens=512, temperature=0.3))
    params = answers.params[0]
    schema = json.loads(params.json_schema or "null")
    assert schema["required"] == ["steps"]
    assert schema["properties"]["steps"]["items"]["properties"]["tool"] == {"enum": ["calculator"]}
    assert (params.max_tokens, params.temperature) == (512, 0.3)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (
            plan_text({"id": "a", "tool": "search", "args": {}}),
            "step 'a' uses unknown tool 'search' (known: calculator)",
        ),
        (plan_text({"id": "a", "prompt": "use ${zz}"}), "step 'a' depends on unknown step 'zz'"),
        ('{"steps": [{"id": "a", "prompt": "x"', "the plan is not valid JSON"),
        ('{"steps": []}', "the plan has no steps"),
        (plan_text({"id": "a"}), "step 'a': a step needs exactly one of 'tool'"),
    ],
)
async def test_an_invalid_plan_goes_back_with_the_error_text_and_is_repaired(bad: str, error: str) -> None:
    answers = Answers(bad, PLAN)
    the_planner = planner(answers)
    steps = await written(the_planner)
    assert [step.id for step in steps] == ["a", "b", "c"] and the_planner.attempts == 2
    assert error in section(answers.prompts[1], REJECTED_HEADER)
    assert answers.prompts[1].startswith(PLANNER_MARKER) and "### Task\nthe task" in answers.prompts[1]


@pytest.mark.parametrize(
    ("second", "error"),
    [
        ({"id": "b", "prompt": "y ${nope}"}, "step 'b' depends on unknown step 'nope'"),
        ({"id": "a", "prompt": "again"}, "step 'a' is defined twice"),
    ],
)
async def test_a_repair_keeps_the_accepted_steps_and_asks_only_for_the_missing_ones(
    second: dict[str, str], error: str
) -> None:
    first = plan_text({"id": "a", "prompt": "x"}, second)
    answers = Answers(first, plan_text({"id": "b", "prompt": "y ${a}"}))
    steps = await written(planner(answers))
    assert [step.id for step in steps] == ["a", "b"]
    assert error in section(answers.prompts[1], REJECTED_HEADER)
    assert '{"id": "a", "prompt": "x"}' in section(answers.prompts[1], "### Accepted steps")
    assert "Write only the steps still missing" in answers.prompts[1]


async def test_after_max_repairs_planning_fails_with_the_last_error() -> None:
    answers = Answers(plan_text({"id": "a", "tool": "search", "args": {}}))
    the_planner = planner(answers, max_repairs=2)
    with pytest.raises(PlanError, match=r"^no valid plan after 3 attempts: step 'a' uses unknown tool 'search'"):
        await written(the_planner)
    assert len(answers.prompts) == 3


async def test_no_repairs_means_one_attempt() -> None:
    with pytest.raises(PlanError, match="^no valid plan after 1 attempts: the plan is not valid JSON"):
        await written(planner(Answers("nonsense"), max_repairs=0))


async def test_a_plan_cut_off_at_max_tokens_is_refused() -> None:
    long_plan = plan_text(*({"id": f"s{i}", "prompt": "word " * 20} for i in range(20)))
    with pytest.raises(PlanError, match="the plan was cut off at planner.max_tokens"):
        await written(planner(Answers(long_plan), max_tokens=64, max_repairs=0))


async def test_a_plan_longer_than_max_steps_is_refused() -> None:
    many = plan_text(*({"id": f"s{i}", "prompt": "x"} for i in range(5)))
    with pytest.raises(PlanError, match=r"the plan has more than 3 steps \(planner.max_steps\)"):
        await written(planner(Answers(many), max_steps=3, max_repairs=0))
