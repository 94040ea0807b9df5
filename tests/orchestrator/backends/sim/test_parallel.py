"""The simulator plays a model trained on ThreadWeaver, Multiverse and Parallel-R1: one sequential trace,
cut by the protocol's stop strings into trunk and thread requests that agree on the plan and the answer."""

from __future__ import annotations

import re
import statistics

import pytest
from support import Recording

from orchestrator import Orchestrator, Strategy
from orchestrator.backends.base import FinishReason, SamplingParams
from orchestrator.backends.sim import AnswerDistribution, ScriptedModel, SimBackend, SimConfig
from orchestrator.backends.sim.generation import Generation
from orchestrator.backends.sim.parallel import PLAN, ParallelScript, Sample, format_in
from orchestrator.protocols.tags import FORMATS, INSTRUCTIONS, TagSet
from orchestrator.result import RunResult, ThreadStatus
from orchestrator.spec import DEFAULT_PROMPT

TASK = "How many positive divisors does 360 have?"
ANSWERS = {"24": 0.7, "12": 0.2, "36": 0.1}
CONFIG = SimConfig(answers=ANSWERS)


def prompt_for(tags: TagSet) -> str:
    return INSTRUCTIONS.format(example=tags.example()) + DEFAULT_PROMPT.replace("{task}", TASK)


def generate(
    prompt: str, *stop: str, seed: int = 0, config: SimConfig = CONFIG, temperature: float = 0.7
) -> Generation:
    params = SamplingParams(max_tokens=100_000, temperature=temperature, stop=stop, seed=seed)
    return ScriptedModel(config).generate(prompt, params, counter=0)


def text_of(generation: Generation) -> str:
    return generation.text(len(generation))


def threads_in(block: str, tags: TagSet) -> list[str]:
    """The texts of a block's threads (between each header and its closing tag)."""
    opening = re.escape(f"\n{tags.thread[0]}\n") + (r"\d+:" if tags.numbered else "")
    return re.findall(f"{opening}(.*?){re.escape(tags.thread[1])}", block, re.DOTALL)


def stages_of(text: str) -> int:
    match = PLAN.search(text)
    assert match is not None, text[:200]
    return int(match.group(1))


@pytest.mark.parametrize("tags", FORMATS.values(), ids=FORMATS)
def test_the_prompt_of_each_format_is_matched_and_plain_prompts_are_not(tags: TagSet) -> None:
    prompt = prompt_for(tags)
    assert ParallelScript().matches(prompt) and format_in(prompt) == (tags.example(), tags)
    assert generate(prompt).script == "parallel"
    assert not ParallelScript().matches(DEFAULT_PROMPT.replace("{task}", TASK))
    assert generate(DEFAULT_PROMPT.replace("{task}", TASK)).script == "reasoning"


@pytest.mark.parametrize("tags", FORMATS.values(), ids=FORMATS)
@pytest.mark.parametrize("seed", range(4))
def test_an_unstopped_request_writes_the_whole_sequential_trace(tags: TagSet, seed: int) -> None:
    generation = generate(prompt_for(tags), seed=seed)
    text = text_of(generation)
    stages = stages_of(text)
    assert text.startswith(f"\nI will work through this in {stages} parallel stage") and 1 <= stages <= 3
    assert text.count(tags.parallel[0]) == text.count(tags.parallel[1]) == stages
    for block in text.split(tags.parallel[0])[1:]:
        threads = threads_in(block, tags)
        if tags.outlines is not None:
            outlines = tags.outlines_in(block)
            assert 2 <= len(outlines) == len(threads) <= 4
            assert f"{tags.outlines[1]}{tags.joined(threads)}" in block
            assert all(outline.text in thread for outline, thread in zip(outlines, threads, strict=True))
        else:
            assert len(threads) == tags.paths and block.startswith(tags.joined(threads))
        if tags.conclusion is not None:
            assert re.search(
                rf"{re.escape(tags.suffix)}[^<]+{re.escape(tags.conclusion[1])}\n{tags.parallel[1]}", block
            )
    assert re.search(r"\n\nThe answer is \\boxed\{(\d+)\}\.$", text).group(1) in ANSWERS  # type: ignore[union-attr]
    assert (generation.finish_reason, generation.matched_stop, generation.answer in ANSWERS) == (
        FinishReason.STOP,
        None,
        True,
    )


@pytest.mark.parametrize("tags", FORMATS.values(), ids=FORMATS)
def test_the_fork_stop_cuts_the_same_trace_where_the_threads_begin(tags: TagSet) -> None:
    whole = text_of(generate(prompt_for(tags), seed=5))
    trunk = generate(prompt_for(tags), tags.fork, seed=5)
    assert trunk.matched_stop == tags.fork
    assert text_of(trunk) == whole[: whole.index(tags.fork)]


@pytest.mark.parametrize("tags", FORMATS.values(), ids=FORMATS)
def test_a_thread_request_works_on_its_outline_then_closes_the_thread(tags: TagSet) -> None:
    base = prompt_for(tags) + text_of(generate(prompt_for(tags), tags.fork, seed=1)) + tags.fork
    outlines = tags.outlines_in(base[len(prompt_for(tags)) :])
    for outline in outlines:
        thread = generate(base + tags.header(outline.number), tags.thread[1], seed=7919 * outline.number)
        text = text_of(thread)
        assert thread.matched_stop == tags.thread[1] and len(thread) >= 20
        assert text.startswith(" " if tags.numbered else "") and "<" not in text
        assert outline.text == "" or outline.text in text


def test_threads_of_an_outline_less_format_differ_by_seed() -> None:
    tags = FORMATS["parallel-r1"]
    base = prompt_for(tags) + text_of(generate(prompt_for(tags), tags.fork, seed=1)) + tags.fork + tags.header(1)
    first, second = (text_of(generate(base, tags.thread[1], seed=seed)) for seed in (7919, 2 * 7919))
    assert first != second and first.startswith("Let me try ")


def later_prompt(tags: TagSet, seed: int) -> tuple[str, int]:
    """A first request's trunk joined with its threads as the protocol joins them, and the planned stages."""
    base = prompt_for(tags) + text_of(generate(prompt_for(tags), tags.fork, seed=seed)) + tags.fork
    count = len(tags.outlines_in(base[len(prompt_for(tags)) :]))
    threads = [text_of(generate(base + tags.header(n), tags.thread[1], seed=seed + n)) for n in range(1, count + 1)]
    return base + tags.joined(threads), stages_of(base)


@pytest.mark.parametrize("tags", FORMATS.values(), ids=FORMATS)
def test_a_later_trunk_request_reads_the_plan_back_and_writes_only_the_rest(tags: TagSet) -> None:
    planned: set[int] = set()
    for seed in range(6):
        prompt, stages = later_prompt(tags, seed)
        planned.add(stages)
        rest = text_of(generate(prompt, seed=seed + 100))
        closing_the_first = tags.conclusion is not None  # else the join closed it
        assert rest.count(tags.parallel[0]) == stages - 1
        assert rest.count(tags.parallel[1]) == stages - 1 + closing_the_first
        assert PLAN.search(rest) is None and rest.endswith("}.")
        if tags.conclusion is not None:
            assert re.match(rf"[^<]+{re.escape(tags.conclusion[1])}\n{re.escape(tags.parallel[1])}\n", rest)
    assert len(planned) > 1


@pytest.mark.parametrize("tags", FORMATS.values(), ids=FORMATS)
def test_every_request_of_a_sample_keys_its_answers_on_the_task_prompt(tags: TagSet) -> None:
    config = SimConfig()  # no answers: each prompt derives its own, so the key must be the same
    prompt, stages = later_prompt(tags, seed=2)
    sample = Sample.read(prompt, tags.example())
    assert (sample.key, sample.stages) == (prompt_for(tags), stages)
    top = AnswerDistribution.derived(prompt_for(tags)).top
    assert generate(prompt_for(tags), config=config, temperature=0).answer == top
    assert generate(prompt, config=config, temperature=0).answer == top


@pytest.mark.parametrize("trace_tokens", [400, 2000])
def test_the_whole_trace_is_roughly_trace_tokens_long(trace_tokens: int) -> None:
    config = SimConfig(answers=ANSWERS, trace_tokens=trace_tokens)
    lengths = [len(generate(prompt_for(FORMATS["threadweaver"]), seed=seed, config=config)) for seed in range(12)]
    assert 0.7 * trace_tokens < statistics.median(lengths) < 1.6 * trace_tokens


async def weave(fmt: str, seed: int, **protocol: object) -> tuple[RunResult, Recording]:
    backend = Recording(SimBackend(SimConfig(time_scale=0, answers=ANSWERS, seed=seed)))
    strategy = Strategy(threads=2, protocol={"name": "threadweaver", "format": fmt, **protocol}, seed=seed)
    async with Orchestrator(backend, strategy) as orchestrator:
        result = await orchestrator.run(TASK)
    return result, backend


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_threadweaver_run_forks_on_the_model_joins_and_answers(fmt: str) -> None:
    tags = FORMATS[fmt]
    result, backend = await weave(fmt, seed=1)
    reasoning = result.steps[0].reasoning
    assert reasoning is not None and result.answer in ANSWERS and reasoning.rounds >= 1 and reasoning.requests > 2
    for thread in result.threads:
        assert thread.status is ThreadStatus.DONE and thread.answer in ANSWERS and thread.notes == []
        assert thread.rounds == stages_of(thread.text) == thread.text.count(tags.parallel[0])
        assert tags.header(1) in thread.text and f"{tags.thread[1]}{tags.header(2)}" in thread.text
        assert f"{tags.thread[1]}{tags.suffix}" in thread.text and thread.text.count(tags.parallel[1]) == thread.rounds
    assert reasoning.cached_share > 0.6
    branches = [exchange.completion for exchange in backend.exchanges if exchange.stop == (tags.thread[1],)]
    assert branches and all(c is not None and c.usage.cached_tokens > 0.9 * c.usage.prompt_tokens for c in branches)


async def test_without_forks_a_run_gets_the_same_format_in_one_request_per_thread() -> None:
    result, backend = await weave("threadweaver", seed=2, max_rounds=0)
    assert result.answer in ANSWERS and len(backend.exchanges) == 3
    for thread in result.threads:
        assert thread.rounds == 0 and thread.requests == 1
        assert thread.text.count("</Outlines>\n<Thread>\n1:") == stages_of(thread.text)
