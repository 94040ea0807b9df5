"""Early-stopping rules: when has a parallel vote seen enough answers to stop sampling?

Every rule looks at the answers in the order threads finished (pruned threads included when their
pruner says which answer they count for) and says whether the vote is settled; the engine then aborts
what is still running and launches nothing more. `window` is how many threads a rule wants launched
together in each round (`round_size`).

- `cons`: cons@N, never stops early; all N threads run and the majority wins.
- `esc` (Early-Stopping Self-Consistency, ICLR 2024): sample in windows; stop when every answer of
  the latest full window agrees.
- `adaptive` (Adaptive-Consistency, EMNLP 2023): stop when P(p1 > p2) >= threshold, p1 and p2 the
  probabilities of the two leading answers under a Beta posterior of their counts.
- `deepconf` (arXiv 2508.15260): confidence-weighted vote, stop when one answer holds `consensus`
  of the weight; its warm-up threshold and per-thread cut-off live in `orchestrator.confidence`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.aggregate import Vote, majority_vote, normalize_answer, weighted_vote


@dataclass(frozen=True, slots=True)
class Ballot:
    """One thread's answer as a stopping rule sees it; `weight` is its confidence where a rule uses one."""

    answer: str | None
    weight: float = 1.0


class StopRule(Protocol):
    name: str
    needs_logprobs: bool

    def round_size(self, launched: int, remaining: int) -> int:
        """How many threads to launch together next, `launched` having been launched so far."""
        ...

    def settled(self, ballots: Sequence[Ballot]) -> bool:
        """True once the vote over `ballots` (in finishing order) needs no more samples."""
        ...

    def decide(self, ballots: Sequence[Ballot]) -> Vote:
        """The final vote."""
        ...


class _Majority:
    needs_logprobs = False
    window: int | None = None

    def round_size(self, launched: int, remaining: int) -> int:
        return min(self.window or remaining, remaining)

    def decide(self, ballots: Sequence[Ballot]) -> Vote:
        return majority_vote([ballot.answer for ballot in ballots])


class Consistency(_Majority):
    """cons@N: every thread runs; the majority answer wins."""

    name = "cons"

    def settled(self, ballots: Sequence[Ballot]) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class EarlyStoppingConsistency(_Majority):
    """ESC: stop when all answers of the latest full window agree."""

    window: int = 5
    name = "esc"

    def settled(self, ballots: Sequence[Ballot]) -> bool:
        if not ballots or len(ballots) % self.window:
            return False
        latest = {_key(ballot.answer) for ballot in ballots[-self.window :]}
        return len(latest) == 1 and None not in latest


@dataclass(frozen=True, slots=True)
class AdaptiveConsistency(_Majority):
    """Adaptive-Consistency's Beta stopping criterion on the two leading answer counts."""

    threshold: float = 0.95
    window: int | None = 1
    name = "adaptive"

    def settled(self, ballots: Sequence[Ballot]) -> bool:
        counts = sorted(majority_vote([ballot.answer for ballot in ballots]).counts.values(), reverse=True)
        if not counts:
            return False
        second = counts[1] if len(counts) > 1 else 0
        return leader_probability(counts[0], second) >= self.threshold


@dataclass(frozen=True, slots=True)
class ConfidenceConsensus:
    """DeepConf's stop: one answer holds `consensus` of the confidence-weighted vote."""

    consensus: float = 0.95
    warmup: int = 16
    window: int = 1
    name = "deepconf"
    needs_logprobs = True

    def round_size(self, launched: int, remaining: int) -> int:
        return min(self.warmup if launched == 0 else self.window, remaining)

    def settled(self, ballots: Sequence[Ballot]) -> bool:
        answered = [ballot for ballot in ballots if ballot.answer is not None]
        return len(answered) >= self.warmup and self.decide(answered).support >= self.consensus

    def decide(self, ballots: Sequence[Ballot]) -> Vote:
        return weighted_vote([ballot.answer for ballot in ballots], [ballot.weight for ballot in ballots])


def leader_probability(first: int, second: int) -> float:
    """P(p1 > p2) for (p1, p2) ~ Dirichlet(first + 1, second + 1): the Beta(first + 1, second + 1) mass above 1/2."""
    a, b = first + 1, second + 1
    n = a + b - 1
    below = sum(math.comb(n, k) for k in range(a, n + 1))
    return 1.0 - below / 2**n


def _key(answer: str | None) -> str | None:
    return normalize_answer(answer) if answer is not None else None


# --- configuration (`strategy.stop` in a task file) ----------------------------------------------


class _RuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsConfig(_RuleConfig):
    rule: Literal["cons"] = "cons"


class EscConfig(_RuleConfig):
    rule: Literal["esc"] = "esc"
    window: int = Field(5, ge=1, le=1024)


class AdaptiveConfig(_RuleConfig):
    rule: Literal["adaptive"] = "adaptive"
    threshold: float = Field(0.95, gt=0.5, lt=1.0)
    window: int = Field(1, ge=1, le=1024)


class DeepConfConfig(_RuleConfig):
    """DeepConf online: `warmup` full traces set the cut-off at the `percentile` of their lowest group
    confidence (90: keep the most confident 10%, DeepConf-low; 10: DeepConf-high), confidence over a
    sliding `group_tokens` window of `top_logprobs` candidates; stop at `consensus`; after the warm-up,
    `window` threads are launched per round."""

    rule: Literal["deepconf"] = "deepconf"
    warmup: int = Field(16, ge=1, le=4096)
    percentile: float = Field(90.0, ge=0.0, le=100.0)
    group_tokens: int = Field(2048, ge=1, le=1_000_000)
    top_logprobs: int = Field(20, ge=1, le=20)
    consensus: float = Field(0.95, gt=0.5, le=1.0)
    window: int = Field(1, ge=1, le=1024)


StopConfig = Annotated[ConsConfig | EscConfig | AdaptiveConfig | DeepConfConfig, Field(discriminator="rule")]
STOP_RULES = ("cons", "esc", "adaptive", "deepconf")


def build_stop_rule(config: ConsConfig | EscConfig | AdaptiveConfig | DeepConfConfig) -> StopRule:
    """The rule a `strategy.stop` section describes."""
    if isinstance(config, EscConfig):
        return EarlyStoppingConsistency(config.window)
    if isinstance(config, AdaptiveConfig):
        return AdaptiveConsistency(config.threshold, config.window)
    if isinstance(config, DeepConfConfig):
        return ConfidenceConsensus(config.consensus, config.warmup, config.window)
    return Consistency()
