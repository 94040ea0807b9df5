"""The sentences of a simulated chain-of-thought trace.

The first half explores with numbers of the thread's own; the second half converges on the answer
through intermediate values and phrasing derived from (prompt, answer), so traces that will end with
the same answer share recognisable candidates and wording early and late, and traces that end
differently do not. Minority-answer traces hesitate more ("Wait", "Hmm").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from orchestrator.backends.sim._stable import stable_hash
from orchestrator.backends.sim.tokenizer import Tokenizer

OPENERS = (
    "Okay, let me work through this step by step.",
    "Let me start by restating what the problem asks.",
    "Alright, I need to figure out what is being asked here.",
    "First, let me understand the setup carefully.",
)
APPROACHES = (
    "direct computation",
    "a case analysis",
    "working backwards from the constraints",
    "counting the complement",
    "a substitution",
    "modular arithmetic",
    "a symmetry argument",
    "an invariant",
)
MOTIFS = ("boundary", "symmetric", "complementary", "degenerate", "telescoping", "parity", "extremal", "recursive")
STEADY = (
    "First, {a} + {b} = {sum}.",
    "So multiplying {a} by {k} gives {prod}.",
    "Then {b} minus {a} is {diff}.",
    "Since {a} is {parity}, the next value to try is {next}.",
    "Thus the remainder of {a} modulo {k} is {mod}.",
    "So the partial total so far is {sum}.",
    "Let me check the case {a} separately; it works.",
)
HESITANT = (
    "Wait, let me recompute that: {b} - {a} is {diff}.",
    "Hmm, that gives {sum}, which does not look right yet.",
    "Wait, I should double-check the constraint on {b}.",
    "Hmm, maybe I should try a smaller example with {k} first.",
    "Let me check again whether {prod} is too large.",
)
CONVERGING = (
    "So the intermediate result is {sig}.",
    "Therefore, in the {motif} case, the count becomes {sig}.",
    "Let me check: {sig} together with {sig2} is consistent.",
    "Thus the candidate answer is {answer}.",
    "So everything points to {answer} through the {motif} case.",
    "Since {sig2} also fits, the value {answer} holds.",
    "Wait, let me verify {sig} once more; yes, it still leads to {answer}.",
)
CLOSERS = ("So the final answer is {answer}.", "Therefore, the answer is {answer}.")


@dataclass(frozen=True, slots=True)
class TracePlan:
    prompt: str
    answer: str
    majority: bool
    target_tokens: int


def compose(plan: TracePlan, rng: random.Random, tokenizer: Tokenizer) -> str:
    """The reasoning text (without the think tags), about `plan.target_tokens` tokens long."""
    signature = _signature(plan)
    sentences = [rng.choice(OPENERS), _approach_sentence(plan, rng)]
    budget = plan.target_tokens - _count(sentences, tokenizer)
    half = budget // 2
    steady, hesitant = _cycle(STEADY, rng), _cycle(HESITANT, rng)
    sentences += _fill(half, lambda: _exploring(plan, rng, steady, hesitant), tokenizer)
    converging = _cycle(CONVERGING, rng)
    sentences += _fill(budget - half, lambda: next(converging).format(**signature), tokenizer)
    sentences.append(rng.choice(CLOSERS).format(answer=plan.answer))
    return _paragraphs(sentences, rng)


def _signature(plan: TracePlan) -> dict[str, str]:
    seed = stable_hash("signature", plan.prompt, plan.answer)
    return {
        "sig": str(100 + seed % 900),
        "sig2": str(10 + (seed >> 16) % 90),
        "motif": MOTIFS[(seed >> 32) % len(MOTIFS)],
        "answer": plan.answer,
    }


def _approach_sentence(plan: TracePlan, rng: random.Random) -> str:
    shared = APPROACHES[stable_hash("approach", plan.prompt, plan.answer) % len(APPROACHES)]
    approach = shared if rng.random() < 0.75 else rng.choice(APPROACHES)
    return f"I'll try {approach}."


def _exploring(plan: TracePlan, rng: random.Random, steady: Iterator[str], hesitant: Iterator[str]) -> str:
    hesitation = 0.2 if plan.majority else 0.45
    template = next(hesitant if rng.random() < hesitation else steady)
    a, b, k = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 9)
    values = {
        "a": a, "b": b, "k": k, "sum": a + b, "prod": a * k, "diff": b - a, "mod": a % k,
        "parity": "even" if a % 2 == 0 else "odd", "next": a + k,
    }  # fmt: skip
    return template.format(**values)


def _cycle(templates: tuple[str, ...], rng: random.Random) -> Iterator[str]:
    """The templates in a fresh random order each round, so no sentence repeats back to back."""
    while True:
        yield from rng.sample(templates, len(templates))


def _fill(budget: int, sentence: Callable[[], str], tokenizer: Tokenizer) -> list[str]:
    out: list[str] = []
    while budget > 0:
        text = sentence()
        out.append(text)
        budget -= tokenizer.count(" " + text)
    return out


def _count(sentences: list[str], tokenizer: Tokenizer) -> int:
    return sum(tokenizer.count(" " + s) for s in sentences)


def _paragraphs(sentences: list[str], rng: random.Random) -> str:
    parts: list[str] = [sentences[0]]
    since_break = 1
    for sentence in sentences[1:]:
        brk = since_break >= 3 and rng.random() < 0.4
        parts.append("\n\n" if brk else " ")
        parts.append(sentence)
        since_break = 1 if brk else since_break + 1
    return "".join(parts)
