"""A plan: steps with ids and dependencies, held as a validated networkx DiGraph.

A step is a tool call (`tool` + `args`) or a reasoning step (`prompt`). `${id}` inside any string of
a step stands for that step's result and makes the step depend on it, as `depends_on` does.
Edges run from a dependency to its dependent.

Limits: a plan has at most `MAX_PLAN_STEPS` steps; a step's `args` nest at most `MAX_ARGS_DEPTH`
levels and hold at most `MAX_ARGS_VALUES` values. Step results are data: `substitute` inserts them
once, literally, so a result that contains `${id}` neither refers to a step nor changes the plan.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.errors import PlanError

MAX_PLAN_STEPS = 10_000
MAX_ARGS_DEPTH = 32
MAX_ARGS_VALUES = 100_000
MAX_CYCLE_SHOWN = 8
STEP_ID = r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$"
REFERENCE = re.compile(r"\$\{([A-Za-z0-9_][A-Za-z0-9_\-]{0,63})\}")


class Step(BaseModel):
    """One step of a plan; `threads` and `timeout_s` override the run's defaults for this step.

    `args` as a list of argument objects calls the tool once for each, all at the same time; the
    step's result is then the JSON list of the results, in order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=STEP_ID)
    tool: str | None = None
    args: dict[str, Any] | list[dict[str, Any]] = Field(default_factory=dict)
    prompt: str | None = Field(None, min_length=1)
    depends_on: tuple[str, ...] = ()
    threads: int | None = Field(None, ge=1, le=4096)
    timeout_s: float | None = Field(None, gt=0, le=86_400)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("args")
    @classmethod
    def _bounded(cls, args: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
        _check_shape(args)
        return args

    @model_validator(mode="after")
    def _tool_or_prompt(self) -> Step:
        if (self.tool is None) == (self.prompt is None):
            raise ValueError("a step needs exactly one of 'tool' (with 'args') or 'prompt'")
        if self.prompt is not None and self.args:
            raise ValueError("'args' belong to a tool step; a reasoning step has only 'prompt'")
        return self

    @property
    def kind(self) -> Literal["tool", "reasoning"]:
        return "tool" if self.tool is not None else "reasoning"

    def references(self) -> list[str]:
        """Ids named as `${id}` in the prompt or in any string of the args, in order of appearance."""
        found = REFERENCE.findall(self.prompt or "") + [
            ref for text in _strings(self.args) for ref in REFERENCE.findall(text)
        ]
        return list(dict.fromkeys(found))

    def needs(self) -> list[str]:
        """Every step this one waits for: `depends_on`, then the references it does not list."""
        return list(dict.fromkeys([*self.depends_on, *self.references()]))

    def label(self) -> str:
        calls = f" x{len(self.args)}" if isinstance(self.args, list) else ""
        what = f"{self.tool}{calls}" if self.tool is not None else _shorten(self.prompt or "", 48)
        return f"{self.id}: {what}"


def parse_step(data: Any, where: str = "step") -> Step:
    """A `Step` from plain data, or `PlanError` naming the field."""
    try:
        return Step.model_validate(data)
    except ValidationError as error:
        detail = error.errors(include_url=False)[0]
        field = ".".join(_field_part(part) for part in detail["loc"] if not _is_union_tag(part))
        name = data.get("id") if isinstance(data, dict) else None
        label = f"step {shown(name)}" if isinstance(name, str) else where
        raise PlanError(f"{label}: {field + ': ' if field else ''}{_problem(detail)}") from None
    except RecursionError:
        raise PlanError(f"{where}: nested too deeply") from None


def shown(step_id: str) -> str:
    """A step id (or tool name) as a message shows it: quoted, on one line, at most 64 characters."""
    return repr(_clip(step_id, 64))


def _problem(detail: Any) -> str:
    if detail["type"] == "extra_forbidden":
        return f"unknown key (allowed: {', '.join(Step.model_fields)})"
    return _one_line(str(detail["msg"]).removeprefix("Value error, "))


def _field_part(part: Any) -> str:
    text = str(part)
    return text if _PLAIN_KEY.fullmatch(text) else shown(text)


def _is_union_tag(part: Any) -> bool:
    """pydantic's name of a union member in an error location, e.g. `dict[str,any]`."""
    return isinstance(part, str) and _UNION_TAG.fullmatch(part) is not None


_PLAIN_KEY = re.compile(r"[\w\-\[\]]{1,64}")
_UNION_TAG = re.compile(r"(?:list|dict)\[.*\]")


class Plan:
    """A validated DAG of steps that can grow while it runs (`add`, `replace`)."""

    def __init__(self) -> None:
        self.graph: nx.DiGraph = nx.DiGraph()
        self._steps: dict[str, Step] = {}

    @classmethod
    def of(cls, steps: Iterable[Step | Mapping[str, Any]], tools: Collection[str] | None = None) -> Plan:
        """A plan of all `steps` at once (dependencies may come in any order); `PlanError` if invalid."""
        given = list(itertools.islice(steps, MAX_PLAN_STEPS + 1))
        if len(given) > MAX_PLAN_STEPS:
            raise PlanError(f"the plan has more than {MAX_PLAN_STEPS} steps")
        parsed = [step if isinstance(step, Step) else parse_step(step, f"step {i + 1}") for i, step in enumerate(given)]
        plan = cls()
        for step in parsed:
            plan._insert(step, tools)
        plan._check_references()
        plan._check_acyclic()
        return plan

    def add(self, step: Step, tools: Collection[str] | None = None) -> None:
        """Add a step whose dependencies are all in the plan already (so no cycle can form)."""
        if step.id in self._steps:
            raise PlanError(f"step {shown(step.id)} is defined twice")
        _check_needs(step, self._steps)
        self._insert(step, tools)

    def replace(self, step: Step, tools: Collection[str] | None = None) -> None:
        """Swap in a new definition of an existing step, keeping the plan acyclic."""
        old = self._steps.get(step.id)
        if old is None:
            raise PlanError(f"cannot replace step {shown(step.id)}: there is no such step")
        _check_tool(step, tools)
        _check_needs(step, self._steps)
        self._link(step)
        if not nx.is_directed_acyclic_graph(self.graph):
            self._link(old)
            raise PlanError(f"replacing step {shown(step.id)} would make a cycle")

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._steps

    def __getitem__(self, step_id: str) -> Step:
        return self._steps[step_id]

    def __iter__(self) -> Iterator[Step]:
        return iter(self._steps.values())

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def ids(self) -> list[str]:
        return list(self._steps)

    def dependencies(self, step_id: str) -> list[str]:
        return list(self.graph.predecessors(step_id))

    def dependents(self, step_id: str) -> list[str]:
        return list(self.graph.successors(step_id))

    def sinks(self) -> list[str]:
        """Steps nothing depends on, in plan order."""
        return [step_id for step_id in self._steps if self.graph.out_degree(step_id) == 0]

    def waves(self) -> list[list[str]]:
        """Steps grouped by depth: each wave depends only on earlier waves."""
        order = {step_id: i for i, step_id in enumerate(self._steps)}
        return [sorted(wave, key=order.__getitem__) for wave in nx.topological_generations(self.graph)]

    def critical_path(self, weight: Callable[[Step], float] = lambda step: 1.0) -> tuple[list[str], float]:
        """The heaviest dependency chain under node weights, and its total weight."""
        finish: dict[str, float] = {}
        previous: dict[str, str | None] = {}
        for step_id in nx.topological_sort(self.graph):
            before = max(self.graph.predecessors(step_id), key=finish.__getitem__, default=None)
            finish[step_id] = (finish[before] if before else 0.0) + weight(self._steps[step_id])
            previous[step_id] = before
        if not finish:
            return [], 0.0
        end: str | None = max(finish, key=finish.__getitem__)
        total = finish[end]
        path: list[str] = []
        while end is not None:
            path.append(end)
            end = previous[end]
        return path[::-1], total

    def dump(self) -> list[dict[str, Any]]:
        """The steps as plain data, as a task file's `plan:` would hold them."""
        return [step.model_dump(mode="json", exclude_defaults=True) for step in self._steps.values()]

    def _insert(self, step: Step, tools: Collection[str] | None) -> None:
        if step.id in self._steps:
            raise PlanError(f"step {shown(step.id)} is defined twice")
        if len(self._steps) >= MAX_PLAN_STEPS:
            raise PlanError(f"the plan has more than {MAX_PLAN_STEPS} steps")
        _check_tool(step, tools)
        if step.id in step.needs():
            raise PlanError(f"step {shown(step.id)} depends on itself")
        self._steps[step.id] = step
        self.graph.add_node(step.id)
        self.graph.add_edges_from((need, step.id) for need in step.needs())

    def _link(self, step: Step) -> None:
        self._steps[step.id] = step
        self.graph.remove_edges_from(list(self.graph.in_edges(step.id)))
        self.graph.add_edges_from((need, step.id) for need in step.needs())

    def _check_references(self) -> None:
        for step in self._steps.values():
            _check_needs(step, self._steps)

    def _check_acyclic(self) -> None:
        if nx.is_directed_acyclic_graph(self.graph):
            return
        try:
            cycle = nx.find_cycle(self.graph)
        except nx.NetworkXNoCycle:
            return
        raise PlanError(f"the plan has a cycle: {_cycle([edge[0] for edge in cycle])}")


def _cycle(names: list[str]) -> str:
    """`a -> b -> a`; a long cycle shows its first and last steps and how many it has."""
    shown_names = [*names, names[0]]
    if len(names) > MAX_CYCLE_SHOWN:
        shown_names = [*names[: MAX_CYCLE_SHOWN - 2], f"... ({len(names)} steps) ...", names[-1], names[0]]
    return " -> ".join(shown_names)


def _check_needs(step: Step, known: Collection[str]) -> None:
    for need in step.needs():
        if need == step.id:
            raise PlanError(f"step {shown(step.id)} depends on itself")
        if need not in known:
            raise PlanError(f"step {shown(step.id)} depends on unknown step {shown(need)}")


def _check_tool(step: Step, tools: Collection[str] | None) -> None:
    if step.tool is not None and tools is not None and step.tool not in tools:
        known = ", ".join(sorted(tools)) or "none"
        raise PlanError(f"step {shown(step.id)} uses unknown tool {shown(step.tool)} (known: {known})")


def _check_shape(args: Any) -> None:
    """`ValueError` when `args` nest deeper than `MAX_ARGS_DEPTH` or hold more than `MAX_ARGS_VALUES` values.

    Iterative, so deep nesting cannot overflow the stack, and it stops at the limit, so shared
    sub-structures (aliases) cannot make it walk more.
    """
    pending: list[tuple[Any, int]] = [(args, 0)]
    values = 0
    while pending:
        value, depth = pending.pop()
        values += 1
        if values > MAX_ARGS_VALUES:
            raise ValueError(f"more than {MAX_ARGS_VALUES:,} values")
        if depth > MAX_ARGS_DEPTH:
            raise ValueError(f"nested deeper than {MAX_ARGS_DEPTH} levels")
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else ()
        pending.extend((item, depth + 1) for item in items)


def reference(step_id: str) -> str:
    """`${step_id}`: how a prompt or an argument names a step's result."""
    return f"${{{step_id}}}"


def substitute(value: Any, results: Mapping[str, str]) -> Any:
    """`value` with every `${id}` in its strings replaced by that step's result (recursively)."""
    if isinstance(value, str):
        return REFERENCE.sub(lambda match: results.get(match[1], match[0]), value)
    if isinstance(value, dict):
        return {key: substitute(item, results) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(item, results) for item in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str) -> str:
    return "".join(char if char.isprintable() else " " for char in text)
