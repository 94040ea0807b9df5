"""The distribution the scripted reasoning model draws its final answers from."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.backends.sim._stable import stable_hash
from orchestrator.errors import BackendError

DERIVED_WEIGHTS = (0.5, 0.25, 0.15, 0.1)


@dataclass(frozen=True, slots=True)
class AnswerDistribution:
    """Answers with normalised weights; `top` is the most likely one (the first among ties)."""

    answers: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def of(cls, weights: Mapping[str, float]) -> AnswerDistribution:
        total = sum(weights.values())
        if not weights or total <= 0 or min(weights.values()) < 0:
            raise BackendError("answer weights must be >= 0 with a positive sum")
        return cls(tuple(weights), tuple(w / total for w in weights.values()))

    @classmethod
    def derived(cls, prompt: str) -> AnswerDistribution:
        """Four integer candidates from a stable hash of the prompt, weighted 0.5/0.25/0.15/0.1."""
        seed = stable_hash("answers", prompt)
        candidates: list[str] = []
        value = 2 + seed % 997
        while len(candidates) < len(DERIVED_WEIGHTS):
            if str(value) not in candidates:
                candidates.append(str(value))
            seed //= 13
            value += 1 + seed % 40
        return cls(tuple(candidates), DERIVED_WEIGHTS)

    @property
    def top(self) -> str:
        return self.answers[self.weights.index(max(self.weights))]

    def at_temperature(self, temperature: float) -> AnswerDistribution:
        """Weights reshaped as w ** (1 / T); T = 0 keeps only the top answer."""
        if temperature <= 0:
            return AnswerDistribution((self.top,), (1.0,))
        peak = max(self.weights)
        powered = {a: (w / peak) ** (1.0 / temperature) for a, w in zip(self.answers, self.weights)}
        return AnswerDistribution.of(powered)

    def sample(self, rng: random.Random) -> str:
        return rng.choices(self.answers, weights=self.weights)[0]
