"""The plan: steps, validation with one-line errors, growth while running, waves and the critical path."""

from typing import Any

import pytest

from orchestrator import plan as plan_module
from orchestrator.errors import PlanError
from orchestrator.plan import Plan, Step, parse_step, substitute

TOOLS = ["calculator", "kb"]


def diamond() -> Plan:
    return Plan.of(
        [
            {"id": "a", "tool": "kb", "args": {"key": "x"}},
            {"id": "b", "prompt": "double ${a}"},
            {"id": "c", "tool": "calculator", "args": {"expression": "${a} + 1"}},
            {"id": "d", "prompt": "combine", "depends_on": ["b", "c"]},
        ],
        TOOLS,
    )


def plan_error(steps: list[Any], tools: list[str] | None = TOOLS) -> str:
    with pytest.raises(PlanError) as caught:
        Plan.of(steps, tools)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_reference_is_a_dependency_as_depends_on_is() -> None:
    step = Step(id="s", prompt="use ${a} and ${b}, then ${a} again", depends_on=["c"])
    assert step.references() == ["a", "b"]
    assert step.needs() == ["c", "a", "b"]
    assert Step(id="t", tool="kb", args={"key": "${x}", "more": [{"k": "${y}"}]}).needs() == ["x", "y"]


def test_a_single_depends_on_string_is_one_dependency() -> None:
    assert Step(id="s", prompt="p", depends_on="a").depends_on == ("a",)


def test_steps_are_tool_or_reasoning() -> None:
    assert Step(id="t", tool="kb", args={"key": "k"}).kind == "tool"
    assert Step(id="r", prompt="think").kind == "reasoning"


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}], "step 'a' is defined twice"),
        ([{"id": "a", "prompt": "x ${b}"}], "step 'a' depends on unknown step 'b'"),
        ([{"id": "a", "prompt": "x", "depends_on": ["nope"]}], "step 'a' depends on unknown step 'nope'"),
        ([{"id": "a", "prompt": "x", "depends_on": ["a"]}], "step 'a' depends on itself"),
        ([{"id": "a", "prompt": "x ${a}"}], "step 'a' depends on itself"),
        ([{"id": "a", "tool": "search", "args": {}}], "step 'a' uses unknown tool 'search' (known: calculator, kb)"),
        ([{"id": "a", "tool": "kb", "prompt": "x"}], "step 'a': a step needs exactly one of 'tool'"),
        ([{"id": "a"}], "step 'a': a step needs exactly one of 'tool'"),
        ([{"id": "a", "prompt": "x", "args": {"k": 1}}], "step 'a': 'args' belong to a tool step"),
        ([{"id": "a b", "prompt": "x"}], "step 'a b': id: String should match pattern"),
        (
            [{"id": "a", "prompt": "x", "extra": 1}],
            "step 'a': extra: unknown key (allowed: id, tool, args, prompt, depends_on, threads, timeout_s)",
        ),
        ([{"id": "a", "prompt": "x", "threads": 0}], "step 'a': threads: Input should be greater than or equal to 1"),
        ([{"prompt": "x"}], "step 1: id: Field required"),
        (["just text"], "step 1: Input should be a valid dictionary"),
    ],
)
def test_each_bad_plan_gets_its_own_one_line_error(steps: list[Any], expected: str) -> None:
    assert expected in plan_error(steps)


def test_a_cycle_is_named_step_by_step() -> None:
    message = plan_error([{"id": "a", "prompt": "${c}"}, {"id": "b", "prompt": "${a}"}, {"id": "c", "prompt": "${b}"}])
    assert message.startswith("the plan has a cycle: ")
    names = message.removeprefix("the plan has a cycle: ").split(" -> ")
    assert names[0] == names[-1] and sorted(names[:-1]) == ["a", "b", "c"]


def test_without_a_tool_list_any_tool_name_is_accepted() -> None:
    assert len(Plan.of([{"id": "a", "tool": "anything", "args": {}}])) == 1


def test_a_plan_over_the_step_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_module, "MAX_PLAN_STEPS", 3)
    assert plan_error([{"id": f"s{i}", "prompt": "x"} for i in range(4)]) == "the plan has more than 3 steps"


def test_dependencies_may_be_written_after_their_dependents() -> None:
    plan = Plan.of([{"id": "b", "prompt": "${a}"}, {"id": "a", "prompt": "first"}])
    assert plan.ids == ["b", "a"] and plan.dependencies("b") == ["a"]


def test_waves_group_steps_by_depth_in_plan_order() -> None:
    assert diamond().waves() == [["a"], ["b", "c"], ["d"]]


def test_sinks_are_the_steps_nothing_depends_on() -> None:
    plan = Plan.of([{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "${a}"}, {"id": "c", "prompt": "y"}])
    assert plan.sinks() == ["b", "c"]


def test_critical_path_follows_the_heaviest_chain() -> None:
    weights = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0}
    path, total = diamond().critical_path(lambda step: weights[step.id])
    assert (path, total) == (["a", "b", "d"], 7.0)
    assert diamond().critical_path() == (["a", "b", "d"], 3.0)
    assert Plan().critical_path() == ([], 0.0)


def test_add_needs_its_dependencies_already_in_the_plan() -> None:
    plan = diamond()
    plan.add(Step(id="e", prompt="after ${d}"))
    assert plan.dependents("d") == ["e"]
    with pytest.raises(PlanError, match="step 'f' depends on unknown step 'zz'"):
        plan.add(Step(id="f", prompt="${zz}"))
    with pytest.raises(PlanError, match="step 'a' is defined twice"):
        plan.add(Step(id="a", prompt="again"))
    with pytest.raises(PlanError, match="unknown tool 'python'"):
        plan.add(Step(id="g", tool="python", args={}), TOOLS)
    assert "f" not in plan and "g" not in plan


def test_replace_swaps_a_step_and_its_edges() -> None:
    plan = diamond()
    plan.replace(Step(id="c", prompt="no longer needs a"))
    assert plan["c"].kind == "reasoning" and plan.dependencies("c") == []
    assert plan.waves() == [["a", "c"], ["b"], ["d"]]


def test_replace_that_would_make_a_cycle_is_refused_and_leaves_the_plan_as_it_was() -> None:
    plan = diamond()
    with pytest.raises(PlanError, match="replacing step 'a' would make a cycle"):
        plan.replace(Step(id="a", prompt="needs ${d}"))
    assert plan["a"].tool == "kb" and plan.dependencies("a") == []
    assert plan.waves() == [["a"], ["b", "c"], ["d"]]


def test_replace_of_an_unknown_step_is_refused() -> None:
    with pytest.raises(PlanError, match="cannot replace step 'zz': there is no such step"):
        diamond().replace(Step(id="zz", prompt="x"))


def test_dump_round_trips_through_plan_of() -> None:
    plan = diamond()
    again = Plan.of(plan.dump(), TOOLS)
    assert again.dump() == plan.dump()
    assert plan.dump()[0] == {"id": "a", "tool": "kb", "args": {"key": "x"}}


def test_substitute_replaces_known_references_everywhere_and_leaves_unknown_ones() -> None:
    value = {"text": "${a} and ${b}", "list": ["${a}", 3, ("${zz}",)]}
    assert substitute(value, {"a": "1", "b": "2"}) == {"text": "1 and 2", "list": ["1", 3, ["${zz}"]]}


def test_parse_step_names_the_position_when_there_is_no_id() -> None:
    with pytest.raises(PlanError, match="^step 3: id: Field required$"):
        parse_step({"prompt": "x"}, "step 3")
