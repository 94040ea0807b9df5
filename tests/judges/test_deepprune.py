"""Tests of the served-model judge (judges.deepprune), end to end on the simulator playing the judge model."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest

from judges import DEFAULT_TEMPLATE, DeepPruneJudge, FeatureJudge, Judge, SimulatedJudgeScript, Truncation
from judges.deepprune import probability_same
from judges.template import render
from orchestrator.backends.base import (
    BackendInfo,
    Completion,
    CompletionRequest,
    FinishReason,
    StreamEvent,
    TextChunk,
    Usage,
)
from orchestrator.backends.sim import FallbackScript, SimBackend, SimConfig
from orchestrator.errors import BackendError

STEPS = "Let me compute 12 * 7 first. 12 * 7 = 84. Then add 16, so 84 + 16 = 100. So the answer is 100."
SAME = "First, 12 * 7 = 84. Then we add the 16: 84 + 16 = 100. Thus the answer is 100."
DIFFERENT = "Hmm, maybe count the divisors instead. 360 = 2^3 * 3^2 * 5. So the answer is 24."


def simulator(*scripts: object) -> SimBackend:
    return SimBackend(SimConfig(time_scale=0), scripts=[*scripts, FallbackScript()])  # type: ignore[list-item]


class ScriptedBackend:
    """Answers every prompt with one token; records prompts and how many requests ran at once."""

    def __init__(self, token: str = "yes", logprob: float | None = -0.1, fail: bool = False) -> None:
        self.token, self.logprob, self.fail = token, logprob, fail
        self.prompts: list[str] = []
        self.running = self.peak = 0

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        self.prompts.append(request.prompt)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(0.01)
            if self.fail:
                raise BackendError("the judge server is down", retryable=True)
            logprobs = () if self.logprob is None else (self.logprob,)
            yield TextChunk(self.token, 1, logprobs)
            yield Completion(request.request_id, self.token, FinishReason.LENGTH, Usage(len(request.prompt), 1))
        finally:
            self.running -= 1

    async def abort(self, request_id: str) -> None: ...

    async def close(self) -> None: ...

    def info(self) -> BackendInfo:
        return BackendInfo(kind="scripted", model="test double", simulated=True)


async def test_runs_end_to_end_on_the_simulator_playing_the_judge() -> None:
    async with simulator(SimulatedJudgeScript()) as backend:
        judge = DeepPruneJudge(backend)
        assert isinstance(judge, Judge)
        scores = await judge.same_answer([(STEPS, STEPS), (STEPS, SAME), (STEPS, DIFFERENT), ("", "")])
    assert all(0.0 <= score <= 1.0 for score in scores)
    identical, same, different, _ = scores
    assert identical > 0.5 and same > 0.5
    assert different < 0.5


async def test_the_simulated_judge_says_yes_to_identical_traces() -> None:
    script = SimulatedJudgeScript()
    prompt = render(DEFAULT_TEMPLATE, STEPS, STEPS)
    assert script.matches(prompt) and not script.matches("What is 12 * 7?")
    async with simulator(script) as backend:
        events = [event async for event in backend.stream(CompletionRequest(prompt))]
    assert isinstance(events[-1], Completion) and events[-1].text == "yes"


async def test_a_custom_template_works_when_the_script_knows_it() -> None:
    template = "<|im_start|>user\nA: {trace_a}\nB: {trace_b}\nSame \\boxed{} answer? yes/no<|im_end|>\n"
    async with simulator(SimulatedJudgeScript(template)) as backend:
        judge = DeepPruneJudge(backend, template=template)
        agree, disagree = await judge.same_answer([(STEPS, SAME), (STEPS, DIFFERENT)])
    assert agree > 0.5 > disagree


async def test_a_reply_that_is_neither_yes_nor_no_reads_as_even_odds() -> None:
    async with simulator() as backend:
        assert await DeepPruneJudge(backend).same_answer([(STEPS, SAME)]) == [0.5]


@pytest.mark.parametrize("template", ["Are these the same? yes or no", "A: {trace_a} yes or no", "{trace_b} {a}"])
def test_a_template_without_both_placeholders_is_rejected(template: str) -> None:
    with pytest.raises(ValueError, match="lacks"):
        DeepPruneJudge(ScriptedBackend(), template=template)


def test_max_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        DeepPruneJudge(ScriptedBackend(), max_concurrency=0)


async def test_requests_run_concurrently_within_the_bound() -> None:
    backend = ScriptedBackend()
    scores = await DeepPruneJudge(backend, max_concurrency=3).same_answer([(STEPS, SAME)] * 20)
    assert len(scores) == len(backend.prompts) == 20
    assert backend.peak == 3


async def test_traces_are_truncated_into_the_template() -> None:
    backend = ScriptedBackend()
    judge = DeepPruneJudge(backend, template="{trace_a}|{trace_b}", truncation=Truncation(mode="words", limit=3))
    await judge.same_answer([(STEPS, DIFFERENT)])
    assert backend.prompts == ["Let me compute|Hmm, maybe count"]


async def test_the_first_tokens_probability_becomes_p_same() -> None:
    yes, no = ScriptedBackend("yes", math.log(0.8)), ScriptedBackend(" No", math.log(0.8))
    assert (await DeepPruneJudge(yes).same_answer([(STEPS, SAME)]))[0] == pytest.approx(0.8)
    assert (await DeepPruneJudge(no).same_answer([(STEPS, SAME)]))[0] == pytest.approx(0.2)
    assert probability_same("YES ", None) == 1.0
    assert probability_same("no", None) == 0.0
    assert probability_same("maybe", -0.01) == 0.5


async def test_a_backend_error_propagates() -> None:
    with pytest.raises(BackendError, match="down"):
        await DeepPruneJudge(ScriptedBackend(fail=True)).same_answer([(STEPS, SAME)] * 4)


async def test_the_simulated_judge_follows_the_feature_score() -> None:
    judge = FeatureJudge()
    pairs = [(STEPS, SAME), (STEPS, DIFFERENT)]
    async with simulator(SimulatedJudgeScript(judge=judge)) as backend:
        served = await DeepPruneJudge(backend).same_answer(pairs)
    features = await judge.same_answer(pairs)
    assert [score > 0.5 for score in served] == [score > 0.5 for score in features]
