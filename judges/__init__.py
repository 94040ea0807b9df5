"""Judges: predict whether reasoning traces reach the same answer.

For partial traces: `FeatureJudge` (no model; a fitted logistic model over pair features),
`NGramJudge` (surface-similarity baseline) and `DeepPruneJudge` (a served judge model behind any
backend; `SimulatedJudgeScript` plays it on the embedded simulator). For finished traces:
`EquivalenceJudge`, built on `answers_equivalent`. `Truncation` says how much of a trace a judge reads;
`latest_result` / `ResultTracker` read what a streaming trace has stated so far (answer anchoring).
"""

from judges.base import Judge, TracePair
from judges.deepprune import DeepPruneJudge, probability_same
from judges.equivalence import EquivalenceJudge, answers_equivalent, canonical_answer
from judges.features import FEATURE_NAMES, FeatureJudge, pair_features
from judges.similarity import NGramJudge, word_ngrams
from judges.simulated import SimulatedJudgeScript
from judges.stated import ResultTracker, latest_result
from judges.template import DEFAULT_TEMPLATE
from judges.truncation import REASONING_WORDS, Truncation

__all__ = [
    "DEFAULT_TEMPLATE",
    "FEATURE_NAMES",
    "REASONING_WORDS",
    "DeepPruneJudge",
    "EquivalenceJudge",
    "FeatureJudge",
    "Judge",
    "NGramJudge",
    "ResultTracker",
    "SimulatedJudgeScript",
    "TracePair",
    "Truncation",
    "answers_equivalent",
    "canonical_answer",
    "latest_result",
    "pair_features",
    "probability_same",
    "word_ngrams",
]
