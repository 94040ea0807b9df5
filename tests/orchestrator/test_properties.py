"""Property-based tests: the task loader, the plan and its streamed parser, and answer extraction.

Each property holds for every input hypothesis draws: the loader returns a `TaskSpec` or raises a
one-line `TaskFileError`; a plan is valid and acyclic or a one-line `PlanError`, however its answer is
cut into chunks; extraction never raises and normalisation is idempotent.
"""

import asyncio
import itertools
import json
import re
import string
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.aggregate import (
    _clean,
    answer_pattern,
    extract_answer,
    majority_vote,
    normalize_answer,
    weighted_vote,
)
from orchestrator.backends.sim import SimBackend, SimConfig
from orchestrator.backends.sim.script import FallbackScript, ScriptOutput, ScriptRequest
from orchestrator.errors import PlanError, TaskFileError
from orchestrator.plan import Plan, Step
from orchestrator.plan_prompts import PLANNER_MARKER
from orchestrator.planner import Planner, PlannerConfig, StepStream
from orchestrator.result import UsageReport
from orchestrator.spec import TaskSpec, load_task, parse_task

FEW = settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and "\r" not in message and message.isprintable()


# --- the task loader -----------------------------------------------------------------------------

SCHEMA_KEYS = sorted(
    {"task", "backend", "strategy", "limits", "plan", "planner", "refine", "tools", "execution", "budget"}
    | {"kind", "threads", "max_tokens", "temperature", "top_p", "seed", "prompt", "stop", "prune", "protocol"}
    | {"rule", "window", "name", "retries", "tokens", "wall_s", "steps", "id", "tool", "args", "depends_on"}
    | {"answers", "time_scale", "url", "base_url", "model", "every", "max_steps", "python", "timeout_s"}
)
keys = st.one_of(st.sampled_from(SCHEMA_KEYS), st.text(max_size=8))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**120), max_value=10**120),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["auto", "sim", "sglang", "openai", "esc", "cons", "sample", "{task}", "${a}", "calculator"]),
)
nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5))
task_data = st.dictionaries(keys, nested, max_size=6).map(lambda found: {"task": "q", **found})

YAML_TOKENS = [
    "task:", "task: q", "strategy:", "threads:", "plan:", "backend:", "kind: sim", "- ", "-", "[", "]", "{", "}",
    ":", ": ", ",", "&a ", "*a", "&b ", "*b", "<<: *a", "!!int ", "!!str ", "!!binary ", "!!python/name:os.system",
    "? ", "'", '"', "#", "\n", "\n  ", "\n    ", "\t", "---", "...", "|", ">", "%YAML 1.1", "1", "-1", "0x1F",
    "1e999", ".nan", "2020-13-01", "~", "null", "yes", "id: a", "prompt: '${a}'", "\\", "\x00", "\ufeff", "\u2028",
]  # fmt: skip
yamlish = st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=3), max_size=40).map("".join)


@pytest.fixture(scope="module")
def task_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties") / "task.yaml"


def loads_or_one_line_error(path: Path, content: bytes) -> TaskSpec | None:
    path.write_bytes(content)
    try:
        return load_task(path)
    except TaskFileError as error:
        assert one_line(str(error)), str(error)
        assert str(error).startswith(f"{path}: ")
        return None


@SOME
@given(text=st.one_of(yamlish, st.text()))
def test_any_text_loads_or_is_one_line(task_file: Path, text: str) -> None:
    loads_or_one_line_error(task_file, text.encode("utf-8", "surrogatepass"))


@FEW
@given(content=st.binary(max_size=300))
def test_any_bytes_load_or_are_one_line(task_file: Path, content: bytes) -> None:
    loads_or_one_line_error(task_file, content)


@SOME
@given(document=task_data)
def test_any_data_written_as_yaml_loads_as_parse_task_says(task_file: Path, document: dict[str, Any]) -> None:
    spec = loads_or_one_line_error(task_file, yaml.safe_dump(document, allow_unicode=True).encode())
    try:
        expected: TaskSpec | None = parse_task(document)
    except TaskFileError:
        expected = None
    assert (spec is None) == (expected is None)


@MANY
@given(document=st.one_of(task_data, nested))
def test_parse_task_returns_a_spec_or_raises_one_line(document: Any) -> None:
    try:
        spec = parse_task(document)
    except TaskFileError as error:
        assert one_line(str(error)), str(error)
        assert error.field is None or one_line(error.field)
    else:
        assert isinstance(spec, TaskSpec) and spec.task


# --- plans ---------------------------------------------------------------------------------------

IDS = ["a", "b", "c", "d", "e", "f"]
ids = st.one_of(st.sampled_from(IDS), st.text(max_size=5))
references = st.lists(st.sampled_from(IDS), max_size=3).map(lambda found: " ".join(f"${{{ref}}}" for ref in found))
prompts = st.one_of(references, st.text(max_size=10), st.builds("{} then {}".format, references, references))
tool_steps = st.fixed_dictionaries(
    {"id": ids, "tool": st.sampled_from(["calculator", "kb", "nope"])},
    optional={"args": st.dictionaries(st.text(max_size=4), st.one_of(references, nested), max_size=3)},
)
reasoning_steps = st.fixed_dictionaries(
    {"id": ids, "prompt": prompts},
    optional={
        "depends_on": st.one_of(st.sampled_from(IDS), st.lists(st.sampled_from(IDS), max_size=3)),
        "threads": st.integers(-2, 5000),
    },
)
step_data = st.one_of(tool_steps, reasoning_steps, st.dictionaries(keys, nested, max_size=3), nested)
plans = st.lists(step_data, max_size=8)


def valid_plan(plan: Plan, tools: list[str] | None) -> None:
    assert nx.is_directed_acyclic_graph(plan.graph)
    assert set(plan.graph.nodes) == set(plan.ids) and len(plan) <= 8
    for step in plan:
        assert step.id not in step.needs() and all(need in plan for need in step.needs())
        assert tools is None or step.tool is None or step.tool in tools
        assert sorted(plan.dependencies(step.id)) == sorted(step.needs())


@SOME
@given(steps=plans, tools=st.one_of(st.none(), st.just(["calculator", "kb"])))
def test_a_plan_is_valid_and_acyclic_or_one_line(steps: list[Any], tools: list[str] | None) -> None:
    try:
        plan = Plan.of(steps, tools)
    except PlanError as error:
        assert one_line(str(error)), str(error)
        return
    valid_plan(plan, tools)
    assert Plan.of(plan.dump(), tools).dump() == plan.dump()
    assert sum(len(wave) for wave in plan.waves()) == len(plan)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
documents = st.one_of(
    st.lists(st.one_of(tool_steps, reasoning_steps, json_values), max_size=6).map(lambda steps: {"steps": steps}),
    st.dictionaries(st.sampled_from(["steps", "note", "plan"]), json_values, max_size=3),
    json_values,
)


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(cut % (len(text) + 1) for cut in cuts)})
    return [text[start:end] for start, end in itertools.pairwise(points)]


@MANY
@given(
    document=documents,
    cuts=st.lists(st.integers(min_value=0), max_size=30),
    indent=st.sampled_from([None, 0, 2]),
    compact=st.booleans(),
)
def test_the_streamed_steps_are_the_documents_steps_however_it_is_cut(
    document: Any, cuts: list[int], indent: int | None, compact: bool
) -> None:
    text = json.dumps(document, indent=indent, separators=(",", ":") if compact else None)
    stream = StepStream()
    emitted = [step for chunk in chunked(text, cuts) for step in stream.feed(chunk)]
    steps = document.get("steps") if isinstance(document, dict) else None
    if isinstance(steps, list):  # compared as JSON, where NaN equals NaN
        assert json.dumps(emitted) == json.dumps(steps[:-1]), "each step but the last is emitted once the next begins"
        assert json.dumps(stream.close()) == json.dumps(steps[-1:])
    else:
        assert emitted == []
        with pytest.raises(PlanError, match=r'^the plan must be a JSON object \{"steps": \[\.\.\.\]\}$'):
            stream.close()


@SOME
@given(text=st.one_of(st.text(), yamlish, documents.map(json.dumps).map(lambda text: text[: len(text) // 2])))
def test_any_planner_text_streams_without_error_and_closes_to_a_list_or_a_plan_error(text: str) -> None:
    stream = StepStream()
    emitted = [step for start in range(0, len(text), 7) for step in stream.feed(text[start : start + 7])]
    try:
        rest = stream.close()
    except PlanError as error:
        assert one_line(str(error)), str(error)
        return
    assert isinstance(rest, list)
    assert json.dumps(emitted + rest) == json.dumps(json.loads(text)["steps"])


class Answers:
    """Plays the planner with one text, every time."""

    name = "property-planner"

    def __init__(self, text: str) -> None:
        self.text = text

    def matches(self, prompt: str) -> bool:
        return prompt.startswith(PLANNER_MARKER)

    def write(self, request: ScriptRequest) -> ScriptOutput:
        return ScriptOutput(self.text)


async def planned(text: str) -> list[Step]:
    backend = SimBackend(SimConfig(time_scale=0), scripts=[Answers(text), FallbackScript()])
    tools = [{"name": "calculator", "description": "arithmetic", "parameters": {}}]
    planner = Planner(backend, tools, PlannerConfig(max_repairs=1, max_tokens=100_000, max_steps=6), UsageReport())
    async with asyncio.timeout(20):
        return [step async for step in planner.steps("the task")]


@FEW
@given(
    text=st.one_of(
        st.lists(st.one_of(tool_steps, reasoning_steps), max_size=8).map(lambda steps: json.dumps({"steps": steps})),
        documents.map(json.dumps),
        st.text(max_size=40),
    )
)
def test_the_planner_writes_a_valid_acyclic_plan_or_raises_plan_error(text: str) -> None:
    try:
        steps = asyncio.run(planned(text))
    except PlanError as error:
        assert one_line(str(error)), str(error)
        return
    plan = Plan.of(steps, ["calculator"])
    valid_plan(plan, ["calculator"])
    assert 1 <= len(plan) <= 6


# --- answers -------------------------------------------------------------------------------------

MATH_PIECES = [
    *"0123456789.,/-+ $\\{}()[]^_=xyabc%:*'\"`!;",
    "\\frac", "\\dfrac", "\\text{", "\\textbf{", "\\boxed{", "\\fbox{", "\\left(", "\\right)", "\\!", "\\,",
    "\\quad", "\\qquad", " cm", " m", " km^2", " degrees", "\\%", " percent", "option ", "choice ", "^\\circ",
    "°", "{,}", "x=", "\\(", "\\)", "\\[", "\\]", "$$", "**", "answer is", "Answer:", "<think>", "</think>",
    "\n", "ß", "İ", "\u00a0",
]  # fmt: skip
mathish = st.lists(st.sampled_from(MATH_PIECES), max_size=14).map("".join)
answers = st.one_of(mathish, st.text(max_size=30))


@MANY
@given(text=st.one_of(answers, st.text()))
def test_extraction_never_raises_and_gives_a_clean_answer_or_none(text: str) -> None:
    answer = extract_answer(text)
    assert answer is None or (answer and answer == answer.strip())
    assert extract_answer(text, answer_pattern(r"answer: (\S+)")) is None or "answer" in text.lower()


@MANY
@given(answer=answers)
@example('"0"°')
@example(".°")
@example("x=''")
def test_normalisation_is_idempotent(answer: str) -> None:
    once = normalize_answer(answer)
    assert normalize_answer(once) == once


_REGEX_WRAPPERS = (
    re.compile(r"^\$\$?([^$]*)\$\$?$"),
    re.compile(r"^\\\((.*)\\\)$", re.DOTALL),
    re.compile(r"^\\\[(.*)\\\]$", re.DOTALL),
    re.compile(r"^\*\*?(.*?)\*?\*$", re.DOTALL),
    re.compile(r"^[\"\u201c\u201d](.*)[\"\u201c\u201d]$", re.DOTALL),
    re.compile(r"^['\u2018\u2019`](.*)['\u2018\u2019`]$", re.DOTALL),
)


def clean_by_regex(answer: str) -> str:
    """`aggregate._clean` as it was first written: regular expressions applied to copies, to a fixed point."""
    previous = None
    while answer != previous:
        previous = answer
        answer = answer.strip().removesuffix(".").strip()
        match = next((m for wrapper in _REGEX_WRAPPERS if (m := wrapper.match(answer))), None)
        answer = match.group(1) if match else answer
    return answer


wrappers = st.lists(st.sampled_from([*"$*\\()[]\"'`.x \n", "\u201c", "\u201d", "\u2018", "\u2019"]), max_size=16)


@MANY
@given(text=st.one_of(wrappers.map("".join), answers))
@example("***a*")
@example("$$")
@example("\\(\\)")
def test_cleaning_on_a_window_unwraps_exactly_as_the_regular_expressions_do(text: str) -> None:
    assert _clean(text) == clean_by_regex(text)


simple_answers = st.one_of(
    st.integers(-(10**40), 10**40).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.builds("{}/{}".format, st.integers(-99, 99), st.integers(1, 99)),
    st.builds("\\frac{{{}}}{{{}}}".format, st.integers(0, 99), st.integers(1, 99)),
    st.text(string.ascii_letters, min_size=1, max_size=12),
    st.builds("{}^{}+{}".format, st.sampled_from("xyz"), st.integers(2, 9), st.integers(0, 99)),
    st.sampled_from(["\\sqrt{2}", "\\pi", "(1, 2)", "[0, 1)", "\\{1, 2\\}", "x \\in \\mathbb{R}", "2\\sqrt{3}"]),
)


@MANY
@given(answer=simple_answers, before=st.text(max_size=40), thinking=st.booleans())
def test_a_boxed_answer_round_trips(answer: str, before: str, thinking: bool) -> None:
    noise = before.replace("\\", "").replace("{", "").replace("}", "").replace("<", "")
    trace = f"<think>{noise}</think>" if thinking else noise
    assert extract_answer(f"{trace}\nSo the result is \\boxed{{{answer}}}.") == answer
    assert extract_answer(f"{trace}\\boxed{{{answer}}}") == answer
    assert normalize_answer(f"\\boxed{{{answer}}}") == normalize_answer(answer) or "{" in answer


@MANY
@given(answer=st.text(max_size=30).filter(lambda text: "{" not in text and "}" not in text and "\\" not in text))
def test_a_boxed_answer_normalises_as_the_bare_one(answer: str) -> None:
    assert normalize_answer(f"\\boxed{{{answer}}}") == normalize_answer(answer)


@MANY
@given(number=st.integers(-(10**30), 10**30))
def test_one_number_written_many_ways_normalises_to_one_form(number: int) -> None:
    forms = [
        str(number),
        f"{number}.0",
        f"{number}.000",
        f"${number}$",
        f"\\boxed{{{number}}}",
        f"{number:,}",
        f"x = {number}",
        f"\\frac{{{2 * number}}}{{2}}",
        f"\\dfrac{{{3 * number}}}{{3}}",
        f"{number} cm",
        f"**{number}**",
    ]
    assert {normalize_answer(form) for form in forms} == {str(number)}
    assert normalize_answer(f"+{number}") == str(number) or number < 0


@MANY
@given(first=answers, second=answers)
def test_answer_equivalence_is_reflexive_and_symmetric(first: str, second: str) -> None:
    def same(a: str, b: str) -> bool:
        return normalize_answer(a) == normalize_answer(b)

    assert same(first, first) and same(first, normalize_answer(first))
    assert same(first, second) == same(second, first)


votes = st.lists(st.one_of(st.none(), answers, st.sampled_from(["42", "42.0", "\\boxed{42}", "7", "x = 7"])))


@MANY
@given(given_answers=votes, data=st.data())
def test_a_vote_counts_every_answer_once_and_ignores_order(given_answers: list[str | None], data: Any) -> None:
    vote = majority_vote(given_answers)
    keys_seen = [normalize_answer(answer) for answer in given_answers if answer is not None]
    assert vote.answered == sum(1 for key in keys_seen if key) == sum(vote.counts.values())
    assert 0.0 <= vote.support <= 1.0
    if vote.answer is None:
        assert vote.counts == {} and vote.answered == 0
        return
    winner = normalize_answer(vote.answer)
    assert next(iter(vote.counts)) == winner and vote.counts[winner] == max(vote.counts.values())
    shuffled = data.draw(st.permutations(given_answers))
    again = majority_vote(shuffled)
    assert again.counts == vote.counts and again.answered == vote.answered
    assert weighted_vote(given_answers, [1.0] * len(given_answers)) == vote
