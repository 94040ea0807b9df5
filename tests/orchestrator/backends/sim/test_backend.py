import asyncio
import time

import pytest
from support import collect

from orchestrator.backends.base import (
    Backend,
    Completion,
    CompletionRequest,
    FinishReason,
    SamplingParams,
    TextChunk,
    complete,
)
from orchestrator.backends.sim import SimBackend, SimConfig
from orchestrator.errors import BackendError

REASONING = "Reason step by step and put the final answer in \\boxed{}. How many divisors does 360 have?"


def request(prompt: str = REASONING, rid: str | None = None, **params: object) -> CompletionRequest:
    sampling = SamplingParams(**params)  # type: ignore[arg-type]
    return CompletionRequest(prompt, sampling) if rid is None else CompletionRequest(prompt, sampling, rid)


def test_it_is_a_backend_and_builds_without_an_event_loop() -> None:
    backend = SimBackend(SimConfig(time_scale=0))
    assert isinstance(backend, Backend)
    completion = asyncio.run(complete(backend, request(max_tokens=5)))
    assert completion.usage.completion_tokens == 5
    asyncio.run(backend.close())


async def test_chunks_then_exactly_one_completion_that_sums_them() -> None:
    backend = SimBackend(SimConfig(time_scale=0, trace_tokens=80))
    events = [event async for event in backend.stream(request(logprobs=True, top_logprobs=2))]
    chunks, final = [e for e in events[:-1] if isinstance(e, TextChunk)], events[-1]
    assert isinstance(final, Completion) and len(chunks) == len(events) - 1
    assert "".join(c.text for c in chunks) == final.text
    assert sum(c.tokens for c in chunks) == final.usage.completion_tokens
    assert all(len(c.logprobs) == len(c.top_logprobs) == c.tokens for c in chunks)
    assert final.finish_reason is FinishReason.STOP
    assert final.usage.prompt_tokens == len(backend.tokenizer.encode(REASONING))
    assert 0 < final.usage.reasoning_tokens < final.usage.completion_tokens
    await backend.close()


async def test_stop_strings_and_max_tokens_reach_the_completion() -> None:
    backend = SimBackend(SimConfig(time_scale=0, trace_tokens=80))
    chunks, stopped = await collect(backend, request(stop=("</think>",)))
    assert stopped.finish_reason is FinishReason.STOP and stopped.matched_stop == "</think>"
    assert "</think>" not in stopped.text and "".join(c.text for c in chunks) == stopped.text
    _, cut = await collect(backend, request(max_tokens=7))
    assert cut.finish_reason is FinishReason.LENGTH and cut.usage.completion_tokens == 7
    await backend.close()


async def test_a_lagging_consumer_gets_coalesced_chunks() -> None:
    backend = SimBackend(SimConfig(time_scale=0))
    stream = backend.stream(request(max_tokens=200))
    first = await anext(stream)
    await asyncio.sleep(0.05)
    second = await anext(stream)
    assert isinstance(first, TextChunk) and isinstance(second, TextChunk)
    assert second.tokens > 1 and len(backend.tokenizer.pieces(second.text)) <= second.tokens
    await stream.aclose()
    await backend.close()


async def test_identical_prompts_arriving_together_each_compute_the_prefix() -> None:
    backend = SimBackend(SimConfig(time_scale=0, trace_tokens=32))
    results = await asyncio.gather(*(complete(backend, request(seed=i)) for i in range(8)))
    prompt_tokens = results[0].usage.prompt_tokens
    assert [r.usage.cached_tokens for r in results] == [0] * 8
    assert backend.stats()["prefill_tokens"] == 8 * prompt_tokens
    await backend.close()


async def test_after_a_prefill_only_warm_up_threads_reuse_all_but_the_last_prompt_token() -> None:
    backend = SimBackend(SimConfig(time_scale=0, trace_tokens=32))
    warm = await complete(backend, request(max_tokens=0))
    assert warm.finish_reason is FinishReason.LENGTH and warm.text == "" and warm.usage.completion_tokens == 0
    results = await asyncio.gather(*(complete(backend, request(seed=i)) for i in range(8)))
    prompt_tokens = warm.usage.prompt_tokens
    assert {r.usage.cached_tokens for r in results} == {prompt_tokens - 1}
    assert backend.stats()["prefill_tokens"] == prompt_tokens + 8
    await backend.close()


async def test_a_warmed_prefix_is_reused_by_longer_prompts() -> None:
    backend = SimBackend(SimConfig(time_scale=0, trace_tokens=32))
    prefix = ("Shared context for every thread. " * 20).rstrip()  # a trailing space would merge with " Thread"
    await complete(backend, request(prefix, max_tokens=0))
    thread = await complete(backend, request(prefix + " Thread 3: reason step by step.", max_tokens=4))
    assert thread.usage.cached_tokens == len(backend.tokenizer.encode(prefix))
    await backend.close()


async def test_a_finished_request_caches_its_prompt_and_output() -> None:
    backend = SimBackend(SimConfig(time_scale=0, trace_tokens=32))
    first = await complete(backend, request(REASONING + "\n", seed=1))
    again = await complete(backend, request(REASONING + "\n" + first.text, max_tokens=1))
    assert again.usage.prompt_tokens == first.usage.prompt_tokens + first.usage.completion_tokens - 1  # no EOS
    assert again.usage.cached_tokens == again.usage.prompt_tokens - 1
    await backend.close()


async def test_eviction_under_a_small_cache_makes_later_requests_miss() -> None:
    backend = SimBackend(SimConfig(time_scale=0, cache_tokens=400, trace_tokens=32))
    warmed = "Alpha context sentence number one. " * 15
    await complete(backend, request(warmed, max_tokens=0))
    assert (await complete(backend, request(warmed, max_tokens=1))).usage.cached_tokens > 0
    for other in ("Bravo", "Charlie", "Delta"):
        await complete(backend, request(f"{other} context sentence, different. " * 15, max_tokens=8))
    miss = await complete(backend, request(warmed, max_tokens=1))
    assert miss.usage.cached_tokens == 0
    stats = backend.stats()
    assert stats["cache_evicted_tokens"] > 0 and stats["cache_held_tokens"] <= 400
    await backend.close()


async def test_concurrent_requests_decode_in_one_batch() -> None:
    backend = SimBackend(SimConfig(time_scale=0))
    single = SimBackend(SimConfig(time_scale=0))
    await complete(single, request(max_tokens=50))
    await asyncio.gather(*(complete(backend, request(max_tokens=50, seed=i)) for i in range(4)))
    assert backend.stats()["decode_steps"] == single.stats()["decode_steps"] == 49
    assert backend.stats()["gpu_s"] < 1.5 * single.stats()["gpu_s"]
    await backend.close()
    await single.close()


async def test_no_more_than_max_running_requests_run_at_once() -> None:
    backend = SimBackend(SimConfig(time_scale=0, max_running=3))
    await asyncio.gather(*(complete(backend, request(max_tokens=20, seed=i)) for i in range(10)))
    stats = backend.stats()
    assert stats["peak_running"] == 3 and stats["finished"] == 10
    await backend.close()


async def test_time_scale_makes_real_time_follow_the_simulated_clock() -> None:
    backend = SimBackend(SimConfig(time_scale=1.0))
    started = time.perf_counter()
    await complete(backend, request(max_tokens=60))
    elapsed = time.perf_counter() - started
    simulated = backend.stats()["gpu_s"]
    assert 0.2 < simulated < 0.3  # one prefill and 59 decode steps of about 4 ms
    assert 0.7 * simulated <= elapsed <= 2.0 * simulated + 0.05
    await backend.close()


async def test_time_scale_zero_runs_faster_than_real_time() -> None:
    backend = SimBackend(SimConfig(time_scale=0))
    started = time.perf_counter()
    await complete(backend, request(max_tokens=500))
    assert time.perf_counter() - started < 0.5 * backend.stats()["gpu_s"]
    await backend.close()


async def test_abort_stops_a_running_request_at_once_with_its_partial_text() -> None:
    backend = SimBackend(SimConfig(time_scale=0.2, trace_tokens=5000))
    stream = backend.stream(request(rid="thread-0"))
    seen = [await anext(stream) for _ in range(5)]
    await backend.abort("thread-0")
    rest = [event async for event in stream]
    final = rest[-1]
    assert isinstance(final, Completion) and final.finish_reason is FinishReason.ABORT
    text = "".join(e.text for e in [*seen, *rest[:-1]] if isinstance(e, TextChunk))
    assert final.text == text and final.usage.completion_tokens >= 5
    generated = backend.stats()["generated_tokens"]
    await asyncio.sleep(0.05)
    assert backend.stats()["generated_tokens"] == generated
    assert backend.stats()["aborted"] == 1
    await backend.close()


async def test_abort_of_a_live_id_also_ends_the_ids_it_prefixes() -> None:
    backend = SimBackend(SimConfig(time_scale=0.05, trace_tokens=3000))
    tasks = {rid: asyncio.create_task(complete(backend, request(rid=rid))) for rid in ("job1", "job1-b", "job2")}
    await asyncio.sleep(0.02)
    await backend.abort("job1")
    done = await asyncio.wait_for(asyncio.gather(tasks["job1"], tasks["job1-b"]), timeout=1.0)
    assert {c.finish_reason for c in done} == {FinishReason.ABORT}
    assert not tasks["job2"].done()
    await backend.abort_all()
    assert (await tasks["job2"]).finish_reason is FinishReason.ABORT
    await backend.close()


async def test_abort_of_an_id_no_request_has_is_ignored_as_sglang_does() -> None:
    backend = SimBackend(SimConfig(time_scale=0.05, trace_tokens=3000))
    task = asyncio.create_task(complete(backend, request(rid="job1-a")))
    await asyncio.sleep(0.02)
    await backend.abort("job1")  # a prefix, but not a live request id: the tokenizer manager drops it
    await asyncio.sleep(0.02)
    assert not task.done() and backend.stats()["aborted"] == 0
    await backend.close()
    assert (await task).finish_reason is FinishReason.ABORT


async def test_aborting_a_waiting_request_ends_it_empty() -> None:
    backend = SimBackend(SimConfig(time_scale=0.05, max_running=1))
    running = asyncio.create_task(complete(backend, request(rid="r1", max_tokens=400)))
    waiting = asyncio.create_task(complete(backend, request(rid="r2")))
    await asyncio.sleep(0.01)
    await backend.abort("r2")
    aborted = await asyncio.wait_for(waiting, timeout=1.0)
    assert aborted.finish_reason is FinishReason.ABORT and aborted.text == ""
    assert aborted.usage.completion_tokens == 0 and aborted.usage.cached_tokens == 0
    running.cancel()
    await backend.close()


async def test_closing_the_consumer_aborts_the_request() -> None:
    backend = SimBackend(SimConfig(time_scale=0.05, trace_tokens=3000))
    stream = backend.stream(request())
    await anext(stream)
    await stream.aclose()
    stats = backend.stats()
    assert stats["aborted"] == 1 and stats["running"] == 0
    generated = stats["generated_tokens"]
    await asyncio.sleep(0.02)
    assert backend.stats()["generated_tokens"] == generated
    await backend.close()


async def test_cancelling_the_consumer_task_aborts_the_request() -> None:
    backend = SimBackend(SimConfig(time_scale=0.05, trace_tokens=3000))
    task = asyncio.create_task(complete(backend, request()))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.stats()["aborted"] == 1 and backend.stats()["running"] == 0
    await backend.close()


async def test_close_ends_open_streams_and_refuses_new_ones() -> None:
    backend = SimBackend(SimConfig(time_scale=0.05, trace_tokens=3000))
    task = asyncio.create_task(complete(backend, request()))
    await asyncio.sleep(0.02)
    await backend.close()
    assert (await asyncio.wait_for(task, timeout=1.0)).finish_reason is FinishReason.ABORT
    with pytest.raises(BackendError):
        await complete(backend, request())


async def test_flush_cache_is_refused_while_busy_and_empties_the_cache_when_idle() -> None:
    backend = SimBackend(SimConfig(time_scale=0.05))
    task = asyncio.create_task(complete(backend, request(max_tokens=100)))
    await asyncio.sleep(0.01)
    assert backend.flush_cache() is False
    await task
    assert backend.flush_cache() is True
    assert (await complete(backend, request(max_tokens=1))).usage.cached_tokens == 0
    await backend.close()


async def test_misuse_is_a_backend_error() -> None:
    backend = SimBackend(SimConfig(time_scale=0, cache_tokens=50))
    with pytest.raises(BackendError):
        await complete(backend, request(""))
    with pytest.raises(BackendError):
        await complete(backend, request("word " * 100))
    with pytest.raises(BackendError):
        await complete(backend, request(max_tokens=-1))
    await backend.close()


async def test_info_labels_every_figure_as_simulated() -> None:
    backend = SimBackend(SimConfig(time_scale=0, model="qwen3-8b", gpu="h100"))
    await complete(backend, request(max_tokens=10))
    info = backend.info()
    assert info.kind == "sim" and info.simulated is True
    assert info.model == "simulated Qwen3-8B on H100 SXM"
    for key in ("gpu_s", "prefill_tokens", "cached_tokens", "decode_steps", "aborted", "finished", "cache_hit_rate"):
        assert key in info.stats
    assert info.stats["finished"] == 1 and info.stats["decode_steps"] == 9
    assert 0 < info.stats["sim_cpu_s"] <= time.process_time()
    await backend.close()


async def test_cache_hit_rate_counts_cached_prompt_tokens() -> None:
    backend = SimBackend(SimConfig(time_scale=0))
    await complete(backend, request(max_tokens=0))
    await complete(backend, request(max_tokens=1))
    stats = backend.stats()
    assert stats["cache_hit_rate"] == pytest.approx(stats["cached_tokens"] / stats["prompt_tokens"])
    assert 0.4 < stats["cache_hit_rate"] < 0.5
    await backend.close()
