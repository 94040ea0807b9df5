"""`SimulatedJudgeScript`: the embedded simulator plays the DeepPrune judge model, so `DeepPruneJudge` runs offline.

It recognises prompts rendered from its template, reads the two traces back out of them, scores the pair
with `FeatureJudge`, and answers "yes" when that score is at least 0.5, else "no". The simulator draws the
token's logprob at random around `mean_logprob`, set to log(max(score, 1 - score)), so the probability
`DeepPruneJudge` reads back is roughly the feature score. Its answers are a feature model's, not a
trained judge's:

    SimBackend(scripts=[SimulatedJudgeScript(), FallbackScript()])
"""

from __future__ import annotations

import math

from judges.features import FeatureJudge
from judges.template import DEFAULT_TEMPLATE, parser
from orchestrator.backends.sim.script import ScriptOutput, ScriptRequest


class SimulatedJudgeScript:
    """A simulator script answering the judge template's prompts with yes or no from `FeatureJudge`."""

    name = "deepprune-judge"

    def __init__(self, template: str = DEFAULT_TEMPLATE, judge: FeatureJudge | None = None) -> None:
        self._pattern = parser(template)
        self._judge = judge or FeatureJudge()

    def matches(self, prompt: str) -> bool:
        return self._pattern.fullmatch(prompt) is not None

    def write(self, request: ScriptRequest) -> ScriptOutput:
        traces = self._pattern.fullmatch(request.prompt)
        if traces is None:
            raise ValueError("the prompt was not rendered from this script's judge template")
        score = self._judge.score(traces["trace_a"], traces["trace_b"])
        return ScriptOutput("yes" if score >= 0.5 else "no", mean_logprob=math.log(max(score, 1.0 - score)))
