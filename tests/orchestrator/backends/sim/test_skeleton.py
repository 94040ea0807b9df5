"""The simulator plays Skeleton-of-Thought: a skeleton of points, each point expanded, then a conclusion."""

from __future__ import annotations

import re

import pytest
from support import Recording

from orchestrator import Orchestrator, Strategy
from orchestrator.backends.base import SamplingParams
from orchestrator.backends.sim import AnswerDistribution, ScriptedModel, SimBackend, SimConfig
from orchestrator.backends.sim._protocols import sentences
from orchestrator.backends.sim.generation import Generation
from orchestrator.backends.sim.skeleton import SkeletonScript
from orchestrator.protocols.prompts import CONCLUDE_ASK, EXPAND_ASK, SKELETON_ASK
from orchestrator.protocols.skeleton import points_in
from orchestrator.result import ThreadStatus
from orchestrator.spec import DEFAULT_PROMPT

TASK = DEFAULT_PROMPT.replace("{task}", "How many positive divisors does 360 have?")
PROMPT = TASK + SKELETON_ASK
ANSWERS = {"24": 0.7, "12": 0.2, "36": 0.1}


def generate(prompt: str, *stop: str, seed: int = 0, config: SimConfig | None = None) -> Generation:
    params = SamplingParams(max_tokens=100_000, stop=stop, seed=seed, temperature=0.7)
    return ScriptedModel(config or SimConfig(answers=ANSWERS)).generate(prompt, params, counter=0)


def text_of(generation: Generation) -> str:
    return generation.text(len(generation))


def skeleton(seed: int = 0) -> str:
    return text_of(generate(PROMPT, "\n\n", seed=seed))


def test_only_skeleton_prompts_are_matched() -> None:
    assert SkeletonScript().matches(PROMPT) and not SkeletonScript().matches(TASK)
    assert generate(PROMPT).script == "skeleton"


@pytest.mark.parametrize("seed", range(5))
def test_the_skeleton_numbers_three_to_six_short_points_after_the_prompts_first(seed: int) -> None:
    generation = generate(PROMPT, "\n\n", seed=seed)
    points = points_in("1." + text_of(generation))
    assert generation.matched_stop == "\n\n" and 3 <= len(points) <= 6
    assert text_of(generation) == " " + "\n".join(f"{n}. {p}" for n, p in enumerate(points, 1))[3:]
    assert all(len(point.split()) <= 8 for point in points)
    assert "\n\n" in text_of(generate(PROMPT, seed=seed))  # unstopped, it writes on past the blank line


def test_each_point_is_expanded_in_one_to_three_sentences_and_cut_where_the_next_begins() -> None:
    written = skeleton(seed=1)
    points = points_in("1." + written)
    for number, point in enumerate(points, 1):
        last = number == len(points)
        stops = ("\n\n",) if last else ("\n\n", f"\n{number + 1}.")
        generation = generate(f"{PROMPT}{written}\n\n{EXPAND_ASK}{number}. {point}", *stops, seed=number)
        text = text_of(generation)
        assert generation.matched_stop == stops[-1] and text.startswith(f": To {point}, ")
        assert 1 <= len(re.findall(r"\.(?:\s|$)", text)) <= 3 and "\n" not in text and len(generation) >= 12


def test_clauses_run_together_into_the_asked_number_of_sentences() -> None:
    clauses = ["First, one.", "So two.", "Then three.", "Thus four."]
    assert sentences(clauses, 2) == "First, one; so two. Then three; thus four."
    assert sentences(clauses[:1], 3) == "First, one."


def test_the_conclusion_answers_from_the_task_prompts_distribution() -> None:
    written = skeleton(seed=2)
    expanded = "\n".join(f"{n}. {p}: worked." for n, p in enumerate(points_in("1." + written), 1))
    prompt = f"{PROMPT}{written}\n\n{CONCLUDE_ASK}{expanded}\n\n"
    text = text_of(generate(prompt, config=SimConfig()))
    top = AnswerDistribution.derived(PROMPT).top
    params = SamplingParams(max_tokens=1000, temperature=0, seed=0)
    assert ScriptedModel(SimConfig()).generate(prompt, params, 0).answer == top
    assert re.search(r" The answer is \\boxed\{(\d+)\}\.$", text)


async def test_a_skeleton_of_thought_run_expands_every_point_from_the_cached_skeleton() -> None:
    backend = Recording(SimBackend(SimConfig(time_scale=0, answers=ANSWERS, seed=3)))
    async with Orchestrator(backend, Strategy(threads=2, protocol="sot", seed=3)) as orchestrator:
        result = await orchestrator.run("How many positive divisors does 360 have?")
    reasoning = result.steps[0].reasoning
    assert reasoning is not None and result.answer in ANSWERS and reasoning.rounds == 3
    for thread in result.threads:
        points = points_in(thread.text.split("\n\n")[0])
        assert thread.status is ThreadStatus.DONE and thread.answer in ANSWERS and thread.notes == []
        assert thread.requests == len(points) + 2 and 3 <= len(points) <= 6
        assert all(f"\n{n}. {p}: To {p}, " in thread.text for n, p in enumerate(points, 1))
    assert reasoning.requests == 1 + sum(thread.requests for thread in result.threads)
    expansions = [e.completion for e in backend.exchanges if EXPAND_ASK in e.prompt]
    assert expansions and all(c is not None and c.usage.cached_tokens > 0.7 * c.usage.prompt_tokens for c in expansions)
    assert reasoning.cached_share > 0.5
