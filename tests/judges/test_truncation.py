"""Tests of how much of a partial trace a judge reads (judges.truncation)."""

from __future__ import annotations

import pydantic
import pytest

from judges import REASONING_WORDS, Truncation

TRACE = "Let me  see. 12 * 7 = 84, so the total is 84 + 16.\nWait, that is 100. Thus the answer is 100."


def test_default_is_deepprunes_best_setting() -> None:
    assert Truncation() == Truncation(mode="reasoning_words", limit=25)
    assert {"wait", "thus", "since"} <= REASONING_WORDS


def test_words_mode_keeps_the_first_words_as_a_prefix_of_the_text() -> None:
    cut = Truncation(mode="words", limit=4).cut(TRACE)
    assert cut == "Let me  see. 12"
    assert TRACE.startswith(cut)


def test_reasoning_words_mode_cuts_right_after_the_limit_th_reasoning_word() -> None:
    assert Truncation(limit=1).cut(TRACE) == "Let"
    assert Truncation(limit=3).cut(TRACE) == "Let me  see. 12 * 7 = 84, so the total is 84 + 16.\nWait"
    assert Truncation(limit=4).cut(TRACE).endswith("100. Thus")


def test_reasoning_words_count_whole_words_in_any_case() -> None:
    text = "Butter is soft, SO we stop. Sofa. So. whatsoever BUT"
    assert Truncation(limit=3).cut(text) == text
    assert not Truncation(limit=4).ready(text)


def test_a_short_trace_is_kept_whole_and_is_not_ready() -> None:
    for truncation in (Truncation(mode="words", limit=100), Truncation(limit=25)):
        assert truncation.cut(TRACE) == TRACE
        assert not truncation.ready(TRACE)
    assert Truncation(mode="words", limit=100).cut("") == ""


def test_ready_once_the_limit_is_reached() -> None:
    words = len(TRACE.split())
    assert Truncation(mode="words", limit=words - 1).ready(TRACE)
    assert not Truncation(mode="words", limit=words).ready(TRACE), "its last word may still be growing"
    assert Truncation(limit=4).ready(TRACE)
    assert not Truncation(limit=5).ready(TRACE)


def test_not_ready_while_the_limit_th_word_may_still_be_growing() -> None:
    streamed = "The last letter of 'Dan' is 'n'. Concatenating them is 'nh"
    late = Truncation(mode="words", limit=len(streamed.split()))
    assert not late.ready(streamed), "a judge would read 'nh, half of the result"
    assert late.ready(streamed + "ro'. The")
    assert late.cut(streamed + "ro'. The").endswith("'nhro'.")
    assert not Truncation(limit=1).ready("So"), "'So' may be the start of 'Sofa'"
    assert Truncation(limit=1).ready("So we")


def test_settings_are_validated_and_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        Truncation(limit=0)
    with pytest.raises(pydantic.ValidationError):
        Truncation(mode="tokens")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        Truncation(tokens=5)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        Truncation().limit = 3  # type: ignore[misc]
