"""Tests of the replay backend: recorded traces through the simulator engine (orchestrator.backends.replay)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError
from support import collect

from orchestrator.backends import BackendConfig, create_backend
from orchestrator.backends.base import (
    Backend,
    Completion,
    CompletionRequest,
    FinishReason,
    SamplingParams,
    TextChunk,
    complete,
)
from orchestrator.backends.replay import ReplayBackend, ReplayConfig
from orchestrator.backends.sim import ScriptedModel, ScriptOutput, SimConfig
from orchestrator.backends.sim.tokenizer import EOS_ID
from orchestrator.errors import TaskFileError
from orchestrator.spec import parse_task
from orchestrator.traces import TraceProblem, TraceSample, load_traces

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SMALL = str(FIXTURES / "traces_small.jsonl")
LOGPROBS = str(FIXTURES / "traces_logprobs.jsonl")
ESC = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "traces" / "esc_gpt35_last_letters.jsonl"
TEMPLATE = "Solve the following problem. Think step by step.\n\nProblem: {task}\n\nSolution:"


def prompt(question: str) -> str:
    return TEMPLATE.replace("{task}", question)


def request(text: str, rid: str | None = None, **params: object) -> CompletionRequest:
    sampling = SamplingParams(**params)  # type: ignore[arg-type]
    return CompletionRequest(text, sampling) if rid is None else CompletionRequest(text, sampling, rid)


def replay(traces: str = SMALL, **config: object) -> ReplayBackend:
    return ReplayBackend(ReplayConfig(traces=traces, **config))  # type: ignore[arg-type]


# --- configuration ------------------------------------------------------------------------------


def test_a_task_file_names_it_and_create_backend_builds_it() -> None:
    config = TypeAdapter(BackendConfig).validate_python({"kind": "replay", "traces": SMALL})
    assert isinstance(config, ReplayConfig) and config.time_scale == 0.0 and config.order_seed is None
    backend = create_backend(config)
    assert isinstance(backend, ReplayBackend) and isinstance(backend, Backend)
    assert len(backend.problems) == 3 and backend.config.model == config.model
    spec = parse_task({"task": "t", "backend": {"kind": "replay", "traces": SMALL, "gpu": "h100"}})
    assert isinstance(spec.backend, ReplayConfig) and spec.backend.gpu == "h100"


def test_unknown_keys_are_refused_and_a_bad_trace_file_is_a_task_file_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        ReplayConfig(traces=SMALL, seed=1)  # type: ignore[call-arg]
    with pytest.raises(TaskFileError, match="no such trace file"):
        replay(str(tmp_path / "absent.jsonl"))


def test_info_names_the_file_and_the_timing_and_marks_figures_simulated() -> None:
    info = replay(model="qwen3-8b", gpu="h100").info()
    assert info.kind == "replay" and info.simulated is True and info.logprobs is False
    assert info.model == "replay of traces_small.jsonl (timing: simulated Qwen3-8B on H100 SXM)"
    assert info.stats["replay_problems"] == 3 and "gpu_s" in info.stats
    assert replay(LOGPROBS).info().logprobs is True


# --- which sample a request gets ----------------------------------------------------------------


async def test_streams_the_recorded_text_exactly_the_seed_picking_the_sample() -> None:
    backend = replay()
    for problem in backend.problems:
        for seed, sample in enumerate(problem.samples):
            chunks, final = await collect(backend, request(prompt(problem.question), seed=seed))
            assert "".join(c.text for c in chunks) == final.text == sample.text
            assert final.finish_reason is FinishReason.STOP and final.matched_stop is None
    await backend.close()


async def test_seeds_wrap_around_the_samples() -> None:
    backend = replay()
    problem = backend.problems[1]
    final = await complete(backend, request(prompt(problem.question), seed=4 * 7 + 2))
    assert final.text == problem.samples[2].text
    await backend.close()


async def test_order_seed_permutes_each_problems_samples_reproducibly() -> None:
    problem = load_traces(SMALL)[0]

    async def texts(order_seed: int | None) -> list[str]:
        backend = replay(order_seed=order_seed)
        done = [await complete(backend, request(prompt(problem.question), seed=s)) for s in range(4)]
        await backend.close()
        return [c.text for c in done]

    in_file_order = [s.text for s in problem.samples]
    assert await texts(None) == in_file_order
    orders = [await texts(seed) for seed in range(6)]
    assert all(sorted(order) == sorted(in_file_order) for order in orders)
    assert any(order != in_file_order for order in orders)
    assert await texts(3) == orders[3]


async def test_without_a_seed_requests_take_the_samples_in_turn_and_a_warm_up_takes_none() -> None:
    backend = replay()
    problem = backend.problems[2]
    await complete(backend, request(prompt(problem.question), max_tokens=0))
    done = [await complete(backend, request(prompt(problem.question))) for _ in range(5)]
    assert [c.text for c in done] == [s.text for s in [*problem.samples, problem.samples[0]]]
    await backend.close()


async def test_the_longest_recorded_question_in_the_prompt_wins() -> None:
    problems = [
        TraceProblem(question="What is 2 plus 2?", samples=[TraceSample(text="4")]),
        TraceProblem(question="What is 2 plus 2? Answer in words.", samples=[TraceSample(text="four")]),
    ]
    backend = ReplayBackend(ReplayConfig(traces="made-up.jsonl"), problems)
    assert (await complete(backend, request(prompt(problems[1].question), seed=0))).text == "four"
    assert (await complete(backend, request(prompt(problems[0].question), seed=0))).text == "4"
    await backend.close()


async def test_an_unknown_prompt_gets_the_simulators_fallback_without_logprobs() -> None:
    backend = replay()
    chunks, final = await collect(backend, request("Write a haiku about the sea.", logprobs=True))
    assert final.text.startswith("[simulated reply]") and all(not c.logprobs for c in chunks)
    assert backend.stats()["replay_fallbacks"] == 1
    await backend.close()


# --- tokens and log-probabilities ---------------------------------------------------------------


async def test_given_tokens_and_logprobs_are_streamed_as_given() -> None:
    backend = replay(LOGPROBS)
    sample = backend.problems[0].samples[0]
    assert sample.tokens is not None and sample.logprobs is not None and sample.top_logprobs is not None
    chunks, final = await collect(backend, request(prompt(backend.problems[0].question), seed=0, top_logprobs=1))
    assert final.text == sample.text and final.usage.completion_tokens == len(sample.tokens)  # nothing appended
    assert [lp for c in chunks for lp in c.logprobs] == sample.logprobs
    assert [list(top) for c in chunks for top in c.top_logprobs] == [top[:1] for top in sample.top_logprobs]
    ids = [i for c in chunks for i in c.token_ids]
    assert len(ids) == len(sample.tokens) and ids[-1] == EOS_ID  # the recorded empty end-of-sequence token
    await backend.close()


async def test_stop_strings_and_max_tokens_cut_given_tokens_and_their_logprobs() -> None:
    backend = replay(LOGPROBS)
    question, sample = backend.problems[0].question, backend.problems[0].samples[0]
    assert sample.logprobs is not None
    chunks, stopped = await collect(backend, request(prompt(question), seed=0, stop=(" The answer",), logprobs=True))
    assert stopped.text == "6 times 7 is 42." and stopped.matched_stop == " The answer"
    assert [lp for c in chunks for lp in c.logprobs] == sample.logprobs[:8]
    chunks, cut = await collect(backend, request(prompt(question), seed=0, max_tokens=3, logprobs=True))
    assert cut.text == "6 times 7" and cut.finish_reason is FinishReason.LENGTH
    assert [lp for c in chunks for lp in c.logprobs] == sample.logprobs[:3]
    await backend.close()


async def test_traces_without_logprobs_stream_none_even_when_asked() -> None:
    backend = replay()
    assert backend.info().logprobs is False
    chunks, final = await collect(backend, request(prompt(backend.problems[0].question), logprobs=True, top_logprobs=3))
    assert final.text and all(c.logprobs == () and c.top_logprobs == () for c in chunks)
    await backend.close()


def test_a_script_output_with_tokens_must_agree_with_its_text() -> None:
    with pytest.raises(ValueError, match="join"):
        ScriptOutput("abc", tokens=("a", "b"))
    with pytest.raises(ValueError, match="one entry per token"):
        ScriptOutput("ab", tokens=("a", "b"), logprobs=(-0.1,))
    with pytest.raises(ValueError, match="needs `tokens`"):
        ScriptOutput("ab", logprobs=(-0.1,))


def test_scripts_that_give_only_text_keep_their_synthetic_logprobs() -> None:
    model = ScriptedModel(SimConfig())
    generation = model.generate("Write a haiku.", SamplingParams(logprobs=True, top_logprobs=2), counter=0)
    assert generation.logprobs is not None and len(generation.logprobs) == len(generation)
    assert len(generation.chunk(0, 3).top_logprobs) == 3 and generation.token_ids[-1] == EOS_ID


# --- the engine: aborts and the prefix cache -----------------------------------------------------


async def test_an_abort_mid_stream_stops_the_replay() -> None:
    long = TraceProblem(question="Count to a thousand.", samples=[TraceSample(text=" ".join(map(str, range(1000))))])
    backend = ReplayBackend(ReplayConfig(traces="made-up.jsonl", time_scale=0.2), [long])
    stream = backend.stream(request(prompt(long.question), rid="thread-0", seed=0))
    seen = [await anext(stream) for _ in range(5)]
    await backend.abort("thread-0")
    rest = [event async for event in stream]
    final = rest[-1]
    assert isinstance(final, Completion) and final.finish_reason is FinishReason.ABORT
    text = "".join(e.text for e in [*seen, *rest[:-1]] if isinstance(e, TextChunk))
    assert final.text == text and 0 < len(text) < len(long.samples[0].text)
    generated = backend.stats()["generated_tokens"]
    await asyncio.sleep(0.05)
    assert backend.stats()["generated_tokens"] == generated and backend.stats()["aborted"] == 1
    await backend.close()


async def test_threads_on_one_prompt_reuse_the_prefix_after_a_warm_up() -> None:
    backend = replay()
    problem = backend.problems[0]
    warm = await complete(backend, request(prompt(problem.question), max_tokens=0))
    done = await asyncio.gather(*(complete(backend, request(prompt(problem.question), seed=i)) for i in range(4)))
    assert {c.usage.cached_tokens for c in done} == {warm.usage.prompt_tokens - 1}
    assert [c.text for c in done] == [s.text for s in problem.samples]
    await backend.close()


# --- the shared data ----------------------------------------------------------------------------


async def test_the_shared_esc_file_replays_every_sample_of_a_problem() -> None:
    if not ESC.is_file():
        pytest.skip(f"{ESC} is absent")
    backend = replay(str(ESC))
    problem = backend.problems[123]
    done = await asyncio.gather(*(complete(backend, request(prompt(problem.question), seed=i)) for i in range(40)))
    assert [c.text for c in done] == [s.text for s in problem.samples]
    assert backend.info().logprobs is False and backend.stats()["replay_fallbacks"] == 0
    await backend.close()
