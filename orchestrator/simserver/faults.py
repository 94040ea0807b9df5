"""Fault injection: which requests fail, which streams are cut, how slow tokens arrive.

Every draw is deterministic: request number `k` (counted over `/generate` and `/v1/*` requests since
the server started) draws from `random.Random(f"simserver-faults:{seed}:{k}")`, so a run with the
same seed and the same request order meets the same faults.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

CUT_AFTER_MAX_EVENTS = 3


@dataclass(frozen=True)
class Faults:
    """Faults to inject; all off by default.

    - `error_rate`: share of requests answered HTTP 500, before any output.
    - `unavailable_rate`: share answered HTTP 503, before any output.
    - `cut_rate`: share of streams cut mid-way: the connection is closed without `[DONE]`.
    - `token_delay_s`: extra real seconds per generated token delivered (slow tokens), streamed or not.
    - `loading_s`: for this many seconds after start every endpoint answers 503 (a server loading
      weights; `/health`, `/health_generate` and `/ready` with an empty body, as SGLang's `Starting`).
    - `ignore_abort`: `/abort_request` answers 200 but aborts nothing.
    - `seed`: seeds the draws.
    """

    error_rate: float = 0.0
    unavailable_rate: float = 0.0
    cut_rate: float = 0.0
    token_delay_s: float = 0.0
    loading_s: float = 0.0
    ignore_abort: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("error_rate", "unavailable_rate", "cut_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Faults.{name} must be in [0, 1]")
        if self.error_rate + self.unavailable_rate > 1.0:
            raise ValueError("Faults.error_rate + Faults.unavailable_rate must be at most 1")
        if self.token_delay_s < 0 or self.loading_s < 0:
            raise ValueError("Faults.token_delay_s and Faults.loading_s must be >= 0")


@dataclass(frozen=True, slots=True)
class FaultDraw:
    """What happens to one request: an error status, or a stream cut after `cut_after` events."""

    status: int | None = None
    cut_after: int | None = None


class FaultPlan:
    """Draws the faults of successive requests and tells whether the server is still loading."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._requests = 0
        self._started = time.monotonic()

    def restart_clock(self) -> None:
        self._started = time.monotonic()

    def loading(self) -> bool:
        return time.monotonic() - self._started < self.faults.loading_s

    def draw(self) -> FaultDraw:
        rng = random.Random(f"simserver-faults:{self.faults.seed}:{self._requests}")
        self._requests += 1
        return FaultDraw(self._status(rng.random()), self._cut(rng))

    def _status(self, u: float) -> int | None:
        if u < self.faults.error_rate:
            return 500
        if u < self.faults.error_rate + self.faults.unavailable_rate:
            return 503
        return None

    def _cut(self, rng: random.Random) -> int | None:
        cut = rng.random() < self.faults.cut_rate
        return rng.randint(1, CUT_AFTER_MAX_EVENTS) if cut else None
