"""Skeleton-of-Thought on a simulated server playing scripted outputs: the layout, the join, malformed skeletons."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from support import Recording, Scripted

from orchestrator.backends.base import FinishReason, SamplingParams
from orchestrator.backends.sim import SimBackend, SimConfig
from orchestrator.events import ignore
from orchestrator.protocols import SkeletonConfig
from orchestrator.protocols.prompts import CONCLUDE_ASK, EXPAND_ASK, SKELETON_ASK
from orchestrator.protocols.skeleton import SkeletonOfThought, points_in
from orchestrator.threads import Lane, Trace

TASK = "What is 3 + 4?"


def model(skeleton: str, expand: Callable[[str], str] = lambda line: " It is done.\n\nmore") -> Callable[[str], str]:
    def respond(prompt: str) -> str:
        if CONCLUDE_ASK in prompt:
            return "The answer is \\boxed{7}."
        if EXPAND_ASK in prompt:
            return expand(prompt.rsplit("\n", 1)[1])
        return skeleton

    return respond


async def sketch(respond: Callable[[str], str], config: SkeletonConfig | None = None) -> tuple[Trace, Lane, Recording]:
    backend = Recording(SimBackend(SimConfig(time_scale=0), scripts=[Scripted(respond)]))
    protocol = SkeletonOfThought(config)
    lane = Lane(backend, 0, ignore)
    async with asyncio.timeout(10):
        trace = await protocol.run(lane, protocol.prefix(TASK), SamplingParams(max_tokens=1024))
    await backend.close()
    return trace, lane, backend


async def test_expands_every_point_at_once_and_concludes_from_them() -> None:
    trace, lane, backend = await sketch(model(" add them\n2. check the sum\n\nand then more"))
    assert trace.text == (
        "1. add them\n2. check the sum\n\n1. add them It is done.\n2. check the sum It is done.\n\n"
        "The answer is \\boxed{7}."
    )
    assert (trace.finish, trace.rounds, lane.requests, trace.notes) == (FinishReason.STOP, 3, 4, ())
    skeleton, first, second, conclusion = backend.exchanges
    assert skeleton.prompt == TASK + SKELETON_ASK and skeleton.stop == ("\n\n",)
    shared = f"{TASK}{SKELETON_ASK} add them\n2. check the sum\n\n{EXPAND_ASK}"
    assert first.prompt == shared + "1. add them" and first.stop == ("\n\n", "\n2.")
    assert second.prompt == shared + "2. check the sum" and second.stop == ("\n\n",)
    assert conclusion.prompt.endswith(f"{CONCLUDE_ASK}1. add them It is done.\n2. check the sum It is done.\n\n")


async def test_expansions_find_the_prompt_and_the_skeleton_cached() -> None:
    _, _, backend = await sketch(model(" add them\n2. check the sum"))
    skeleton = backend.exchanges[0].completion.usage
    for exchange in backend.exchanges[1:3]:
        assert exchange.completion.usage.cached_tokens >= skeleton.prompt_tokens + skeleton.completion_tokens - 2


async def test_the_critical_path_is_the_skeleton_the_longest_point_and_the_conclusion() -> None:
    trace, _, backend = await sketch(model(" a\n2. b", lambda line: " short." if "1." in line else " much " * 30))
    tokens = [exchange.completion.usage.completion_tokens for exchange in backend.exchanges]
    assert trace.critical_tokens == tokens[0] + max(tokens[1:3]) + tokens[3]


async def test_a_skeleton_without_points_is_answered_in_one_request() -> None:
    trace, lane, _ = await sketch(model(""))
    assert lane.requests == 2 and trace.notes == ("the skeleton had no numbered points; answered in one request",)


async def test_points_over_the_limit_are_not_expanded() -> None:
    skeleton = " p1\n" + "\n".join(f"{i}. p{i}" for i in range(2, 7))
    trace, lane, _ = await sketch(model(skeleton), SkeletonConfig(max_points=2))
    assert lane.requests == 4 and trace.notes == ("6 points, over the limit of 2; the first 2 were expanded",)


async def test_a_point_cut_at_its_token_limit_is_noted() -> None:
    trace, _, _ = await sketch(model(" a\n2. b", lambda line: " word" * 50), SkeletonConfig(point_tokens=10))
    assert trace.notes == ("point 1 was cut at 10 tokens", "point 2 was cut at 10 tokens")


async def test_without_a_conclusion_the_expanded_points_are_the_answer() -> None:
    trace, lane, _ = await sketch(model(" a\n2. b", lambda line: " \\boxed{7}"), SkeletonConfig(conclude=False))
    assert lane.requests == 3 and trace.rounds == 2 and trace.text.endswith("2. b \\boxed{7}")


def test_points_are_numbered_lines() -> None:
    assert points_in("1. add\n2) check\nnot a point\n 3. sum ") == ["add", "check", "sum"]
