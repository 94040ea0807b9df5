"""The skeleton script: a model answering Skeleton-of-Thought's three requests (arXiv 2307.15337).

- Skeleton (the prompt ends with the skeleton ask, whose "1." the model continues): K points of a
  few words each (K from 3 to 6), " point\\n2. point\\n...K. point", then a blank line and on, to
  be cut by the stop.
- Expansion (the skeleton, the expand ask, then "i. point"): one to three sentences on the point,
  about `0.6 * trace_tokens / K` tokens together (the points are most of the trace), then the next
  point's number as a model would go on (a blank line after the last point), to be cut by the stops.
- Conclusion (the conclude ask): a sentence and `The answer is \\boxed{X}.`, X drawn at the request's
  temperature from the distribution of the problem key (the prompt up to the end of the skeleton
  ask) or `SimConfig.answers`.

Scripted: the points and their expansions are filler, so how well a real model outlines a solution,
or whether its points are independent enough to expand apart, is not modelled.
"""

from __future__ import annotations

import re

from orchestrator.backends.sim._protocols import (
    BRANCH_SHARE,
    SUBTASKS,
    lognormal,
    mean_logprob,
    sample_answer,
    sentences,
    working,
)
from orchestrator.backends.sim._trace import CLOSERS
from orchestrator.backends.sim.script import ScriptOutput, ScriptRequest
from orchestrator.backends.sim.tokenizer import Tokenizer
from orchestrator.protocols.prompts import CONCLUDE_ASK, EXPAND_ASK, SKELETON_ASK

POINTS = (3, 6)
NUMBERED = re.compile(r"^\s*\d+\s*[.)]\s*\S", re.MULTILINE)
LAST_POINT = re.compile(r"(\d+)\.\s*(.*)\Z", re.DOTALL)
MIN_POINT_TOKENS = 12


class SkeletonScript:
    name = "skeleton"

    def __init__(self, tokenizer: Tokenizer | None = None) -> None:
        self._tokenizer = tokenizer or Tokenizer()

    def matches(self, prompt: str) -> bool:
        return SKELETON_ASK in prompt

    def write(self, request: ScriptRequest) -> ScriptOutput:
        end = request.prompt.find(SKELETON_ASK) + len(SKELETON_ASK)
        key, after = request.prompt[:end], request.prompt[end:]
        if CONCLUDE_ASK in after:
            return conclusion(request, key)
        if EXPAND_ASK in after:
            return self.expansion(request, after)
        return skeleton(request)

    def expansion(self, request: ScriptRequest, after: str) -> ScriptOutput:
        """Point i in full: 1 to 3 sentences, then the start of point i + 1 (or a blank line after the last)."""
        skeleton_text, _, line = after.rpartition(EXPAND_ASK)
        count = max(1, len(NUMBERED.findall("1." + skeleton_text)))
        match = LAST_POINT.search(line)
        number, point = (int(match.group(1)), match.group(2).strip()) if match else (count, "")
        rng = request.rng
        tokens = lognormal(rng, request.config.trace_tokens * BRANCH_SHARE / count, MIN_POINT_TOKENS)
        opener = f"To {point}, I work from the givens." if point else "I work from the givens."
        clauses = [opener, *working(rng, tokens - self._tokenizer.count(opener) - 8, self._tokenizer)]
        clauses.append(f"So this point gives {rng.randint(2, 999)}.")
        text = ": " + sentences(clauses, rng.randint(1, 3))
        tail = f"\n{number + 1}. Next, " if number < count else "\n\nNow the conclusion."
        return ScriptOutput(text + tail, mean_logprob(rng))


def skeleton(request: ScriptRequest) -> ScriptOutput:
    """The skeleton's points after the prompt's "1.", then a blank line and the start of the work."""
    rng = request.rng
    points = rng.sample(SUBTASKS, rng.randint(*POINTS))
    lines = "".join(f"\n{number}. {point}" for number, point in enumerate(points[1:], 2))
    return ScriptOutput(f" {points[0]}{lines}\n\nNow let me expand each point.", mean_logprob(rng))


def conclusion(request: ScriptRequest, key: str) -> ScriptOutput:
    answer, majority = sample_answer(request, key)
    closer = request.rng.choice(CLOSERS).format(answer=answer)
    text = f"Putting the points together, they are consistent. {closer} The answer is \\boxed{{{answer}}}."
    return ScriptOutput(text, mean_logprob(request.rng, majority), answer)
