"""Tests of answer equivalence and the finished-trace judge (judges.equivalence)."""

from __future__ import annotations

import pytest

from judges import EquivalenceJudge, Judge, answers_equivalent, canonical_answer


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("0.5", "1/2"),
        ("1/2", "\\frac{1}{2}"),
        ("\\boxed{\\frac{1}{2}}", "0.50"),
        ("\\boxed{ \\boxed{24} }", "24"),
        ("2/4", "\\dfrac{1}{2}"),
        ("-3", "-3.0"),
        ("1,000", "1000"),
        ("yih a", "YIHA"),
        (" Yiha ", "yiha."),
        ("(B)", "B"),
        ("option b", "(b)"),
        ("Option (B)", "b"),
        ("$x = 5$", "5"),
    ],
)
def test_equal_answers_written_differently_are_equivalent(first: str, second: str) -> None:
    assert answers_equivalent(first, second)
    assert canonical_answer(first) == canonical_answer(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("0.5", "0.25"),
        ("1/2", "2"),
        ("yiha", "yihb"),
        ("(A)", "(B)"),
        ("24", "\\boxed{25}"),
        ("24", None),
        (None, None),
    ],
)
def test_different_or_missing_answers_are_not_equivalent(first: str | None, second: str | None) -> None:
    assert not answers_equivalent(first, second)


async def test_equivalence_judge_compares_the_final_answers_of_finished_traces() -> None:
    judge = EquivalenceJudge()
    assert isinstance(judge, Judge)
    pairs = [
        ("... so \\boxed{24}.", "Thus the answer is 24."),
        ("... \\boxed{24}", "... \\boxed{20}"),
        ("no answer yet, still thinking", "\\boxed{24}"),
        ("\\boxed{\\frac{1}{2}}", "The answer is 0.5."),
        ("Concatenating them is 'yya o'. The answer is 'yya o'.", "The answer is yyao."),
    ]
    assert await judge.same_answer(pairs) == [1.0, 0.0, 0.0, 1.0, 1.0]
