"""The sampling engine over the replay backend: rounds, stopping, pruning with real aborts."""

from pathlib import Path

import pytest

from orchestrator import Orchestrator, Strategy, UsageError
from orchestrator.backends.replay import ReplayBackend, ReplayConfig
from orchestrator.result import RunResult, ThreadStatus
from orchestrator.traces import TraceProblem, TraceSample

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
QUESTION = 'Q: Take the last letters of each words in "Ada Brook Cyril Dee" and concatenate them.'
RIGHT = (
    "A: The last letter of 'Ada' is 'a'. The last letter of 'Brook' is 'k'. The last letter of 'Cyril' is 'l'. "
    "The last letter of 'Dee' is 'e'. Concatenating them is 'akle'. The answer is akle."
)
WRONG = RIGHT.replace("'akle'", "'akel'").replace("is akle", "is akel")


def backend(*texts: str, order_seed: int | None = None) -> ReplayBackend:
    problem = TraceProblem(question=QUESTION, answer="akle", samples=[TraceSample(text=t) for t in texts])
    return ReplayBackend(ReplayConfig(traces="<inline>", order_seed=order_seed), problems=[problem])


async def run(replay: ReplayBackend, **strategy: object) -> RunResult:
    fields = {"threads": len(replay.problems[0].samples), "seed": 0, "prompt": "{task}", "max_tokens": 10_000}
    async with Orchestrator(replay, Strategy.model_validate(fields | strategy)) as orchestrator:
        return await orchestrator.run(QUESTION)


def words(result: RunResult) -> int:
    return sum(len(thread.text.split()) for thread in result.threads)


async def test_cons_runs_every_sample_to_the_end_and_takes_the_majority() -> None:
    result = await run(backend(RIGHT, WRONG, RIGHT, WRONG, RIGHT))
    assert (result.answer, result.votes) == ("akle", {"akle": 3, "akel": 2})
    assert result.count(ThreadStatus.DONE) == 5 and result.rounds == 1 and not result.settled_early
    assert words(result) == 5 * len(RIGHT.split())


async def test_esc_stops_after_the_first_window_that_agrees() -> None:
    result = await run(
        backend(RIGHT, WRONG, RIGHT, RIGHT, RIGHT, RIGHT, WRONG, WRONG), stop={"rule": "esc", "window": 2}
    )
    assert len(result.threads) == 4, "window 1 disagrees, window 2 agrees, windows 3-4 never start"
    assert (result.rounds, result.settled_early, result.answer) == (2, True, "akle")
    assert result.tokens_saved > 0


async def test_adaptive_consistency_stops_at_four_unanimous_samples() -> None:
    result = await run(backend(*[RIGHT] * 10), stop="adaptive")
    assert len(result.threads) == 4 and result.rounds == 4


async def test_a_settled_vote_aborts_the_threads_still_running() -> None:
    long = RIGHT.replace("The answer", "Let me double check every letter once more. " * 20 + "The answer")
    replay = backend(RIGHT, RIGHT, RIGHT, RIGHT, long, long, long, long)
    result = await run(replay, stop={"rule": "adaptive", "window": 8})
    stopped = [thread for thread in result.threads if thread.status is ThreadStatus.ABORTED]
    assert len(stopped) == 4 and all(len(thread.text) < len(long) for thread in stopped)
    assert replay.stats()["aborted"] == 4
    assert replay.stats()["generated_tokens"] == sum(thread.tokens for thread in result.threads)


async def test_deepprune_aborts_redundant_threads_mid_stream() -> None:
    replay = backend(*[RIGHT] * 12)
    prune = {"judge": "features", "truncation": {"mode": "words", "limit": 8}, "confirm": 2}
    result = await run(replay, stop={"rule": "adaptive", "window": 1}, prune=prune)
    pruned = [thread for thread in result.threads if thread.status is ThreadStatus.PRUNED]
    assert result.count(ThreadStatus.DONE) == 2 and len(pruned) == 2, "two confirm, two pruned votes settle it"
    assert all(8 <= len(thread.text.split()) < len(RIGHT.split()) for thread in pruned)
    assert result.answer == "akle" and replay.stats()["aborted"] == 2
    assert replay.stats()["generated_tokens"] == sum(thread.tokens for thread in result.threads)
    assert result.usage.completion_tokens == sum(thread.tokens for thread in result.threads)


async def test_answer_anchoring_stops_each_thread_once_it_states_a_finished_answer() -> None:
    replay = backend(*[RIGHT] * 6)
    prune = {"tau": 1.0, "max_clusters": 4096, "anchor": 1}
    result = await run(replay, stop={"rule": "adaptive", "window": 1}, prune=prune)
    anchored = [thread for thread in result.threads if thread.status is ThreadStatus.PRUNED]
    stated = len(RIGHT.split(" The answer")[0].split())
    assert result.answer == "akle" and result.votes == {"akle": 4}, "four unanimous votes settle adaptive"
    assert (
        result.count(ThreadStatus.DONE) == 1
        and len(anchored) == 3
        and all(stated <= len(t.text.split()) < len(RIGHT.split()) for t in anchored)
    )
    assert replay.stats()["aborted"] == len(anchored)
    assert replay.stats()["generated_tokens"] == sum(thread.tokens for thread in result.threads)


async def test_deepprune_answer_does_not_depend_on_sample_order() -> None:
    texts = [RIGHT] * 7 + [WRONG] * 3
    prune = {"truncation": {"mode": "words", "limit": 8}}
    answers = {(await run(backend(*texts, order_seed=seed), stop="adaptive", prune=prune)).answer for seed in range(6)}
    assert answers == {"akle"}


async def test_deepconf_refuses_traces_without_logprobs() -> None:
    with pytest.raises(UsageError, match="needs token log-probabilities"):
        await run(backend(RIGHT, RIGHT), stop="deepconf")


async def test_deepconf_runs_on_traces_with_logprobs() -> None:
    replay = ReplayBackend(ReplayConfig(traces=str(FIXTURES / "traces_logprobs.jsonl")))
    question = replay.problems[0].question
    samples = len(replay.problems[0].samples)
    strategy = Strategy(
        threads=samples, seed=0, prompt="{task}", stop={"rule": "deepconf", "warmup": 1, "group_tokens": 4}
    )
    async with Orchestrator(replay, strategy) as orchestrator:
        result = await orchestrator.run(question)
    assert result.stop == "deepconf" and result.answer is not None


async def test_deepconf_with_deepprune_on_the_simulator_stops_early_and_keeps_the_majority() -> None:
    from orchestrator import load_task, run_task

    spec = load_task(Path(__file__).resolve().parents[2] / "configs" / "examples" / "early_stop.yaml")
    result = await run_task(spec)
    assert result.answer == "24" and result.settled_early and result.rounds > 1
    assert result.count(ThreadStatus.PRUNED) > 0 and len(result.threads) < spec.strategy.threads
    assert result.tokens_saved > 0
