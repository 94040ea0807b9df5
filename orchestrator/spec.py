"""The task file: pydantic models and the YAML loader that turns every problem into one line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.aggregate import answer_pattern
from orchestrator.backends import BackendConfig
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
    seed: int | None = None
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
    """Read and validate a task file; every problem raises `TaskFileError` with one clear line."""
    name = str(path)
    data = _parse_yaml(name, _read_text(Path(path)))
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


def _read_text(path: Path) -> str:
    name = str(path)
    if not path.exists():
        raise TaskFileError(name, "no such file")
    if not path.is_file():
        raise TaskFileError(name, "not a regular file")
    if path.stat().st_size > MAX_TASK_FILE_BYTES:
        raise TaskFileError(name, f"the file is larger than {MAX_TASK_FILE_BYTES:,} bytes")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise TaskFileError(name, f"not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise TaskFileError(name, f"cannot read: {error.strerror}") from None


def _parse_yaml(name: str, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TaskFileError(name, f"not valid YAML{_yaml_position(error)}: {_yaml_problem(error)}") from None


def _yaml_position(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""


def _yaml_problem(error: yaml.YAMLError) -> str:
    return str(getattr(error, "problem", None) or error).splitlines()[0]


def _task_error(source: str, error: ValidationError) -> TaskFileError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in _field_path(first)) or None
    more = error.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return TaskFileError(source, _describe(first) + suffix, field)


def _describe(detail: Any) -> str:
    if detail["type"] == "extra_forbidden":
        return f"unknown key (allowed: {', '.join(_allowed_keys(detail))})"
    if detail["type"] == "missing":
        return "required key is missing"
    message = detail["msg"].removeprefix("Value error, ")
    given = detail.get("input")
    shown = repr(given) if isinstance(given, str | int | float | bool) else _kind(given)
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


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", dict: "a mapping"}.get(type(value), type(value).__name__)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
