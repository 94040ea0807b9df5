"""ThreadWeaver's spawn/join on a simulated server playing scripted model outputs, well-formed and not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from support import Recording, Scripted

from orchestrator.backends.base import FinishReason, SamplingParams
from orchestrator.backends.sim import SimBackend, SimConfig
from orchestrator.events import ignore
from orchestrator.protocols import MULTIVERSE, PARALLEL_R1, ThreadWeaverConfig
from orchestrator.protocols.threadweaver import ThreadWeaver
from orchestrator.threads import Lane, Trace

PROMPT = "Solve: what is 3 + 4? Think step by step.\n"
OUTLINES = "<Parallel>\n<Outlines>\n<Outline>1: add</Outline>\n<Outline>2: check</Outline>\n</Outlines>"
THREADWEAVER_TRUNK = (
    f"Plan first.\n{OUTLINES}\n<Thread>\n1: sequential</Thread>\n</Parallel>\nThe answer is \\boxed{{7}}."
)


def model(
    trunk: str, threads: Callable[[str], str], after: str = " So the answer is \\boxed{7}."
) -> Callable[[str], str]:
    """A scripted model: `trunk` for a fresh prompt, `threads(header)` inside a thread, `after` a join."""

    def respond(prompt: str) -> str:
        tail = prompt[-40:]
        for number in range(1, 10):
            if tail.endswith((f"\n<Thread>\n{number}:", f"\n<Path>\n{number}:")):
                return threads(str(number))
        if tail.endswith("\n<Path>\n"):
            return threads("path")
        return (
            after if prompt.count("</Parallel>") + prompt.count("<Conclusion>\n") > 0 or "Summary>" in tail else trunk
        )

    return respond


def closed_threads(number: str) -> str:
    return f" work on {number}</Thread>\nmore text the stop cuts"


async def weave(
    respond: Callable[[str], str],
    config: ThreadWeaverConfig | None = None,
    max_tokens: int = 2048,
    fail: Callable[[str], bool] = lambda prompt: False,
) -> tuple[Trace, Lane, Recording]:
    backend = Recording(SimBackend(SimConfig(time_scale=0), scripts=[Scripted(respond)]), fail)
    config = config or ThreadWeaverConfig(instructions=False)
    lane = Lane(backend, 0, ignore)
    async with asyncio.timeout(10):
        trace = await ThreadWeaver(config).run(lane, PROMPT, SamplingParams(max_tokens=max_tokens, seed=3))
    await backend.close()
    return trace, lane, backend


async def test_forks_at_the_outlines_runs_each_thread_and_joins_them_in_order() -> None:
    trace, lane, backend = await weave(model(THREADWEAVER_TRUNK, closed_threads))
    assert trace.text == (
        f"Plan first.\n{OUTLINES}\n<Thread>\n1: work on 1</Thread>\n<Thread>\n2: work on 2</Thread>\n</Parallel>\n"
        " So the answer is \\boxed{7}."
    )
    assert (trace.finish, trace.rounds, trace.notes, lane.requests) == (FinishReason.STOP, 1, (), 4)
    trunk, first, second, resumed = backend.exchanges
    assert trunk.stop == ("</Outlines>",) and first.stop == second.stop == ("</Thread>",)
    assert first.prompt == f"{PROMPT}Plan first.\n{OUTLINES}\n<Thread>\n1:"
    assert resumed.prompt == PROMPT + trace.text.removesuffix(" So the answer is \\boxed{7}.")


async def test_the_critical_path_counts_the_longest_thread_of_a_round_once() -> None:
    def threads(number: str) -> str:
        return " short</Thread>" if number == "1" else " a much longer thread with many more words in it</Thread>"

    trace, lane, backend = await weave(model(THREADWEAVER_TRUNK, threads))
    tokens = [exchange.completion.usage.completion_tokens for exchange in backend.exchanges if exchange.completion]
    assert trace.critical_tokens == tokens[0] + max(tokens[1:3]) + tokens[3]
    assert lane.usage.completion_tokens == sum(tokens) > trace.critical_tokens


async def test_threads_find_the_shared_prefix_cached() -> None:
    _, _, backend = await weave(model(THREADWEAVER_TRUNK, closed_threads))
    _, first, second, resumed = (exchange.completion.usage for exchange in backend.exchanges)
    for thread in (first, second):
        assert thread.cached_tokens == thread.prompt_tokens - 8, "new: the trunk's last token and the 7-token header"
    assert resumed.cached_tokens >= first.prompt_tokens + first.completion_tokens - 2, "thread 1's path is cached too"


async def test_an_unclosed_outline_block_is_read_as_plain_reasoning_without_hanging() -> None:
    trunk = "Plan.\n<Parallel>\n<Outlines>\n<Outline>1: add</Outline>\nThe answer is \\boxed{7}."
    trace, lane, _ = await weave(model(trunk, closed_threads))
    assert (trace.text, trace.finish, trace.rounds, lane.requests) == (trunk, FinishReason.STOP, 0, 1)
    assert trace.notes and "ended inside an open block" in trace.notes[0]


async def test_a_block_without_outlines_is_closed_and_the_model_goes_on() -> None:
    trunk = "Plan.\n<Parallel>\n<Outlines>\nnothing here\n</Outlines>\nmore"
    trace, lane, _ = await weave(model(trunk, closed_threads))
    assert trace.text.startswith("Plan.\n<Parallel>\n<Outlines>\nnothing here\n</Outlines>\n</Parallel>\n")
    assert trace.notes == ("round 1: no outline in the block; it was closed",)
    assert trace.text.endswith("\\boxed{7}.") and lane.requests == 2


async def test_a_model_that_keeps_forking_stops_forking_after_max_rounds() -> None:
    forever = f"{OUTLINES}\n<Thread>\n1: x</Thread>\n</Parallel>\n"
    respond = model(forever, closed_threads, after=forever)
    trace, lane, _ = await weave(respond, ThreadWeaverConfig(instructions=False, max_rounds=3))
    assert trace.rounds == 3 and trace.finish is FinishReason.STOP
    assert lane.requests == 1 + 3 * 3, "three rounds of trunk + two threads, then one request that cannot fork"


async def test_a_thread_that_runs_into_its_end_of_sequence_is_closed_and_noted() -> None:
    trace, _, _ = await weave(model(THREADWEAVER_TRUNK, lambda number: f" open-ended {number}"))
    assert "\n<Thread>\n1: open-ended 1</Thread>\n<Thread>\n2: open-ended 2</Thread>\n</Parallel>\n" in trace.text
    assert trace.notes == (
        "round 1, thread 1: ended its sequence without </Thread>; it was added",
        "round 1, thread 2: ended its sequence without </Thread>; it was added",
    )


async def test_outlines_over_the_limit_run_only_the_first_ones() -> None:
    many = "\n".join(f"<Outline>{i}: part {i}</Outline>" for i in range(1, 6))
    trunk = f"<Parallel>\n<Outlines>\n{many}\n</Outlines>"
    trace, lane, _ = await weave(model(trunk, closed_threads), ThreadWeaverConfig(instructions=False, max_threads=2))
    assert lane.requests == 4 and "\n<Thread>\n3:" not in trace.text
    assert trace.notes == ("round 1: 5 outlines, over the limit of 2; the first 2 ran",)


async def test_a_thread_cut_at_the_token_budget_is_closed_and_the_thread_ends_at_its_length() -> None:
    trace, _, _ = await weave(model(THREADWEAVER_TRUNK, lambda n: " word" * 400 + "</Thread>"), max_tokens=120)
    assert trace.finish is FinishReason.LENGTH and trace.critical_tokens <= 120
    assert "</Thread>\n</Parallel>\n" in trace.text and "cut at" in trace.notes[0]


async def test_a_failing_thread_fails_the_whole_thread_with_its_error() -> None:
    trace, _, _ = await weave(model(THREADWEAVER_TRUNK, closed_threads), fail=lambda p: p.endswith("\n<Thread>\n2:"))
    assert trace.finish is None and trace.error == "injected failure"


async def test_multiverse_joins_paths_and_opens_the_conclusion_for_the_model() -> None:
    goal = "<Parallel>\n<Goal>\n<Outline>1: a</Outline>\n<Outline>2: b</Outline>\n</Goal>"
    respond = model(goal, lambda n: f" path {n}</Path>", after="done</Conclusion>\n</Parallel>\n\\boxed{7}")
    trace, _, backend = await weave(respond, ThreadWeaverConfig(format=MULTIVERSE, instructions=False))
    assert trace.text == (
        f"{goal}\n<Path>\n1: path 1</Path>\n<Path>\n2: path 2</Path>\n<Conclusion>\ndone</Conclusion>\n</Parallel>\n\\boxed{{7}}"
    )
    assert backend.exchanges[0].stop == ("</Goal>",)


async def test_parallel_r1_forks_at_the_parallel_tag_into_paths_with_their_own_seeds() -> None:
    respond = model("Think.\n<Parallel>\n<Path>\nsequential", lambda n: " a path</Path>", after="sum</Summary>")
    trace, _, backend = await weave(respond, ThreadWeaverConfig(format=PARALLEL_R1, instructions=False))
    assert trace.text == "Think.\n<Parallel>\n<Path>\n a path</Path>\n<Path>\n a path</Path>\n<Summary>\nsum</Summary>"
    assert backend.exchanges[0].stop == ("<Parallel>",)
    assert backend.exchanges[1].prompt == backend.exchanges[2].prompt


async def test_stopping_the_lane_aborts_every_running_thread() -> None:
    backend = Recording(
        SimBackend(SimConfig(time_scale=1.0), scripts=[Scripted(model(THREADWEAVER_TRUNK, lambda n: " w" * 3000))])
    )
    lane = Lane(backend, 0, ignore)
    run = asyncio.create_task(
        ThreadWeaver(ThreadWeaverConfig(instructions=False)).run(lane, PROMPT, SamplingParams(4096))
    )
    async with asyncio.timeout(10):
        while len(backend.exchanges) < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        await lane.stop(prune=True)
        trace = await run
    assert trace.finish is FinishReason.ABORT and not lane.live
    assert [e.completion.finish_reason for e in backend.exchanges[1:]] == [FinishReason.ABORT] * 2
    assert len(backend.exchanges) == 3, "nothing runs after the lane stops"
    await backend.close()


def test_instructions_show_the_format_before_the_prompt_and_can_be_left_out() -> None:
    shown = ThreadWeaver().prefix("P")
    assert shown.endswith("P") and "<Outline>1: <what thread 1 does></Outline>" in shown
    assert ThreadWeaver(ThreadWeaverConfig(instructions=False)).prefix("P") == "P"


@pytest.mark.parametrize("fmt", ["threadweaver", "multiverse", "parallel-r1"])
def test_each_named_format_is_a_configuration(fmt: str) -> None:
    assert ThreadWeaverConfig(format=fmt).format.fork in ("</Outlines>", "</Goal>", "<Parallel>")
