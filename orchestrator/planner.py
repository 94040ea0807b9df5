"""The LLM planner: it writes the plan as JSON, streamed, so each step is dispatched as soon as it parses.

The answer is constrained by a JSON schema where the backend supports it (SGLang `json_schema`,
OpenAI `response_format`). A plan that breaks a rule goes back to the planner with the error text:
the steps accepted so far keep running, and the planner writes only the missing ones; after
`max_repairs` such rounds planning fails with the last error.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json

from orchestrator.backends.base import Backend, Completion, CompletionRequest, FinishReason, SamplingParams, TextChunk
from orchestrator.errors import PlanError
from orchestrator.plan import Plan, Step, parse_step
from orchestrator.plan_prompts import plan_schema, planner_prompt, repair_prompt
from orchestrator.result import UsageReport


class PlannerConfig(BaseModel):
    """`planner:` in a task file: how the LLM planner is asked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_repairs: int = Field(2, ge=0, le=10)
    max_tokens: int = Field(2048, ge=16, le=100_000)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_steps: int = Field(64, ge=1, le=10_000)


class StepStream:
    """Finds complete step objects in the growing text of a `{"steps": [...]}` answer.

    A scanner follows the JSON's nesting as the text arrives, looking at each character once, and only
    the text of each finished step is parsed: the work is linear in the length of the answer.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._emitted = 0
        self._scanner = _StepsScanner()

    @property
    def text(self) -> str:
        """The answer so far."""
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def feed(self, delta: str) -> list[Any]:
        """Steps completed by `delta` (an element is complete once the next one has begun)."""
        self._parts.append(delta)
        steps: list[Any] = []
        for element in self._scanner.feed(delta):
            try:
                steps.append(from_json(element))
            except ValueError:
                self._scanner.broken = True
                break
        self._emitted += len(steps)
        return steps

    def close(self) -> list[Any]:
        """The remaining steps of the finished answer; `PlanError` if it is not a plan."""
        steps = _steps_of(_parse(self.text), strict=True)
        fresh = steps[self._emitted :]
        self._emitted = max(self._emitted, len(steps))
        return fresh


class _StepsScanner:
    """Cuts the elements of the top-level object's "steps" array out of a JSON text as it arrives.

    It tracks only what it needs: nesting depth, strings (with escapes), the top-level key being
    written. Anything that cannot begin such an object makes it `broken`: it stops, and the strict
    parse on close says what is wrong.
    """

    def __init__(self) -> None:
        self.broken = False
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._closed = False
        self._string: list[str] = []
        self._key: str | None = None
        self._in_steps = False
        self._seen_steps = False
        self._element: list[str] | None = None
        self._finished: str | None = None

    def feed(self, delta: str) -> list[str]:
        """The text of each element whose successor began in `delta`."""
        complete: list[str] = []
        position, begun = 0, 0
        while position < len(delta) and not self.broken:
            if self._in_string:
                position = self._through_string(delta, position)
                continue
            token = _TOKEN.search(delta, position)
            if token is None:
                break
            position, char = token.start(), token.group()
            if self._in_steps and self._depth == 2 and self._element is None and char not in ",]":
                if self._finished is not None:
                    complete.append(self._finished)
                    self._finished = None
                self._element, begun = [], position
            if char == "," and self._in_steps and self._depth == 2 and self._element is not None:
                self._finished = "".join([*self._element, delta[begun:position]])
                self._element = None
            self._structure(char)
            position += 1
        if self._element is not None:
            self._element.append(delta[begun:])
        return complete

    def _through_string(self, delta: str, position: int) -> int:
        """Past the string text from `position`: to its closing quote, or to the end of `delta`."""
        if self._escaped:
            self._escaped = False
            self._keep(delta[position])
            return position + 1
        stop = _STRING_STOP.search(delta, position)
        end = len(delta) if stop is None else stop.start()
        self._keep(delta[position:end])
        if stop is None:
            return end
        if stop.group() == "\\":
            self._keep("\\")
            self._escaped = True
        else:
            self._in_string = False
        return end + 1

    def _keep(self, text: str) -> None:
        if self._depth == 1:
            self._string.append(text)

    def _structure(self, char: str) -> None:
        if self._depth == 0 and (self._closed or char != "{"):
            self.broken = True
        elif char == '"':
            self._in_string, self._string = True, []
        elif char in "{[":
            self._open(char)
        elif char in "}]":
            self._close(char)
        elif char == ":" and self._depth == 1:
            self._key = _decoded("".join(self._string))
        elif char == "," and self._depth == 1:
            self._key = None

    def _open(self, char: str) -> None:
        if self._depth == 1 and char == "[" and self._key == "steps":
            self.broken = self._seen_steps
            self._in_steps = self._seen_steps = True
        self._depth += 1

    def _close(self, char: str) -> None:
        self._depth -= 1
        if self._depth == 1 and self._in_steps:
            self.broken = char != "]"
            self._in_steps, self._element = False, None
        self._closed = self._depth == 0


_TOKEN = re.compile(r"[^ \t\r\n]")
_STRING_STOP = re.compile(r'["\\]')


def _decoded(raw: str) -> str | None:
    """A JSON string's value from the text between its quotes; None if it is not valid."""
    try:
        value = from_json(f'"{raw}"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None


class Planner:
    """Streams a validated plan for a task from a model on `backend`."""

    def __init__(
        self, backend: Backend, tools: list[dict[str, Any]], config: PlannerConfig, usage: UsageReport
    ) -> None:
        self.backend, self.tools, self.config, self.usage = backend, tools, config, usage
        self.tool_names = [tool["name"] for tool in tools]
        self.attempts = 0

    async def steps(self, task: str) -> AsyncIterator[Step]:
        """Each step as soon as it is written and checked; `PlanError` once repairs run out."""
        accepted = Plan()
        prompt = planner_prompt(task, self.tools)
        for _ in range(self.config.max_repairs + 1):
            self.attempts += 1
            try:
                async for step in self._attempt(prompt, accepted):
                    yield step
                return
            except PlanError as error:
                prompt = repair_prompt(task, self.tools, accepted.dump(), str(error))
                last = error
        raise PlanError(f"no valid plan after {self.attempts} attempts: {last}")

    async def _attempt(self, prompt: str, accepted: Plan) -> AsyncIterator[Step]:
        stream, final = StepStream(), None
        async for event in self.backend.stream(self._request(prompt)):
            if isinstance(event, TextChunk):
                for data in stream.feed(event.text):
                    if (step := self._accept(data, accepted)) is not None:
                        yield step
            elif isinstance(event, Completion):
                final = event
        _check_finished(final, self.usage)
        for data in stream.close():
            if (step := self._accept(data, accepted)) is not None:
                yield step
        if not len(accepted):
            raise PlanError("the plan has no steps")

    def _request(self, prompt: str) -> CompletionRequest:
        schema = json.dumps(plan_schema(self.tool_names))
        params = SamplingParams(self.config.max_tokens, self.config.temperature, json_schema=schema)
        return CompletionRequest(prompt, params)

    def _accept(self, data: Any, accepted: Plan) -> Step | None:
        """The step, checked against the accepted ones; None for an accepted step written again unchanged."""
        step = parse_step(data, f"step {len(accepted) + 1}")
        if step.id in accepted and accepted[step.id] == step:
            return None
        if len(accepted) >= self.config.max_steps:
            raise PlanError(f"the plan has more than {self.config.max_steps} steps (planner.max_steps)")
        accepted.add(step, self.tool_names)
        return step


def _check_finished(final: Completion | None, usage: UsageReport) -> None:
    if final is None:
        raise PlanError("the planner's answer ended without a final record")
    usage.add(final.usage)
    if final.finish_reason is FinishReason.LENGTH:
        raise PlanError("the plan was cut off at planner.max_tokens")


def _parse(text: str) -> Any:
    try:
        return from_json(text)
    except ValueError as error:
        raise PlanError(f"the plan is not valid JSON ({_shorten(str(error))})") from None


def _steps_of(document: Any, strict: bool = False) -> list[Any]:
    steps = document.get("steps") if isinstance(document, dict) else None
    if isinstance(steps, list):
        return steps
    if strict:
        raise PlanError('the plan must be a JSON object {"steps": [...]}')
    return []


def _shorten(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
