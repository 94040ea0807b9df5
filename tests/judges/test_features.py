"""Tests of the model-free partial-trace judge (judges.features), on hand-built and real traces."""

from __future__ import annotations

import bisect
import json
import random
import time
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import pytest

from judges import FEATURE_NAMES, FeatureJudge, Judge, NGramJudge, Truncation, pair_features
from orchestrator.aggregate import extract_answer, normalize_answer

TRACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "traces" / "esc_gpt35_last_letters.jsonl"

STEPS = "Let me compute 12 * 7 first. 12 * 7 = 84. Then add 16, so 84 + 16 = 100. So far the total is 100, and"
SAME_STEPS_REWORDED = "First, 12 * 7 = 84. Then we add the 16: 84 + 16 = 100. So the running total is 100. Now"
SAME_WORDS_OTHER_NUMBERS = (
    "Let me compute 12 * 7 first. 12 * 7 = 74. Then add 16, so 74 + 16 = 90. So far the total is 90, and"
)
OTHER_METHOD = "Hmm, maybe count the divisors instead. 360 = 2^3 * 3^2 * 5, so it has 4 * 3 * 2 = 24 divisors, and"

Labelled = tuple[str, str, bool]


def test_features_are_named_and_bounded() -> None:
    features = pair_features(STEPS, OTHER_METHOD)
    assert len(features) == len(FEATURE_NAMES)
    assert features[0] == 1.0
    assert all(0.0 <= value <= 1.0 for value in features)
    assert pair_features("", "") == pair_features("", "")


async def test_same_path_pairs_score_above_different_path_pairs() -> None:
    judge = FeatureJudge()
    assert isinstance(judge, Judge)
    same, reworded, numbers, method = await judge.same_answer(
        [(STEPS, STEPS), (STEPS, SAME_STEPS_REWORDED), (STEPS, SAME_WORDS_OTHER_NUMBERS), (STEPS, OTHER_METHOD)]
    )
    assert all(0.0 <= score <= 1.0 for score in (same, reworded, numbers, method))
    assert same > numbers and reworded > numbers > method
    assert method < 0.5


async def test_stated_answers_dominate() -> None:
    judge = FeatureJudge()
    agree, differ = await judge.same_answer(
        [("So the answer is \\boxed{24}.", "Thus the answer is 24."), ("The answer is 24.", "The answer is 25.")]
    )
    assert agree > 0.9 and differ < 0.1


async def test_truncation_applies_before_scoring() -> None:
    same_start = "Let me compute 12 * 7 first."
    first, second = same_start + " The answer is 84.", same_start + " The answer is 74."
    cut = FeatureJudge(Truncation(mode="words", limit=6))
    assert cut.score(first, second) == FeatureJudge().score(same_start, same_start)
    assert FeatureJudge().score(first, second) < cut.score(first, second)


def test_coefficients_must_match_the_features() -> None:
    with pytest.raises(ValueError, match="coefficients"):
        FeatureJudge(coefficients=(1.0, 2.0))


def held_out_pairs(per_problem: int = 10, seed: int = 0) -> list[Labelled]:
    """Seeded pairs of real traces from the odd-indexed problems, which `FeatureJudge` was not fitted on."""
    if not TRACES.is_file():
        pytest.skip(f"{TRACES} is absent")
    rng = random.Random(seed)
    pairs: list[Labelled] = []
    with TRACES.open(encoding="utf-8") as lines:
        for samples in [json.loads(line)["generated_answer"] for line in lines][1::2]:
            chosen = rng.sample(list(combinations(range(len(samples)), 2)), per_problem)
            pairs += [(samples[a], samples[b], same_answer(samples[a], samples[b])) for a, b in chosen]
    return pairs


def same_answer(first: str, second: str) -> bool:
    answers = [extract_answer(trace) for trace in (first, second)]
    return None not in answers and normalize_answer(answers[0] or "") == normalize_answer(answers[1] or "")


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The chance a same-answer pair outscores a different-answer pair, ties counting half."""
    negatives = sorted(score for score, label in zip(scores, labels, strict=True) if not label)
    positives = [score for score, label in zip(scores, labels, strict=True) if label]
    wins = sum(bisect.bisect_left(negatives, s) + bisect.bisect_right(negatives, s) for s in positives) / 2
    return wins / (len(positives) * len(negatives))


def test_on_real_traces_features_beat_chance_early_and_read_finished_answers() -> None:
    pairs = held_out_pairs()
    labels = [label for _, _, label in pairs]
    early = Truncation(mode="words", limit=32)
    for judge, floor in ((FeatureJudge(early), 0.55), (NGramJudge(early), 0.55), (FeatureJudge(), 0.95)):
        assert auroc([judge.score(a, b) for a, b, _ in pairs], labels) > floor


def test_thousands_of_pairs_per_second() -> None:
    pairs = held_out_pairs(per_problem=8, seed=1)
    judge = FeatureJudge(Truncation(mode="words", limit=24))
    started = time.perf_counter()
    for first, second, _ in pairs:
        judge.score(first, second)
    assert len(pairs) / (time.perf_counter() - started) > 1000
