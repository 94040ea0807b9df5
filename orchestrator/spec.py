"""The task file: pydantic models and the YAML loader that turns every problem into one line."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.aggregate import answer_pattern
from orchestrator.backends import BackendConfig
from orchestrator.backends.base import MAX_SEED
from orchestrator.backends.sim.config import SimConfig
from orchestrator.backends.stack import Limits
from orchestrator.budget import Budget
from orchestrator.errors import PlanError, TaskFileError
from orchestrator.plan import Plan, Step
from orchestrator.planner import PlannerConfig
from orchestrator.protocols.config import ProtocolConfig, SampleConfig
from orchestrator.pruning import PruneConfig
from orchestrator.refiner import RefineConfig
from orchestrator.step_types import Policy
from orchestrator.stopping import ConsConfig, StopConfig
from tools.config import ToolsConfig

MAX_TASK_FILE_BYTES = 1_000_000
MAX_YAML_DEPTH = 64
MAX_YAML_VALUES = 100_000
MAX_NUMBER_CHARS = 100

DEFAULT_PROMPT = (
    "Solve the following problem. Think step by step, then give the final answer "
    "as \\boxed{answer}.\n\nProblem: {task}\n\nSolution:"
)


class Strategy(BaseModel):
    """How one reasoning step is sampled: up to N threads on one shared prompt prefix.

    `stop` is the early-stopping rule (`cons`, `esc`, `adaptive`, `deepconf`; a bare name takes its
    defaults), `prune` turns on DeepPrune's online clustering, `answer_pattern` is a regex for the
    final answer (its group 1) when the model does not write `\\boxed{}` or "the answer is".
    `protocol` is how each thread reasons: `sample` (one request), `threadweaver`, `sot` or `hogwild`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(8, ge=1, le=4096)
    max_tokens: int = Field(2048, ge=1, le=1_000_000)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    prompt: str = Field(DEFAULT_PROMPT, min_length=1)
    stop: StopConfig = ConsConfig()
    prune: PruneConfig | None = None
    answer_pattern: str | None = None
    protocol: ProtocolConfig = SampleConfig()

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_by_name(cls, protocol: Any) -> Any:
        return {"name": protocol} if isinstance(protocol, str) else protocol

    @field_validator("stop", mode="before")
    @classmethod
    def _rule_by_name(cls, stop: Any) -> Any:
        return {"rule": stop} if isinstance(stop, str) else stop

    @field_validator("prune", mode="before")
    @classmethod
    def _judge_by_name(cls, prune: Any) -> Any:
        if prune is True:
            return {}
        return {"judge": prune} if isinstance(prune, str) else prune

    @field_validator("answer_pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            answer_pattern(pattern)
        return pattern

    @field_validator("prompt")
    @classmethod
    def _has_task_placeholder(cls, template: str) -> str:
        if "{task}" not in template:
            raise ValueError("the prompt template must contain {task}")
        return template

    def render(self, task: str) -> str:
        """The prompt all threads share, byte for byte."""
        return self.prompt.replace("{task}", task)

    def pattern(self) -> re.Pattern[str] | None:
        return answer_pattern(self.answer_pattern) if self.answer_pattern else None


class TaskSpec(BaseModel):
    """A whole task file.

    `plan` is a list of steps (run as given), `auto` (the LLM planner writes it) or absent (the task
    is one reasoning step). `refine` turns on the refiner; `execution` sets step retries and time
    limits; `budget` stops the whole run; `tools` configures the built-in tools.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(min_length=1)
    backend: BackendConfig = SimConfig()
    strategy: Strategy = Strategy()
    limits: Limits = Limits()
    plan: tuple[Step, ...] | Literal["auto"] | None = None
    planner: PlannerConfig = PlannerConfig()
    refine: RefineConfig | None = None
    tools: ToolsConfig = ToolsConfig()
    execution: Policy = Policy()
    budget: Budget = Budget()

    @field_validator("plan", mode="before")
    @classmethod
    def _valid_plan(cls, plan: Any) -> Any:
        if plan is None or plan == "auto":
            return plan
        if not isinstance(plan, list) or not plan:
            raise ValueError("expected a non-empty list of steps, or 'auto' for the LLM planner")
        try:
            return tuple(Plan.of(plan))
        except PlanError as error:
            raise ValueError(str(error)) from None

    @field_validator("refine", mode="before")
    @classmethod
    def _refine_shorthand(cls, refine: Any) -> Any:
        if refine is False:
            return None
        return {} if refine is True else refine

    @field_validator("backend", mode="before")
    @classmethod
    def _sim_unless_told(cls, backend: Any) -> Any:
        if isinstance(backend, dict) and "kind" not in backend:
            return {"kind": "sim", **backend}
        return backend


def load_task(path: str | Path) -> TaskSpec:
    """Read and validate a task file; every problem raises `TaskFileError` with one clear line.

    The file is read only when it is a regular file of at most `MAX_TASK_FILE_BYTES`, and its YAML may
    nest at most `MAX_YAML_DEPTH` levels and hold at most `MAX_YAML_VALUES` values once its aliases
    are expanded (so an alias bomb is refused before anything walks it).
    """
    name = str(path) if str(path).isprintable() else repr(str(path))
    data = _parse_yaml(name, _read_text(name, Path(path)))
    return parse_task(data, source=name)


def parse_task(data: Any, source: str = "<task>") -> TaskSpec:
    """Validate already-parsed task data."""
    if data is None:
        raise TaskFileError(source, "the file is empty; it needs at least a 'task:' key")
    if not isinstance(data, dict):
        raise TaskFileError(source, f"expected a mapping of keys (task:, backend:, strategy:), got {_kind(data)}")
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as error:
        raise _task_error(source, error) from None
    except RecursionError:
        raise TaskFileError(source, "the task nests too deeply") from None


def _read_text(name: str, path: Path) -> str:
    """The file's text, read without blocking (a FIFO) and never more than the size limit."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise TaskFileError(name, "no such file") from None
    except IsADirectoryError:
        raise TaskFileError(name, "not a regular file (a directory)") from None
    except (OSError, ValueError) as error:
        raise TaskFileError(name, f"cannot read: {_os_problem(error)}") from None
    try:
        return _decode(name, _read_bounded(name, descriptor))
    finally:
        os.close(descriptor)


def _read_bounded(name: str, descriptor: int) -> bytes:
    """At most `MAX_TASK_FILE_BYTES` of a regular file (one byte more tells that it grew past them)."""
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            what = " (a directory)" if stat.S_ISDIR(status.st_mode) else ""
            raise TaskFileError(name, f"not a regular file{what}")
        if status.st_size > MAX_TASK_FILE_BYTES:
            data = b""
        else:
            with open(descriptor, "rb", closefd=False) as file:
                data = file.read(MAX_TASK_FILE_BYTES + 1)
    except OSError as error:
        raise TaskFileError(name, f"cannot read: {_os_problem(error)}") from None
    if status.st_size > MAX_TASK_FILE_BYTES or len(data) > MAX_TASK_FILE_BYTES:
        raise TaskFileError(name, f"the file is larger than {MAX_TASK_FILE_BYTES:,} bytes")
    return data


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TaskFileError(name, f"not UTF-8 text (byte {error.start})") from None


def _os_problem(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML this loader will not build: nested too deeply, too large once aliases expand, ..."""


class _TaskLoader(yaml.SafeLoader):
    """PyYAML's safe loader with limits: nesting depth, values after alias expansion, number length.

    It also refuses recursive aliases and duplicate keys, and turns a scalar that its tag cannot read
    (`!!int x`, a date like 2020-13-45) into a YAML error with its position.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            return self._alias(parent, index, mark)
        if self._depth >= MAX_YAML_DEPTH:
            raise _Refused(problem=f"the YAML nests deeper than {MAX_YAML_DEPTH} levels", problem_mark=mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = 1 + sum(self._sizes[id(child)] for child in _children(node))
        self._count(1, mark)
        _check_unique_keys(node)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            problem = f"a number longer than {MAX_NUMBER_CHARS} characters"
            raise _Refused(problem=problem, problem_mark=node.start_mark)
        try:
            return super().construct_object(node, deep)
        except (ArithmeticError, LookupError, TypeError, ValueError) as error:
            raise yaml.constructor.ConstructorError(None, None, _unreadable(node, error), node.start_mark) from None

    def _alias(self, parent: yaml.Node | None, index: Any, mark: yaml.Mark) -> yaml.Node:
        node = super().compose_node(parent, index)
        size = self._sizes.get(id(node))
        if size is None:
            raise _Refused(problem="a YAML alias refers to the node that contains it", problem_mark=mark)
        self._count(size, mark)
        return node

    def _count(self, values: int, mark: yaml.Mark) -> None:
        self._values += values
        if self._values > MAX_YAML_VALUES:
            problem = f"the YAML has more than {MAX_YAML_VALUES:,} values once its aliases are expanded"
            raise _Refused(problem=problem, problem_mark=mark)


_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _check_unique_keys(node: yaml.Node) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    seen: set[tuple[str, str]] = set()
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        if (key.tag, key.value) in seen:
            raise _Refused(problem=f"duplicate key {_shorten(repr(key.value))}", problem_mark=key.start_mark)
        seen.add((key.tag, key.value))


def _unreadable(node: yaml.Node, error: Exception) -> str:
    kind = str(node.tag).rpartition(":")[2] or "value"
    if isinstance(node, yaml.ScalarNode):
        return f"{_shorten(repr(node.value))} is not a valid {kind}"
    return f"cannot read this {kind}: {_shorten(str(error))}"


def _parse_yaml(name: str, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_TaskLoader)  # a SafeLoader, with limits
    except _Refused as error:
        raise TaskFileError(name, f"{error.problem}{_yaml_position(error)}") from None
    except yaml.YAMLError as error:
        raise TaskFileError(name, f"not valid YAML{_yaml_position(error)}: {_yaml_problem(error)}") from None
    except RecursionError:
        raise TaskFileError(name, "the YAML nests too deeply") from None


def _yaml_position(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    if mark is not None:
        return f" (line {mark.line + 1}, column {mark.column + 1})"
    position = getattr(error, "position", None)
    return f" (character {position + 1})" if isinstance(position, int) else ""


def _yaml_problem(error: yaml.YAMLError) -> str:
    return _one_line(str(getattr(error, "problem", None) or error).splitlines()[0])


def _task_error(source: str, error: ValidationError) -> TaskFileError:
    first = error.errors(include_url=False)[0]
    field = ".".join(_field_part(part) for part in _field_path(first)) or None
    more = error.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return TaskFileError(source, _one_line(_describe(first)) + suffix, field)


def _field_part(part: Any) -> str:
    """A key as the message shows it: as written when plain, else quoted and shortened."""
    text = str(part)
    return text if _PLAIN_KEY.fullmatch(text) else _shorten(repr(text), 40)


_PLAIN_KEY = re.compile(r"[\w\-\[\]]{1,64}")


def _describe(detail: Any) -> str:
    if detail["type"] == "extra_forbidden":
        return f"unknown key (allowed: {', '.join(_allowed_keys(detail))})"
    if detail["type"] == "missing":
        return "required key is missing"
    message = detail["msg"].removeprefix("Value error, ")
    given = detail.get("input")
    shown = _shown(given)
    if detail["type"].startswith("union_tag") or shown in message or isinstance(given, list | dict):
        return message
    return f"{message} (got {_shorten(shown)})"


def _field_path(detail: Any) -> tuple[Any, ...]:
    """The error's location as the user wrote it: `backend.url`, not pydantic's `backend.sglang.url`."""
    loc = tuple(part for _, part in _walk(detail["loc"]) if part is not None)
    if detail["type"].startswith("union_tag"):
        loc += (detail.get("ctx", {}).get("discriminator", "'kind'").strip("'"),)
    return loc


def _allowed_keys(detail: Any) -> list[str]:
    model = _walk(detail["loc"])[-1][0]
    return list(model.model_fields) if _is_model(model) else []


def _walk(loc: Sequence[Any]) -> list[tuple[Any, Any]]:
    """(model, key) along pydantic's `loc`; a union member's tag (`sglang`, `esc`) has key None."""
    steps: list[tuple[Any, Any]] = []
    model: Any = TaskSpec
    for part in loc:
        if not _is_model(model):
            tagged = _member(model, part)
            if tagged is not None:
                steps.append((tagged, None))
                model = tagged
                continue
            model = _member(model, None)
        steps.append((model, part))
        fields = model.model_fields if _is_model(model) else {}
        model = fields[part].annotation if part in fields else None
    return steps


def _member(annotation: Any, tag: Any) -> Any:
    """The union member a pydantic tag names; with tag None, the union's first model."""
    members = [arg for arg in _union_args(annotation) if _is_model(arg)]
    if tag is None:
        return members[0] if members else None
    return next((m for m in members if tag in (_tag_of(m), m.__name__)), None)


def _union_args(annotation: Any) -> list[Any]:
    args = list(get_args(annotation))
    return [inner for arg in args for inner in (_union_args(arg) if get_args(arg) else [arg])]


def _tag_of(model: Any) -> Any:
    for name in ("kind", "rule", "name"):
        field = model.model_fields.get(name)
        if field is not None:
            return field.default
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _shown(value: Any) -> str:
    """A scalar as the message shows it; an integer too long to print is described."""
    if isinstance(value, int) and value.bit_length() > _MAX_SHOWN_BITS:
        return "a very large number"
    return repr(value) if isinstance(value, str | int | float | bool) else _kind(value)


_MAX_SHOWN_BITS = 10_000


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", dict: "a mapping"}.get(type(value), type(value).__name__)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str) -> str:
    """`text` on one line: line breaks and other control characters become spaces."""
    return "".join(char if char.isprintable() else " " for char in text)
