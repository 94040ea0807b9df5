"""Judges: predict whether reasoning traces reach the same answer."""

from judges.answer_match import AnswerMatchJudge
from judges.base import Judge, TracePair

__all__ = ["AnswerMatchJudge", "Judge", "TracePair"]
