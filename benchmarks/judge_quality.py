"""How well judges predict, from partial traces, whether two reasoning traces end with the same answer.

Data: `../shared/data/traces/esc_gpt35_last_letters.jsonl` (500 last-letter problems x 40 GPT-3.5
samples). For each problem, `--pairs-per-problem` distinct pairs of its samples are drawn (seeded); a
pair's label is whether both samples have a final answer and the answers are equal (`extract_answer`
+ `normalize_answer`). `--label equivalent` uses `answers_equivalent` instead, which also ignores
internal whitespace: at seed 0, 70 of the 558 held-out different-answer pairs differ only so ("yya o"
against "yyao"), which is why `EquivalenceJudge` stays below 1.0 under the default label.

Both traces of a pair are cut the same way: their first 8, 16, 24 or 32 words, or their text up to the
25th reasoning word (`Truncation()`); the evaluation adds a cut at 33 words, where most of these
traces write their concatenated result (where nearly all disagreements arise). These GPT-3.5 traces
are short (about 37 words) and have few
reasoning words, so that last cut keeps the whole trace, final answer included (the "whole" column):
its figures are not partial-trace figures. `EquivalenceJudge` on the finished traces is the reference.

Evaluation is on the odd-indexed problems only; `--fit` first fits `FeatureJudge`'s logistic model on
the even-indexed ones (all five cuts pooled; Newton's method, L2 penalty 1.0 off the intercept) and
prints coefficients to paste into `judges/features.py`, then evaluates with them.

Metrics, with "same answer" as the positive class and P(same) as the score:
  AUROC    the Mann-Whitney statistic: the chance a random same-answer pair scores above a random
           different-answer pair (ties count half). A random judge gets 0.5.
  TNR@0.2  DeepPrune's measure: the true negative rate (share of different-answer pairs the judge keeps
           apart, scoring below the threshold) at the threshold where 20% of same-answer pairs also
           score below it (TPR 0.8), i.e. when one redundant pair in five is wrongly kept. Ties are
           broken at random (linear interpolation on the ROC curve). A random judge gets 0.2, a
           perfect one 1.0.

    python benchmarks/judge_quality.py [--data PATH] [--pairs-per-problem 20] [--seed 0] [--fit] [--label equivalent]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations, pairwise
from pathlib import Path

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).absolute().parents[1])  # this script is judges.py: import the package instead

from judges import (
    EquivalenceJudge,
    FeatureJudge,
    NGramJudge,
    Truncation,
    answers_equivalent,
    latest_result,
    pair_features,
)
from judges.features import FEATURE_NAMES, logistic
from orchestrator.aggregate import extract_answer, normalize_answer

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "traces" / "esc_gpt35_last_letters.jsonl"
CUTS: dict[str, Truncation] = {
    "first 8 words": Truncation(mode="words", limit=8),
    "first 16 words": Truncation(mode="words", limit=16),
    "first 24 words": Truncation(mode="words", limit=24),
    "first 32 words": Truncation(mode="words", limit=32),
    "25 reasoning words": Truncation(),
}
LATE_CUT = ("first 33 words", Truncation(mode="words", limit=33))
"""Evaluation only (`--fit` pools `CUTS`): most traces here write their concatenated result as word 33 of 37."""
REFERENCE = (
    "Reference (DeepPrune, arXiv 2510.08483, their data: reasoning-model traces on AIME/GPQA, first 25 "
    "reasoning words):\n  DeepPrune-Judge-4B  AUROC 0.870  TNR@0.2 0.819\n  SentenceBERT similarity  "
    "AUROC 0.58\n  zero-shot Qwen3-4B-Instruct  AUROC 0.66"
)
L2 = 1.0

Scorer = Callable[[str, str], float]


@dataclass(frozen=True, slots=True)
class Pair:
    problem: int
    first: str
    second: str
    same: bool


@dataclass(frozen=True, slots=True)
class Row:
    judge: str
    traces: str
    pairs: int
    different: int
    words: float
    whole: float
    auroc: float
    tnr: float


def load(path: Path) -> list[list[str]]:
    """The samples of each problem, in file order."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line)["generated_answer"] for line in lines if line.strip()]


def normalized_equal(first: str | None, second: str | None) -> bool:
    return first is not None and second is not None and normalize_answer(first) == normalize_answer(second)


LABELS: dict[str, Callable[[str | None, str | None], bool]] = {
    "normalized": normalized_equal,
    "equivalent": answers_equivalent,
}


def sample_pairs(
    problems: Sequence[Sequence[str]], per_problem: int, seed: int, label: str = "normalized"
) -> list[Pair]:
    rng = random.Random(seed)
    same = LABELS[label]
    pairs: list[Pair] = []
    for index, samples in enumerate(problems):
        answers = [extract_answer(sample) for sample in samples]
        chosen = rng.sample(list(combinations(range(len(samples)), 2)), per_problem)
        pairs += [Pair(index, samples[a], samples[b], same(answers[a], answers[b])) for a, b in chosen]
    return pairs


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Mann-Whitney U over average ranks, scaled to [0, 1]; positives are the True labels."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = sum(rank for rank, label in zip(ranks, labels, strict=True) if label)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def tnr_at(scores: Sequence[float], labels: Sequence[bool], flagged_same: float = 0.2) -> float:
    """Share of negatives scoring below the threshold that `flagged_same` of the positives also score below."""
    points = _low_score_curve(scores, labels)
    for (x0, y0), (x1, y1) in pairwise(points):
        if x0 <= flagged_same <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (flagged_same - x0) / (x1 - x0)
    return 1.0


def _low_score_curve(scores: Sequence[float], labels: Sequence[bool]) -> list[tuple[float, float]]:
    """(share of positives, share of negatives) scoring at most each distinct score, from (0, 0) up."""
    positives, negatives = sum(labels), len(labels) - sum(labels)
    points, low_pos, low_neg = [(0.0, 0.0)], 0, 0
    ranked = sorted(zip(scores, labels, strict=True))
    for index, (score, label) in enumerate(ranked):
        low_pos, low_neg = low_pos + label, low_neg + (not label)
        if index + 1 == len(ranked) or ranked[index + 1][0] != score:
            points.append((low_pos / positives, low_neg / negatives))
    return points


def fit(rows: Sequence[Sequence[float]], labels: Sequence[bool], l2: float = L2) -> tuple[float, ...]:
    """Logistic regression by Newton's method, an L2 penalty on every coefficient but the intercept."""
    weights = [0.0] * len(rows[0])
    for _ in range(50):
        gradient, hessian = _derivatives(weights, rows, labels, l2)
        step = _solve(hessian, gradient)
        weights = [w - s for w, s in zip(weights, step, strict=True)]
        if max(map(abs, step)) < 1e-9:
            break
    return tuple(weights)


def _derivatives(
    weights: list[float], rows: Sequence[Sequence[float]], labels: Sequence[bool], l2: float
) -> tuple[list[float], list[list[float]]]:
    size = len(weights)
    gradient = [l2 * w if i else 0.0 for i, w in enumerate(weights)]
    hessian = [[l2 if i == j and i else 0.0 for j in range(size)] for i in range(size)]
    for row, label in zip(rows, labels, strict=True):
        p = logistic(weights, row)
        error, curvature = p - label, p * (1.0 - p)
        for i in range(size):
            gradient[i] += error * row[i]
            scaled = curvature * row[i]
            hessian_row = hessian[i]
            for j in range(size):
                hessian_row[j] += scaled * row[j]
    return gradient, hessian


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """x with matrix @ x = vector, by Gaussian elimination with partial pivoting."""
    size = len(vector)
    augmented = [row[:] + [value] for row, value in zip(matrix, vector, strict=True)]
    for column in range(size):
        pivot = max(range(column, size), key=lambda r: abs(augmented[r][column]))
        augmented[column], augmented[pivot] = augmented[pivot], augmented[column]
        for row in range(column + 1, size):
            factor = augmented[row][column] / augmented[column][column]
            augmented[row] = [a - factor * b for a, b in zip(augmented[row], augmented[column], strict=True)]
    solution = [0.0] * size
    for row in reversed(range(size)):
        known = sum(augmented[row][k] * solution[k] for k in range(row + 1, size))
        solution[row] = (augmented[row][size] - known) / augmented[row][row]
    return solution


def cut_pairs(pairs: Sequence[Pair], truncation: Truncation) -> list[Pair]:
    return [Pair(p.problem, truncation.cut(p.first), truncation.cut(p.second), p.same) for p in pairs]


def fitted_coefficients(train: Sequence[Pair]) -> tuple[float, ...]:
    cut = [pair for truncation in CUTS.values() for pair in cut_pairs(train, truncation)]
    coefficients = fit([pair_features(p.first, p.second) for p in cut], [p.same for p in cut])
    print(f"Fitted on {len(cut)} pairs (even-indexed problems, all cuts pooled). For judges/features.py:")
    print("COEFFICIENTS: tuple[float, ...] = (")
    for name, value in zip(FEATURE_NAMES, coefficients, strict=True):
        print(f"    {value:.4f},  # {name}")
    print(")\n")
    return coefficients


def row(judge: str, traces: str, scorer: Scorer, cut: Sequence[Pair], full: Sequence[Pair]) -> Row:
    scores = [scorer(p.first, p.second) for p in cut]
    labels = [p.same for p in cut]
    words = [len(text.split()) for p in cut for text in (p.first, p.second)]
    whole = sum((c.first == f.first) + (c.second == f.second) for c, f in zip(cut, full, strict=True)) / len(words)
    return Row(
        judge,
        traces,
        len(cut),
        labels.count(False),
        sum(words) / len(words),
        whole,
        auroc(scores, labels),
        tnr_at(scores, labels),
    )


def evaluate(test: Sequence[Pair], feature: FeatureJudge) -> tuple[list[Row], float]:
    rows: list[Row] = []
    feature_s = 0.0
    for name, truncation in [*CUTS.items(), LATE_CUT]:
        cut = cut_pairs(test, truncation)
        started = time.perf_counter()
        rows.append(row("FeatureJudge", name, feature.score, cut, test))
        feature_s += time.perf_counter() - started
        rows.append(row("NGramJudge", name, NGramJudge().score, cut, test))
    rows.append(row("EquivalenceJudge", "finished traces", EquivalenceJudge.score, test, test))
    return rows, len(test) * (len(CUTS) + 1) / feature_s


def stated_agreement(problems: Sequence[Sequence[str]]) -> tuple[int, int]:
    """Over every sample that states a result before "answer is" and has a final answer: how many of
    those last stated results equal the final answer (`answers_equivalent`), and how many there are."""
    agree = total = 0
    for sample in (sample for samples in problems for sample in samples):
        head, found, _ = sample.rpartition("answer is")
        result, answer = latest_result(head) if found else None, extract_answer(sample)
        if result is not None and answer is not None:
            total += 1
            agree += answers_equivalent(result, answer)
    return agree, total


def print_table(rows: Sequence[Row]) -> None:
    header = f"{'judge':<18}{'traces':<20}{'pairs':>7}{'diff':>6}{'words':>7}{'whole':>7}{'AUROC':>8}{'TNR@0.2':>9}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.judge:<18}{r.traces:<20}{r.pairs:>7}{r.different:>6}{r.words:>7.1f}{r.whole:>7.0%}"
            f"{r.auroc:>8.3f}{r.tnr:>9.3f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--pairs-per-problem", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit", action="store_true", help="fit FeatureJudge on even-indexed problems first")
    parser.add_argument("--label", choices=sorted(LABELS), default="normalized", help="when two answers count as same")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"{args.data}: no such file", file=sys.stderr)
        return 2
    problems = load(args.data)
    pairs = sample_pairs(problems, args.pairs_per_problem, args.seed, args.label)
    train = [p for p in pairs if p.problem % 2 == 0]
    test = [p for p in pairs if p.problem % 2 == 1]
    feature = FeatureJudge(coefficients=fitted_coefficients(train)) if args.fit else FeatureJudge()
    rows, rate = evaluate(test, feature)
    print(
        f"Held-out pairs: {len(test)} from {len({p.problem for p in test})} odd-indexed problems, "
        f"{sum(not p.same for p in test)} with different answers (seed {args.seed}, label {args.label})."
    )
    print("words: mean words per cut trace; whole: share of traces the cut left whole.\n")
    print_table(rows)
    print(f"\nFeatureJudge: {rate:,.0f} pairs/s (pure Python, one core, per-trace cache cold at start).")
    agree, total = stated_agreement(problems)
    print(
        f"Answer anchoring: the last result stated before 'answer is' equals the final answer in {agree:,} of "
        f"{total:,} samples ({agree / max(total, 1):.1%}), all problems.\n"
    )
    print(REFERENCE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
