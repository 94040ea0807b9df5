"""Per-token log-probabilities of a scripted output.

A token's logprob is -Exponential(mean = -mean_logprob), so a confident thread has values near 0.
Top logprobs are built from the sampled token's probability p and one ratio r per token: the other
candidates share the remaining mass 1 - p geometrically (r, r(1-r), r(1-r)^2, ... of it); all k values
are sorted descending. So probabilities sum to at most 1, the first value is the sampled token's own
logprob whenever it was the most likely token, and a confident token has a steep tail (DeepConf's
token confidence, minus the mean of the top-k logprobs, is then high).
"""

from __future__ import annotations

import math
import random

FLOOR = -20.0


def token_logprobs(rng: random.Random, count: int, mean_logprob: float) -> list[float]:
    rate = 1.0 / max(1e-3, -mean_logprob)
    draw = rng.expovariate
    return [max(FLOOR, -draw(rate)) for _ in range(count)]


def tail_ratios(rng: random.Random, count: int) -> list[float]:
    draw = rng.random
    return [0.3 + 0.5 * draw() for _ in range(count)]


def top_logprobs(chosen: float, ratio: float, k: int) -> tuple[float, ...]:
    rest = max(1e-9, 1.0 - math.exp(chosen))
    first = math.log(rest * ratio)
    step = math.log(1.0 - ratio)
    values = [chosen] + [max(FLOOR, first + i * step) for i in range(k - 1)]
    values.sort(reverse=True)
    return tuple(values)
