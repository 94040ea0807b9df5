"""The Hogwild script: one worker of a team that reasons together through a shared history (arXiv 2504.06261).

Every request shows the rules, the problem, the finished steps, the others' steps in progress and
the worker's own header; the script writes that worker's next step:

- The team needs S steps in all, drawn once per problem (from the simulator seed and the problem
  key, the prompt up to the past-steps section) around `trace_tokens / 50`, at least 3. While fewer
  than S steps are finished, a step is one to three sentences of working (30 to 80 tokens), now and
  then naming what another worker is doing, then a blank line and the start of another step (cut by
  the stop). Once S are finished, the step ends "... so the answer is \\boxed{X}.", X drawn at the
  request's temperature from the problem key's distribution (or `SimConfig.answers`).
- Asked whether it is doing redundant work, it says "no. " or, about one time in seven while another
  worker has a step in progress, "yes. <Other> is already on that, so I will ..." before its step.
- Asked for the answer outright (the prompt ends with the finishing line), it writes "X}.".

Scripted: the steps are filler and every step counts the same towards S, so whether real workers
divide the work well, duplicate it or build on each other is not modelled.
"""

from __future__ import annotations

import re

from orchestrator.backends.sim._protocols import SUBTASKS, lognormal, mean_logprob, sample_answer, sentences, working
from orchestrator.backends.sim._stable import seeded_rng
from orchestrator.backends.sim.script import ScriptOutput, ScriptRequest
from orchestrator.backends.sim.tokenizer import Tokenizer
from orchestrator.protocols.prompts import CHECK, FINISH, HISTORY, OTHERS, OWN, PROBLEM, SEPARATOR

STEP = re.compile(r"^\*\*(\w+) \[(\d+)\]:\*\* ", re.MULTILINE)
TOKENS_PER_STEP = 50
MIN_STEPS = 3
STEP_TOKENS = (30, 80)
REDUNDANT = 0.15
MENTION = 0.3
HISTORY_AT = f"{SEPARATOR}{HISTORY}{SEPARATOR}"


class HogwildScript:
    name = "hogwild"

    def __init__(self, tokenizer: Tokenizer | None = None) -> None:
        self._tokenizer = tokenizer or Tokenizer()

    def matches(self, prompt: str) -> bool:
        return OWN in prompt and HISTORY in prompt

    def write(self, request: ScriptRequest) -> ScriptOutput:
        key, past, others = sections(request.prompt)
        if request.prompt.endswith(FINISH):
            answer, majority = sample_answer(request, key)
            return ScriptOutput(f"{answer}}}.", mean_logprob(request.rng, majority), answer)
        check = self._check(request, others) if request.prompt.endswith(CHECK) else ""
        if len(STEP.findall(past)) >= steps_needed(request, key):
            return self._answer(request, key, check)
        step = self._step(request, others)
        return ScriptOutput(f"{check}{step}{SEPARATOR}{self._next_header(request.prompt)}", mean_logprob(request.rng))

    def _check(self, request: ScriptRequest, others: list[str]) -> str:
        """The answer to the redundancy check: mostly no; sometimes yes, while another worker is busy."""
        rng = request.rng
        if others and rng.random() < REDUNDANT:
            return f"yes. {rng.choice(others)} is already on that, so I will {rng.choice(SUBTASKS)} instead. "
        return "no. "

    def _step(self, request: ScriptRequest, others: list[str]) -> str:
        """One reasoning step: 1 to 3 sentences, about 30 to 80 tokens."""
        rng = request.rng
        opener = f"I {rng.choice(SUBTASKS)}."
        if others and rng.random() < MENTION:
            opener = f"{rng.choice(others)} is on another part, so I {rng.choice(SUBTASKS)}."
        tokens = min(lognormal(rng, sum(STEP_TOKENS) / 2, STEP_TOKENS[0]), STEP_TOKENS[1])
        body = working(rng, tokens - self._tokenizer.count(opener), self._tokenizer)
        return sentences([opener, *body], rng.randint(1, 3))

    def _answer(self, request: ScriptRequest, key: str, check: str) -> ScriptOutput:
        answer, majority = sample_answer(request, key)
        step = f"{check}Putting the steps together, everything is consistent, so the answer is \\boxed{{{answer}}}."
        return ScriptOutput(step, mean_logprob(request.rng, majority), answer)

    def _next_header(self, prompt: str) -> str:
        """The start of the worker's following step, as a model unstopped would go on."""
        own = STEP.findall(prompt[prompt.rfind(OWN) :])
        name, number = own[-1] if own else ("Me", "0")
        return f"**{name} [{int(number) + 1}]:** Next, "


def sections(prompt: str) -> tuple[str, str, list[str]]:
    """(problem key, the past steps, the names of the workers with a step in progress)."""
    key_end = prompt.find(HISTORY_AT, max(0, prompt.find(f"{SEPARATOR}{PROBLEM}{SEPARATOR}")))
    key_end = key_end if key_end >= 0 else prompt.find(HISTORY)
    past_start = prompt.find(HISTORY, key_end) + len(HISTORY)
    others_at = prompt.find(OTHERS, past_start)
    own_at = prompt.find(OWN, others_at)
    past, others = prompt[past_start:others_at], prompt[others_at:own_at]
    return prompt[:key_end], past, [name for name, _ in STEP.findall(others)]


def steps_needed(request: ScriptRequest, key: str) -> int:
    """How many steps the team needs for this problem: the same for every request of every worker."""
    rng = seeded_rng("hogwild-steps", request.config.seed, key)
    return max(MIN_STEPS, lognormal(rng, request.config.trace_tokens / TOKENS_PER_STEP, MIN_STEPS))
