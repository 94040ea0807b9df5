"""Scripts that let the simulator play a planner and a refiner, so planning runs offline.

The planner script reads the task from the planner's prompt and writes a plan by rule: a
`calculator` step for each arithmetic expression in the task, a reasoning step for each of its
questions (when it asks more than one), and a final step that answers from their results. A repair
prompt gets only the steps not yet accepted. The refiner script replaces each failed tool step with
a reasoning step of the same id, so its dependents can still run.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.backends.sim.script import ScriptOutput, ScriptRequest
from orchestrator.plan import reference
from orchestrator.plan_prompts import (
    ACCEPTED_HEADER,
    PLANNER_MARKER,
    REFINER_MARKER,
    STATE_HEADER,
    TASK_HEADER,
    TOOLS_HEADER,
    section,
)

EXPRESSION = re.compile(r"\(?\d+(?:\.\d+)?\)?(?:\s*(?:\*\*|[-+*/^%])\s*\(?\d+(?:\.\d+)?\)?)+")
QUESTION_END = re.compile(r"(?<=[?;])\s+|\n+")
STATE_LINE = re.compile(r"^- (\S+) \[(\w+)\] ", re.MULTILINE)


class PlannerScript:
    name = "planner"

    def matches(self, prompt: str) -> bool:
        return PLANNER_MARKER in prompt

    def write(self, request: ScriptRequest) -> ScriptOutput:
        prompt = request.prompt
        accepted = {_step_id(line) for line in section(prompt, ACCEPTED_HEADER).splitlines()}
        steps = [
            step for step in scripted_plan(section(prompt, TASK_HEADER), _tools(prompt)) if step["id"] not in accepted
        ]
        return ScriptOutput(_as_json("steps", steps), mean_logprob=-0.05)


class RefinerScript:
    name = "refiner"

    def matches(self, prompt: str) -> bool:
        return REFINER_MARKER in prompt

    def write(self, request: ScriptRequest) -> ScriptOutput:
        state = section(request.prompt, STATE_HEADER)
        edits = [_stand_in(step) for status, step in _steps(state) if status == "failed" and "tool" in step]
        return ScriptOutput(_as_json("edits", edits), mean_logprob=-0.05)


def scripted_plan(task: str, tools: set[str]) -> list[dict[str, Any]]:
    """The simulated planner's plan for `task` with the tools it was offered."""
    steps: list[dict[str, Any]] = []
    if "calculator" in tools:
        expressions = [match.group().strip() for match in EXPRESSION.finditer(task)]
        steps += [
            {"id": f"calc{i + 1}", "tool": "calculator", "args": {"expression": e}} for i, e in enumerate(expressions)
        ]
    questions = [part.strip() for part in QUESTION_END.split(task) if part.strip()]
    if len(questions) > 1:
        steps += [{"id": f"q{i + 1}", "prompt": question} for i, question in enumerate(questions)]
    return [*steps, _final(task, [step["id"] for step in steps])]


def _final(task: str, needs: list[str]) -> dict[str, Any]:
    if not needs:
        return {"id": "answer", "prompt": task}
    results = "\n".join(f"- {need}: {reference(need)}" for need in needs)
    return {"id": "answer", "prompt": f"{task}\n\nResults:\n{results}", "depends_on": needs}


def _stand_in(step: dict[str, Any]) -> dict[str, Any]:
    prompt = f"Work out without tools what the {step['tool']} tool would return for {json.dumps(step.get('args', {}))}."
    stand_in = {"id": step["id"], "prompt": prompt}
    if step.get("depends_on"):
        stand_in["depends_on"] = step["depends_on"]
    return {"op": "replace", "step": stand_in}


def _steps(state: str) -> list[tuple[str, dict[str, Any]]]:
    decoder = json.JSONDecoder()
    found = []
    for match in STATE_LINE.finditer(state):
        step, _ = decoder.raw_decode(state, match.end())
        found.append((match[2], step))
    return found


def _tools(prompt: str) -> set[str]:
    lines = section(prompt, TOOLS_HEADER).splitlines()
    return {line[2:].split(":", 1)[0] for line in lines if line.startswith("- ")}


def _step_id(line: str) -> str | None:
    try:
        return json.loads(line).get("id")
    except (json.JSONDecodeError, AttributeError):
        return None


def _as_json(key: str, items: list[dict[str, Any]]) -> str:
    body = ",\n".join(f"  {json.dumps(item)}" for item in items)
    return f'{{"{key}": [\n{body}\n]}}' if items else f'{{"{key}": []}}'
