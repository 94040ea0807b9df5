"""The reasoning script: a chain-of-thought trace ending in `The answer is \\boxed{X}.`

The answer is drawn from `SimConfig.answers` (or four candidates derived from the prompt) reshaped by
the sampling temperature. Trace length is lognormal around `SimConfig.trace_tokens` (sigma 0.3);
minority-answer traces are 30% longer and less confident (mean token logprob about -0.65 against
-0.3 for the top answer), as real reasoning models ramble and hedge more on the paths they get wrong.
"""

from __future__ import annotations

import math

from orchestrator.backends.sim._trace import TracePlan, compose
from orchestrator.backends.sim.answers import AnswerDistribution
from orchestrator.backends.sim.script import ScriptOutput, ScriptRequest
from orchestrator.backends.sim.tokenizer import Tokenizer

MINORITY_LENGTH_FACTOR = 1.3
LENGTH_SIGMA = 0.3
FRAME_TOKENS = 14  # "<think>\n", "\n</think>\n\nThe answer is \boxed{X}." and the end-of-sequence token
MAJORITY_LOGPROB = -0.3
MINORITY_LOGPROB = -0.65


class ReasoningScript:
    name = "reasoning"

    def __init__(self, tokenizer: Tokenizer | None = None) -> None:
        self._tokenizer = tokenizer or Tokenizer()

    def matches(self, prompt: str) -> bool:
        lowered = prompt.lower()
        return "\\boxed" in lowered or "step by step" in lowered

    def write(self, request: ScriptRequest) -> ScriptOutput:
        distribution = answer_distribution(request)
        answer = distribution.at_temperature(request.params.temperature).sample(request.rng)
        majority = answer == distribution.top
        plan = TracePlan(request.prompt, answer, majority, _length(request, majority))
        body = compose(plan, request.rng, self._tokenizer)
        text = f"<think>\n{body}\n</think>\n\nThe answer is \\boxed{{{answer}}}."
        return ScriptOutput(text, _mean_logprob(request, majority), answer)


def answer_distribution(request: ScriptRequest) -> AnswerDistribution:
    if request.config.answers:
        return AnswerDistribution.of(request.config.answers)
    return AnswerDistribution.derived(request.prompt)


def _length(request: ScriptRequest, majority: bool) -> int:
    median = request.config.trace_tokens * (1.0 if majority else MINORITY_LENGTH_FACTOR)
    return max(8, round(median * math.exp(request.rng.gauss(0.0, LENGTH_SIGMA))) - FRAME_TOKENS)


def _mean_logprob(request: ScriptRequest, majority: bool) -> float:
    mean = MAJORITY_LOGPROB if majority else MINORITY_LOGPROB
    return min(-0.02, mean + request.rng.gauss(0.0, 0.06))
