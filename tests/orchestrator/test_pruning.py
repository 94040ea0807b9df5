"""DeepPrune's online greedy clustering on hand-built partial traces with known outcomes."""

from collections.abc import Sequence

from judges import TracePair, Truncation
from orchestrator.backends.base import TextChunk
from orchestrator.pruning import DeepPruneMonitor, OnlineClustering
from orchestrator.result import ThreadReport, ThreadStatus


class FirstWordJudge:
    """Same answer iff the traces start with the same word; records every batch it is asked."""

    def __init__(self) -> None:
        self.batches: list[list[TracePair]] = []

    async def same_answer(self, pairs: Sequence[TracePair]) -> list[float]:
        self.batches.append(list(pairs))
        return [float(a.split()[0] == b.split()[0]) for a, b in pairs]


def report(index: int, status: ThreadStatus, answer: str | None = None) -> ThreadReport:
    return ThreadReport(
        index=index, request_id=f"r{index}", status=status, answer=answer, tokens=3,
        prompt_tokens=1, cached_tokens=0, reasoning_tokens=0, wall_s=0.0, text="",
    )  # fmt: skip


async def test_similar_traces_join_one_cluster_and_different_ones_open_new_clusters() -> None:
    clustering = OnlineClustering(FirstWordJudge(), confirm=0)
    placements = [await clustering.place(i, trace) for i, trace in enumerate(["x 1", "y 2", "x 3", "y 4", "z 5"])]
    assert [p.redundant for p in placements] == [False, False, True, True, False]
    assert [c.members for c in clustering.clusters] == [[0, 2], [1, 3], [4]]


async def test_a_cluster_prunes_only_once_enough_finished_members_agree() -> None:
    clustering = OnlineClustering(FirstWordJudge(), confirm=2)
    first = await clustering.place(0, "x a")
    assert not (await clustering.place(1, "x b")).redundant
    first.cluster.answers.update({0: "7", 1: "7"})
    assert (await clustering.place(2, "x c")).redundant
    first.cluster.answers[3] = "8"
    assert not (await clustering.place(4, "x d")).redundant, "members that disagree: keep sampling"


async def test_at_most_max_clusters_then_the_most_similar_is_joined() -> None:
    clustering = OnlineClustering(FirstWordJudge(), max_clusters=2, confirm=0)
    for index, trace in enumerate(["a", "b", "c"]):
        await clustering.place(index, trace)
    assert len(clustering.clusters) == 2
    assert sum(len(c.members) for c in clustering.clusters) == 3


async def test_each_placement_is_one_batched_judge_call_over_at_most_compare_members() -> None:
    judge = FirstWordJudge()
    clustering = OnlineClustering(judge, compare=2, confirm=99)
    for index in range(6):
        await clustering.place(index, f"x {index}")
    await clustering.place(6, "y new")
    assert len(judge.batches) == 6, "the first trace needs no judge"
    assert len(judge.batches[-1]) == 2, "up to `compare` sampled members of the one cluster"


async def test_tau_decides_what_counts_as_the_same() -> None:
    class Half:
        async def same_answer(self, pairs: Sequence[TracePair]) -> list[float]:
            return [0.5] * len(pairs)

    strict = OnlineClustering(Half(), tau=0.5, confirm=0)
    loose = OnlineClustering(Half(), tau=0.4, confirm=0)
    for clustering in (strict, loose):
        await clustering.place(0, "a")
        await clustering.place(1, "b")
    assert (len(strict.clusters), len(loose.clusters)) == (2, 1)


async def test_monitor_judges_once_when_ready_and_pruned_threads_vote_with_their_cluster() -> None:
    monitor = DeepPruneMonitor(OnlineClustering(FirstWordJudge(), confirm=1), Truncation(mode="words", limit=2))
    chunk = TextChunk("", 1)
    assert not await monitor.review(0, "x", chunk), "one word: not ready"
    assert not await monitor.review(0, "x y", chunk), "the second word may still be growing"
    assert not await monitor.review(0, "x y u", chunk)
    monitor.ended(report(0, ThreadStatus.DONE, "42"))
    assert await monitor.review(1, "x z w", chunk)
    assert not await monitor.review(1, "x z w v", chunk), "judged once"
    assert monitor.ballot(report(1, ThreadStatus.PRUNED)).answer == "42"
    assert monitor.ballot(report(2, ThreadStatus.ABORTED)) is None


def anchoring(anchor: int) -> DeepPruneMonitor:
    """A monitor whose clustering never prunes (every trace its own cluster), with answer anchoring."""
    return DeepPruneMonitor(
        OnlineClustering(FirstWordJudge(), tau=1.0, max_clusters=4096), Truncation(mode="words", limit=1), anchor=anchor
    )


STATED = "a: the letters are 'a', 'k'. Joined it is 'a k'. So"


async def test_a_thread_stating_an_answer_finished_threads_gave_is_stopped_and_votes_it() -> None:
    monitor, chunk = anchoring(1), TextChunk("", 1)
    assert not await monitor.review(0, STATED, chunk), "no thread has finished: keep generating"
    monitor.ended(report(0, ThreadStatus.DONE, "ak"))
    assert not await monitor.review(1, STATED.split(" Joined")[0] + " So", chunk), "'k' is not an answer given"
    assert await monitor.review(1, STATED, chunk), "'a k' is the answer 'ak'"
    monitor.ended(report(1, ThreadStatus.PRUNED))
    assert monitor.ballot(report(1, ThreadStatus.PRUNED)).answer == "ak"
    assert monitor.anchored == {1: "ak"}


async def test_anchoring_waits_for_as_many_finished_threads_as_it_asks() -> None:
    monitor, chunk = anchoring(2), TextChunk("", 1)
    monitor.ended(report(0, ThreadStatus.DONE, "ak"))
    monitor.ended(report(1, ThreadStatus.PRUNED))
    monitor.ended(report(2, ThreadStatus.ABORTED))
    assert not await monitor.review(3, STATED, chunk), (
        "one finished thread gave 'ak'; pruned and aborted ones do not count"
    )
    monitor.ended(report(4, ThreadStatus.DONE, "AK"))
    assert await monitor.review(3, STATED, chunk)


async def test_anchoring_is_off_by_default() -> None:
    monitor = DeepPruneMonitor(OnlineClustering(FirstWordJudge(), tau=1.0), Truncation(mode="words", limit=1))
    monitor.ended(report(0, ThreadStatus.DONE, "ak"))
    assert not await monitor.review(1, STATED, TextChunk("", 1))


async def test_anchored_threads_count_towards_their_clusters_answer() -> None:
    clustering = OnlineClustering(FirstWordJudge(), confirm=2)
    monitor, chunk = DeepPruneMonitor(clustering, Truncation(mode="words", limit=1), anchor=1), TextChunk("", 1)
    assert not await monitor.review(0, "a b", chunk)
    monitor.ended(report(0, ThreadStatus.DONE, "ak"))
    assert await monitor.review(1, "a " + STATED, chunk), "placed with thread 0, then anchored"
    monitor.ended(report(1, ThreadStatus.PRUNED))
    assert clustering.clusters[0].confirmed(2), "a finished member and an anchored one agree"
    assert await monitor.review(2, "a c d", chunk), "so the cluster now prunes newcomers"
