"""The simulator plays a Hogwild worker: steps of its own until the team has done enough, then the answer."""

from __future__ import annotations

import random
import re

import pytest
from support import Recording

from orchestrator import Orchestrator, Strategy
from orchestrator.backends.base import SamplingParams
from orchestrator.backends.sim import ScriptedModel, SimBackend, SimConfig
from orchestrator.backends.sim.generation import Generation
from orchestrator.backends.sim.hogwild import HogwildScript, sections, steps_needed
from orchestrator.backends.sim.script import ScriptRequest
from orchestrator.protocols.hogwild import Hogwild
from orchestrator.protocols.prompts import CHECK, CUT, FINISH, OTHERS, OWN, SEPARATOR, step_header
from orchestrator.result import RunResult, ThreadStatus
from orchestrator.spec import DEFAULT_PROMPT

TASK = "How many positive divisors does 360 have?"
PREFIX = Hogwild().prefix(DEFAULT_PROMPT.replace("{task}", TASK))
KEY = PREFIX.removesuffix("\n\n### Past steps\n\n")
ANSWERS = {"24": 0.7, "12": 0.2, "36": 0.1}
CONFIG = SimConfig(answers=ANSWERS)


def prompt(past: int, others: list[str], header: str, prefix: str = PREFIX) -> str:
    """A step prompt laid out as the protocol lays it out, with `past` finished steps."""
    history = "".join(f"{step_header(('Alice', 'Bob')[n % 2], n // 2 + 1)}Some work.{SEPARATOR}" for n in range(past))
    progress = "".join(f"{step_header(name, 1)}half a step {CUT}{SEPARATOR}" for name in others)
    return f"{prefix}{history}{OTHERS}{SEPARATOR}{progress}{OWN}{SEPARATOR}{header}"


def generate(text: str, *stop: str, seed: int = 0, config: SimConfig = CONFIG) -> Generation:
    params = SamplingParams(max_tokens=1000, stop=stop, seed=seed, temperature=0.7)
    return ScriptedModel(config).generate(text, params, counter=0)


def text_of(generation: Generation) -> str:
    return generation.text(len(generation))


def needed(key: str = KEY, config: SimConfig = CONFIG) -> int:
    return steps_needed(ScriptRequest("", SamplingParams(), config, random.Random(0)), key)


def test_the_sections_of_a_step_prompt_are_read_back() -> None:
    key, past, others = sections(prompt(3, ["Bob"], step_header("Alice", 3)))
    assert key == KEY and past.count("Some work.") == 3 and others == ["Bob"]
    assert HogwildScript().matches(prompt(0, [], step_header("Alice", 1))) and not HogwildScript().matches(TASK)


def test_the_steps_a_problem_needs_are_one_draw_per_problem_around_trace_tokens_over_fifty() -> None:
    assert needed() == needed() >= 3
    counts = [needed(f"{KEY} variant {n}", SimConfig(trace_tokens=1000)) for n in range(30)]
    assert 15 <= sum(counts) / len(counts) <= 25 and len(set(counts)) > 1
    assert min(needed(f"{KEY} {n}", SimConfig(trace_tokens=40)) for n in range(10)) == 3


@pytest.mark.parametrize("seed", range(4))
def test_before_the_team_is_done_a_worker_writes_one_short_step(seed: int) -> None:
    header = step_header("Alice", 2)
    generation = generate(prompt(1, ["Bob"], header), SEPARATOR, seed=seed)
    text = text_of(generation)
    assert generation.matched_stop == SEPARATOR and "\\boxed" not in text
    assert 1 <= len(re.findall(r"\.(?:\s|$)", text)) <= 3 and 25 <= len(generation) <= 100
    unstopped = text_of(generate(prompt(1, ["Bob"], header), seed=seed))
    assert unstopped.startswith(text + SEPARATOR + step_header("Alice", 3))


def test_once_the_team_has_done_enough_steps_the_worker_answers() -> None:
    text = text_of(generate(prompt(needed(), ["Bob"], step_header("Alice", 9)), SEPARATOR))
    answer = re.search(r"so the answer is \\boxed\{(\d+)\}\.$", text)
    assert answer is not None and answer.group(1) in ANSWERS


def test_the_redundancy_check_is_mostly_no_and_yes_only_while_another_worker_is_busy() -> None:
    alone = [text_of(generate(prompt(1, [], step_header("Alice", 4) + CHECK), seed=s)) for s in range(40)]
    assert all(text.startswith("no. ") for text in alone)
    busy = [text_of(generate(prompt(1, ["Bob"], step_header("Alice", 4) + CHECK), seed=s)) for s in range(200)]
    yes = [text for text in busy if text.startswith("yes. Bob is already on that, so I will ")]
    assert len(yes) + sum(text.startswith("no. ") for text in busy) == 200 and 10 <= len(yes) <= 50


def test_asked_for_the_answer_outright_the_worker_closes_the_box() -> None:
    generation = generate(prompt(2, [], step_header("Bob", 2) + FINISH), "}")
    assert generation.matched_stop == "}" and text_of(generation) in ANSWERS


async def run(seed: int, **protocol: object) -> tuple[RunResult, Recording]:
    backend = Recording(SimBackend(SimConfig(time_scale=0, answers=ANSWERS, seed=seed)))
    strategy = Strategy(threads=2, protocol={"name": "hogwild", **protocol}, seed=seed)
    async with Orchestrator(backend, strategy) as orchestrator:
        return await orchestrator.run(TASK), backend


async def test_a_hogwild_run_shares_steps_and_answers_from_the_cached_history() -> None:
    result, backend = await run(seed=1)
    reasoning = result.steps[0].reasoning
    assert reasoning is not None and result.answer in ANSWERS and reasoning.rounds >= 2 and reasoning.requests > 2
    for thread in result.threads:
        steps = thread.text.split(SEPARATOR)
        assert thread.status is ThreadStatus.DONE and thread.answer in ANSWERS
        assert all(any(step.startswith(f"**{name} [1]:** ") for step in steps) for name in ("Alice", "Bob"))
        assert "\\boxed{" in steps[-1] and all("\\boxed" not in step for step in steps[:-1])
        assert all(note.endswith("changed course") for note in thread.notes)
    assert reasoning.cached_share > 0.6
    steps = [e.completion for e in backend.exchanges if e.stop == (SEPARATOR,)]
    assert steps and all(c is not None and c.usage.cached_tokens > 0.6 * c.usage.prompt_tokens for c in steps)


async def test_a_team_out_of_steps_is_asked_for_the_answer_outright() -> None:
    result, _ = await run(seed=2, max_steps=1)
    for thread in result.threads:
        assert thread.text.split(SEPARATOR)[-1].startswith(f"**Alice [2]:** {FINISH}")
        assert thread.answer in ANSWERS and any("asked outright" in note for note in thread.notes)
