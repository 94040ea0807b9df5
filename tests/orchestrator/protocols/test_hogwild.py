"""Hogwild's shared progress on a simulated server playing scripted workers."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable

from support import Recording, Scripted

from orchestrator.backends.base import FinishReason, SamplingParams
from orchestrator.backends.sim import SimBackend, SimConfig, Tokenizer
from orchestrator.events import ignore
from orchestrator.protocols import HogwildConfig
from orchestrator.protocols.hogwild import Hogwild
from orchestrator.protocols.prompts import CHECK, FINISH, HISTORY, OTHERS, OWN
from orchestrator.threads import Lane, Trace

TASK = "What is 3 + 4?"
HEADER = re.compile(r"\*\*(\w+) \[(\d+)\]:\*\* ")


def past_steps(prompt: str) -> int:
    return len(HEADER.findall(prompt.split(HISTORY)[-1].split(OTHERS)[0]))


def team(answer_after: int = 4, redundant: bool = False) -> Callable[[str], str]:
    def respond(prompt: str) -> str:
        if prompt.endswith(FINISH):
            return "7}. Done"
        name, number = HEADER.findall(prompt)[-1]
        check = "yes. I switch to checking.\n\n" if redundant and prompt.endswith(CHECK) else ""
        if past_steps(prompt) >= answer_after:
            return f"{check}So the answer is \\boxed{{7}}.\n\nmore"
        return f"{check}{name} works on step {number}.\n\nnext step the stop cuts"

    return respond


async def collaborate(
    respond: Callable[[str], str], config: HogwildConfig | None = None, fail: Callable[[str], bool] = lambda p: False
) -> tuple[Trace, Lane, Recording]:
    backend = Recording(SimBackend(SimConfig(time_scale=0), scripts=[Scripted(respond)]), fail)
    protocol = Hogwild(config)
    lane = Lane(backend, 0, ignore)
    async with asyncio.timeout(10):
        trace = await protocol.run(lane, protocol.prefix(TASK), SamplingParams(max_tokens=1024))
    await backend.close()
    return trace, lane, backend


async def test_workers_write_steps_into_one_history_until_one_answers() -> None:
    trace, _, backend = await collaborate(team(answer_after=4))
    steps = trace.text.split("\n\n")
    assert len(steps) in (5, 6) and steps[-1].endswith("So the answer is \\boxed{7}.")
    assert {HEADER.match(step)[1] for step in steps} == {"Alice", "Bob"}
    assert trace.finish is FinishReason.STOP and trace.rounds >= 2
    assert all(exchange.stop == ("\n\n",) for exchange in backend.exchanges)


async def test_the_history_is_append_only_so_every_step_extends_the_shared_prefix() -> None:
    _, _, backend = await collaborate(team(answer_after=6))
    histories = [exchange.prompt.split(OTHERS)[0] for exchange in backend.exchanges]
    for earlier, later in itertools.pairwise(histories):
        assert later.startswith(earlier), "a later request's history extends an earlier one's"
    later = backend.exchanges[-1].completion.usage
    assert later.cached_tokens >= len(backend.exchanges[0].prompt) // 8, "the rules, problem and history are cached"


async def test_each_worker_sees_the_others_work_in_progress_then_its_own_header() -> None:
    _, _, backend = await collaborate(team())
    prompt = backend.exchanges[1].prompt
    assert prompt.endswith(f"{OWN}\n\n**Bob [1]:** ")
    assert f"{OTHERS}\n\n**Alice [1]:** " in prompt and "<...>\n\n" in prompt


async def test_the_first_answer_aborts_the_steps_still_running() -> None:
    def slow_bob(prompt: str) -> str:
        if HEADER.findall(prompt)[-1][0] == "Bob":
            return "Bob thinks" + " slowly" * 400 + ".\n\n"
        return "So the answer is \\boxed{7}.\n\n"

    trace, _, backend = await collaborate(slow_bob)
    assert trace.text.startswith("**Alice [1]:** So the answer is \\boxed{7}.")
    bob = next(e for e in backend.exchanges if e.prompt.endswith("**Bob [1]:** "))
    assert bob.completion.finish_reason is FinishReason.ABORT


async def test_the_redundancy_check_is_asked_and_a_yes_is_noted() -> None:
    trace, _, backend = await collaborate(team(answer_after=6, redundant=True), HogwildConfig(check_every=2))
    asked = [e for e in backend.exchanges if e.prompt.endswith(CHECK)]
    assert asked and all(HEADER.findall(e.prompt)[-1][1] in ("3", "5") for e in asked)
    assert any("redundant and changed course" in note for note in trace.notes)


async def test_without_an_answer_in_max_steps_a_worker_is_asked_outright() -> None:
    trace, _, backend = await collaborate(team(answer_after=99), HogwildConfig(max_steps=2))
    assert backend.exchanges[-1].prompt.endswith(FINISH) and backend.exchanges[-1].stop == ("}",)
    assert trace.text.endswith(f"{FINISH}7}}") and trace.finish is FinishReason.STOP
    assert trace.notes[-1] == "no worker answered within 2 steps; Alice was asked outright"


async def test_a_failing_step_fails_the_thread_with_its_error() -> None:
    trace, _, _ = await collaborate(team(), fail=lambda prompt: prompt.endswith("**Bob [2]:** "))
    assert trace.finish is None and trace.error == "injected failure"


async def test_after_the_first_round_every_step_finds_the_rules_and_the_problem_cached() -> None:
    _, _, backend = await collaborate(team(answer_after=8), HogwildConfig(workers=3))
    shared = Tokenizer().count(Hogwild(HogwildConfig(workers=3)).prefix(TASK)) - 1
    later = [exchange.completion.usage for exchange in backend.exchanges[3:]]
    assert later and all(usage.cached_tokens >= shared for usage in later)
    uncached = sum(usage.prompt_tokens - usage.cached_tokens for usage in later)
    assert uncached < sum(usage.prompt_tokens for usage in later) / 4, "a synced step re-prefills only what is new"
