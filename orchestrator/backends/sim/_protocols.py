"""What the scripts that play the parallel protocols (spawn/join tags, Skeleton-of-Thought, Hogwild) share.

Each of those protocols sends one sample as several requests; every request of a sample finds the
same "problem key" in its prompt and draws its answer from the distribution of that key, so the
requests agree on what the model believes, while each draws its own words from its request's rng.
"""

from __future__ import annotations

import math
import random

from orchestrator.backends.sim._trace import HESITANT, STEADY, TracePlan, _cycle, _exploring, _fill
from orchestrator.backends.sim.answers import AnswerDistribution
from orchestrator.backends.sim.reasoning import MAJORITY_LOGPROB, MINORITY_LOGPROB
from orchestrator.backends.sim.script import ScriptRequest
from orchestrator.backends.sim.tokenizer import Tokenizer

LENGTH_SIGMA = 0.3
BRANCH_SHARE = 0.6  # of `trace_tokens`: what a sample writes in its parallel branches (threads, points)
SUBTASKS = (  # what a part of the work does: outlines, skeleton points, workers' steps
    "factor the key quantity",
    "check the small cases",
    "set up the main equation",
    "bound the answer from both sides",
    "count the complementary cases",
    "verify the boundary values",
    "simplify the expression",
    "look for a pattern in the first terms",
    "compute the remaining sum",
    "test the symmetric case",
)


def distribution(request: ScriptRequest, key: str) -> AnswerDistribution:
    """`SimConfig.answers` when set, else the four answers derived from the problem key."""
    return AnswerDistribution.of(request.config.answers) if request.config.answers else AnswerDistribution.derived(key)


def sample_answer(request: ScriptRequest, key: str) -> tuple[str, bool]:
    """(answer, whether it is the top answer), drawn at the request's temperature."""
    answers = distribution(request, key)
    answer = answers.at_temperature(request.params.temperature).sample(request.rng)
    return answer, answer == answers.top


def mean_logprob(rng: random.Random, majority: bool = True) -> float:
    mean = MAJORITY_LOGPROB if majority else MINORITY_LOGPROB
    return min(-0.02, mean + rng.gauss(0.0, 0.06))


def lognormal(rng: random.Random, median: float, floor: int) -> int:
    """A length in tokens: lognormal around `median` (sigma 0.3), at least `floor`."""
    return max(floor, round(median * math.exp(rng.gauss(0.0, LENGTH_SIGMA))))


def working(rng: random.Random, tokens: int, tokenizer: Tokenizer, majority: bool = True) -> list[str]:
    """Sentences of working with numbers of their own (the exploring half of a trace), about `tokens` long."""
    plan = TracePlan("", "", majority, tokens)
    steady, hesitant = _cycle(STEADY, rng), _cycle(HESITANT, rng)
    return _fill(tokens, lambda: _exploring(plan, rng, steady, hesitant), tokenizer)


def sentences(clauses: list[str], count: int) -> str:
    """The clauses run together into `count` sentences (fewer when there are fewer clauses)."""
    size = math.ceil(len(clauses) / count)
    groups = [clauses[start : start + size] for start in range(0, len(clauses), size)]
    return " ".join(_sentence(group) for group in groups)


def _sentence(clauses: list[str]) -> str:
    head, *tail = (clause.rstrip(".") for clause in clauses)
    return "; ".join([head, *(clause[:1].lower() + clause[1:] for clause in tail)]) + "."
