"""Tests of reading a streaming trace's latest stated result (judges.stated)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from judges.equivalence import canonical_answer
from judges.stated import ResultTracker, latest_result

LETTERS = "The last letter of 'Ada' is 'a'. The last letter of 'Dee' is 'e'. Concatenating them is 'a e'. The answer"
MATH = "First 12 * 7 = 84, so the total is 84 + 16 = 100. Thus"


def test_the_latest_result_is_the_last_value_stated_in_canonical_form() -> None:
    assert latest_result(LETTERS) == "ae", "quotes and spaces are not part of the answer"
    assert latest_result(MATH) == "100"
    assert latest_result("Nothing stated yet") is None


def stream(text: str, step: int) -> list[str | None]:
    tracker = ResultTracker()
    return [tracker.update(text[:end]) for end in range(step, len(text) + step, step)]


def test_a_tracker_reports_a_result_once_it_is_complete_and_keeps_it() -> None:
    seen = stream(MATH, 1)
    assert "10" not in seen and "1" not in seen, "a number at the very end may still grow"
    assert seen[-1] == "100" and "84" in seen
    assert [result for result in stream(LETTERS, 1) if result][-1] == "'a e'", "as written"


@given(st.integers(min_value=1, max_value=40))
def test_a_tracker_fed_in_any_chunk_size_agrees_with_reading_the_whole_text(step: int) -> None:
    text = LETTERS + " is ae. " + MATH * 3 + " done"
    tracker = ResultTracker()
    for end in range(step, len(text) + step, step):
        result = tracker.update(text[:end])
    assert result is not None and canonical_answer(result) == latest_result(text) == "100"


def test_a_long_stream_read_in_chunks_ends_on_its_last_result() -> None:
    tracker, text, seen = ResultTracker(), "", set()
    for index in range(2_000):
        text += f"Step {index}: the value is {index}. "
        seen.add(tracker.update(text))
    assert tracker.latest == "1999" and len(seen) == 2_000
