"""Tests of answer extraction, normalisation and voting (orchestrator.aggregate)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.aggregate import (
    Vote,
    extract_answer,
    majority_vote,
    normalize_answer,
    weighted_vote,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
TRACES = DATA / "traces" / "esc_gpt35_last_letters.jsonl"
PROBLEMS = sorted((DATA / "problems").glob("*.jsonl"))


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def gold_answers() -> Iterator[str]:
    if not PROBLEMS:
        pytest.skip(f"no problem files under {DATA / 'problems'}")
    for path in PROBLEMS:
        yield from (problem["answer"] for problem in read_jsonl(path))


def is_correct(answer: str | None, gold: str) -> bool:
    return answer is not None and normalize_answer(answer) == normalize_answer(gold)


# --- extraction: \boxed -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"So $x = \boxed{42}$.", "42"),
        (r"Hence \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
        (r"\boxed{\sqrt{\frac{95}{24}}}", r"\sqrt{\frac{95}{24}}"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),
        (r"\fbox{7}", "7"),
        (r"\boxed { 12 }", "12"),
        (r"so \boxed 5 is it", "5"),
        (r"\boxed{$3$}", "3"),
    ],
)
def test_extracts_boxed_content_with_nested_braces(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_last_box_wins() -> None:
    assert extract_answer(r"First \boxed{3}, then on reflection \boxed{4}.") == "4"


def test_boxed_beats_answer_phrase() -> None:
    assert extract_answer("The answer is 3.\nWritten properly: \\boxed{4}") == "4"


def test_unclosed_last_box_falls_back_to_the_previous_one() -> None:
    assert extract_answer(r"\boxed{10} ... checking again, \boxed{\frac{1}{") == "10"


def test_many_unclosed_boxes_stay_cheap() -> None:
    assert extract_answer("\\boxed{1}" + "\\boxed{" * 20_000) == "1"


def test_empty_box_is_no_answer() -> None:
    assert extract_answer(r"\boxed{}") is None


# --- extraction: answer phrases -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Concatenating them is 'yajo'. The answer is yajo.", "yajo"),
        ('The answer is "rnyy".', "rnyy"),
        ("The answer is 'iah a'.", "iah a"),
        ("the final answer is: 17", "17"),
        ("THE ANSWER IS B. It follows from the table.", "B"),
        ("Answer: (C)", "(C)"),
        ("**Answer:** 12", "12"),
        ("**Final Answer**: $\\frac{3}{4}$", "\\frac{3}{4}"),
        ("The answer is $3.14$.", "3.14"),
        ("The answer is 3.14.", "3.14"),
        ("The final answer is:\n\n$$ 204 $$", "204"),
        ("The answer is 5\nand some afterthought", "5"),
        ("I thought the answer is 3. Rechecking, the answer is 4.", "4"),
    ],
)
def test_extracts_answer_phrases(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_phrase_without_content_falls_back_to_an_earlier_one() -> None:
    assert extract_answer("The answer is 9.\nSo the answer is:") == "9"


# --- extraction: last line, think blocks, truncation --------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Let me compute 6 * 7.\n\n42", "42"),
        ("Long derivation here.\n**$x = 3$**", "x = 3"),
        ("We add them up.\nSo the total is clearly larger than we expected at first sight", None),
        ("Compute the sum.\nWait, let me check", None),
        ("Now the cases:", None),
        ("**Final Answer**", None),
        ("Steps.\n\\[\n", None),
        ("", None),
    ],
)
def test_last_short_line_is_the_answer_unless_it_reads_as_reasoning(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_answer_after_think_block_is_preferred() -> None:
    text = "<think>Maybe \\boxed{3}? The answer is 3.</think>\nThe answer is 4."
    assert extract_answer(text) == "4"


def test_last_line_after_think_block() -> None:
    assert extract_answer("<think>long reasoning, the answer is 2</think>\n\n8") == "8"


def test_think_block_answer_phrases_do_not_count() -> None:
    assert extract_answer("<think>so the answer is 3</think>\nLet me explain why:") is None


def test_boxed_inside_closed_think_block_is_the_fallback() -> None:
    assert extract_answer("<think>... \\boxed{6}</think>\nHere is my reasoning:") == "6"


def test_unfinished_think_block_has_no_answer() -> None:
    assert extract_answer("<think>Let me see. The answer is 5.\n5") is None


def test_unfinished_think_block_keeps_a_boxed_answer() -> None:
    assert extract_answer("<think>So it is \\boxed{5}. But wait, maybe") == "5"


def test_closing_tag_without_opening_tag() -> None:
    assert extract_answer("reasoning the prompt opened ...</think>\nThe answer is 11.") == "11"


def test_second_think_block_left_unfinished_is_ignored() -> None:
    assert extract_answer("<think>a</think>The answer is 1.<think>The answer is 2") == "1"


def test_truncated_trace_without_answer() -> None:
    text = "To solve this we first expand the product, which gives us a sum of four terms that"
    assert extract_answer(text) is None


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  42 ", "42"),
        ("$42$", "42"),
        ("$$42$$", "42"),
        (r"\(42\)", "42"),
        (r"\text{yes}", "yes"),
        (r"\mathrm{Yes}", "yes"),
        (r"\textbf{(B)}", "b"),
        (r"\left( 1, 2 \right)", "(1,2)"),
        (r"3\!\cdot\!4", r"3\cdot4"),
        (r"1\,000", "1000"),
        (r"\displaystyle \frac{3}{4}", "3/4"),
        ("42.", "42"),
        ("IAH  A", "iah a"),
        ("yaeA", "yaea"),
        ("1,000", "1000"),
        ("1{,}000,000", "1000000"),
        ("2,3", "2,3"),
        ("2, 3", "2,3"),
        ("42.0", "42"),
        ("0.50", "0.5"),
        ("+3", "3"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("007", "7"),
        ("100", "100"),
        (".5", "0.5"),
        (r"\frac{1}{2}", "1/2"),
        (r"\dfrac{6}{4}", "3/2"),
        (r"\tfrac{4}{2}", "2"),
        (r"\frac12", "1/2"),
        (r"-\frac{2431}{50}", "-2431/50"),
        (r"\frac{-1}{2}", "-1/2"),
        (r"\frac{ 3 }{ 6 }", "1/2"),
        ("6/4", "3/2"),
        ("8/2", "4"),
        ("1/0", "1/0"),
        ("0.5", "0.5"),
        (r"\dfrac{\sqrt{13}}{2}", r"\frac{\sqrt{13}}{2}"),
        (r"\frac{9 \sqrt{23}}{23}", r"\frac{9\sqrt{23}}{23}"),
        ("50%", "50"),
        (r"12.5\%", "12.5"),
        ("(B)", "b"),
        ("B)", "b"),
        ("B.", "b"),
        ("option B", "b"),
        ("Choice (d)", "d"),
        (r"30^\circ", "30"),
        (r"30^{\circ}", "30"),
        ("30°", "30"),
        ("90 degrees", "90"),
        (r"5\text{ cm}", "5"),
        ("204 minutes", "204"),
        ("x = 5", "5"),
        ("x=1,y=2", "x=1,y=2"),
        ("'rnny'", "rnny"),
        ("**17**", "17"),
        (r"\boxed{17}", "17"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


@pytest.mark.parametrize("raw", ["$42$", "1,000", r"\dfrac{6}{4}", "(B)", r"30^\circ", "0.50", r"\left(1,2\right)"])
def test_normalize_is_idempotent(raw: str) -> None:
    once = normalize_answer(raw)
    assert normalize_answer(once) == once


def test_decimals_and_fractions_stay_apart() -> None:
    assert normalize_answer("0.5") != normalize_answer(r"\frac{1}{2}")


# --- voting -------------------------------------------------------------------------------------


def test_majority_vote_groups_equal_answers() -> None:
    vote = majority_vote(["1/2", r"\frac{1}{2}", "0.5", r"\dfrac12", "3"])
    assert vote == Vote(answer="1/2", counts={"1/2": 3, "0.5": 1, "3": 1}, support=0.6, answered=5)


def test_none_answers_are_ignored() -> None:
    vote = majority_vote([None, "7", None, "7", "8"])
    assert (vote.answer, vote.answered) == ("7", 3)
    assert vote.support == pytest.approx(2 / 3)


def test_answers_that_normalise_to_nothing_are_ignored() -> None:
    assert majority_vote(["  ", "$$", "4"]).counts == {"4": 1}


def test_no_answers() -> None:
    assert majority_vote([None, None]) == Vote(answer=None, counts={}, support=0.0, answered=0)
    assert majority_vote([]) == Vote(answer=None, counts={}, support=0.0, answered=0)


def test_tie_goes_to_the_answer_seen_first() -> None:
    assert majority_vote(["a", "b", "b", "a"]).answer == "a"
    assert majority_vote(["b", "a", "a", "b"]).answer == "b"


def test_counts_are_ranked_winner_first() -> None:
    vote = majority_vote(["c", "a", "b", "b", "a", "b", "d"])
    assert list(vote.counts) == ["b", "a", "c", "d"]
    assert vote.answer == "b"


def test_answer_is_the_first_seen_form_of_the_winning_class() -> None:
    vote = majority_vote(["2", "$1,000$", "1000", "1000.0"])
    assert (vote.answer, vote.counts) == ("$1,000$", {"1000": 3, "2": 1})


def test_weighted_vote_lets_confidence_outweigh_numbers() -> None:
    vote = weighted_vote(["3", "3", "4"], [0.2, 0.2, 1.6])
    assert (vote.answer, vote.counts, vote.answered) == ("4", {"4": 1, "3": 2}, 3)
    assert vote.support == pytest.approx(0.8)


def test_weighted_vote_with_equal_weights_is_the_majority_vote() -> None:
    answers = ["a", None, "b", "a", "c", "b"]
    assert weighted_vote(answers, [2.5] * len(answers)) == majority_vote(answers)


def test_weighted_vote_with_zero_total_weight() -> None:
    vote = weighted_vote(["a", "b"], [0.0, 0.0])
    assert (vote.answer, vote.support) == ("a", 0.0)


@pytest.mark.parametrize("weights", [[1.0], [1.0, -1.0], [1.0, float("nan")]])
def test_weighted_vote_rejects_bad_weights(weights: list[float]) -> None:
    with pytest.raises(ValueError):
        weighted_vote(["a", "b"], weights)


# --- real data ----------------------------------------------------------------------------------


def test_reproduces_reference_accuracies_on_esc_last_letters() -> None:
    """DESIGN.md section 5: cons@40 81.6%, a single (the first) sample 78.6%, on 500 problems."""
    problems = read_jsonl(TRACES)
    assert len(problems) == 500
    consensus = single = 0
    for problem in problems:
        answers = [extract_answer(sample) for sample in problem["generated_answer"]]
        consensus += is_correct(majority_vote(answers).answer, problem["answer"])
        single += is_correct(answers[0], problem["answer"])
    assert 100 * consensus / len(problems) == pytest.approx(81.6, abs=0.5)
    assert 100 * single / len(problems) == pytest.approx(78.6, abs=0.5)


def test_every_esc_sample_with_an_answer_phrase_is_extracted() -> None:
    samples = [sample for problem in read_jsonl(TRACES) for sample in problem["generated_answer"]]
    phrased = [sample for sample in samples if "the answer is" in sample.lower()]
    assert all(extract_answer(sample) for sample in phrased)
    assert len(samples) - len(phrased) == 73


def test_gold_answers_are_stable_under_normalisation() -> None:
    for gold in gold_answers():
        once = normalize_answer(gold)
        assert normalize_answer(once) == once, gold


def test_boxed_gold_answers_are_extracted_and_normalise_like_the_gold() -> None:
    for gold in gold_answers():
        trace = f"<think>hard work</think>\nPutting it together, the result is $\\boxed{{{gold}}}$."
        extracted = extract_answer(trace)
        assert extracted == gold
        assert normalize_answer(extracted) == normalize_answer(gold)
