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
