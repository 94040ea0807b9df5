from judges import AnswerMatchJudge, Judge


async def test_same_final_answers_match_whatever_their_form() -> None:
    judge = AnswerMatchJudge()
    assert isinstance(judge, Judge)
    pairs = [
        ("... so \\boxed{24}.", "Thus the answer is 24."),
        ("... \\boxed{24}", "... \\boxed{20}"),
        ("no answer yet, still thinking", "\\boxed{24}"),
        ("\\boxed{\\frac{1}{2}}", "The answer is 1/2."),
    ]
    assert await judge.same_answer(pairs) == [1.0, 0.0, 0.0, 1.0]
