"""Tests of the n-gram overlap baseline (judges.similarity)."""

from __future__ import annotations

from judges import Judge, NGramJudge, Truncation, word_ngrams

PATH = "The last letter of 'Whitney' is 'y'. The last letter of 'Erika' is 'a'."
SAME_PATH_OTHER_QUOTES = 'The last letter of "Whitney" is "y". The last letter of "Erika" is "a".'
OTHER_PATH = "Whitney ends in y and Erika ends in a, so concatenating gives ya."


def test_word_ngrams_are_lower_cased_1_to_3_grams() -> None:
    assert word_ngrams("A b, C") == {"a", "b", "c", "a b", "b c", "a b c"}
    assert word_ngrams("") == frozenset()


async def test_same_path_pairs_score_above_different_path_pairs() -> None:
    judge = NGramJudge()
    assert isinstance(judge, Judge)
    same, requoted, other = await judge.same_answer([(PATH, PATH), (PATH, SAME_PATH_OTHER_QUOTES), (PATH, OTHER_PATH)])
    assert same == requoted == 1.0
    assert 0.0 <= other < 0.3


def test_empty_traces_are_identical_and_truncation_applies() -> None:
    assert NGramJudge().score("", "") == 1.0
    assert NGramJudge(Truncation(mode="words", limit=4)).score(PATH, PATH + " Wait, no.") == 1.0
    assert NGramJudge().score(PATH, PATH + " Wait, no.") < 1.0
