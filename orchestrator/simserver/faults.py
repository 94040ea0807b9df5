"""Fault injection: which requests fail, which streams are cut, how slow tokens arrive.

Every draw is deterministic: request number `k` (counted over `/generate` and `/v1/*` requests since
the server was created, across `SimServer.restart()`) draws from
`random.Random(f"simserver-faults:{seed}:{k}")`, so a run with the same seed and the same request
order meets the same faults. Error bursts follow from the draws too: a burst is the `burst - 1`
requests after one that drew an error status.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass

CUT_AFTER_MAX_EVENTS = 3


@dataclass(frozen=True)
class Faults:
    """Faults to inject; all off by default.

    - `error_rate`: share of requests that draw HTTP 500, answered before any output.
    - `unavailable_rate`: share that draw HTTP 503, answered before any output.
    - `burst`: an error status comes in bursts of this many requests: once a request draws 500 or
      503, the next `burst - 1` requests (whoever sends them) get the same status without a draw of
      their own, then drawing resumes. 1 (the default): every request draws independently. With a
      rate r of an error status, about `burst * r / (1 + (burst - 1) * r)` of requests then get it.
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
    burst: int = 1

    def __post_init__(self) -> None:
        for name in ("error_rate", "unavailable_rate", "cut_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Faults.{name} must be in [0, 1]")
        if self.error_rate + self.unavailable_rate > 1.0:
            raise ValueError("Faults.error_rate + Faults.unavailable_rate must be at most 1")
        if self.token_delay_s < 0 or self.loading_s < 0:
            raise ValueError("Faults.token_delay_s and Faults.loading_s must be >= 0")
        if self.burst < 1:
            raise ValueError("Faults.burst must be >= 1")


@dataclass(frozen=True, slots=True)
class FaultDraw:
    """What happens to one request: an error status, or a stream cut after `cut_after` events."""

    status: int | None = None
    cut_after: int | None = None


class FaultPlan:
    """Draws the faults of successive requests and tells whether the server is still loading.

    `injected` counts the error statuses it has handed out (500, 503; bursts included), so a test
    can compare a client's retries with the failures it met.
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.injected: Counter[int] = Counter()
        self._requests = 0
        self._started = time.monotonic()
        self._burst_status: int | None = None
        self._burst_left = 0

    def restart_clock(self) -> None:
        self._started = time.monotonic()

    def loading(self) -> bool:
        return time.monotonic() - self._started < self.faults.loading_s

    def draw(self) -> FaultDraw:
        rng = random.Random(f"simserver-faults:{self.faults.seed}:{self._requests}")
        self._requests += 1
        status, cut = self._status(rng.random()), self._cut(rng)
        if self._burst_left > 0:
            self._burst_left -= 1
            status, cut = self._burst_status, None
        elif status is not None:
            self._burst_status, self._burst_left = status, self.faults.burst - 1
        if status is not None:
            self.injected[status] += 1
        return FaultDraw(status, cut)

    def _status(self, u: float) -> int | None:
        if u < self.faults.error_rate:
            return 500
        if u < self.faults.error_rate + self.faults.unavailable_rate:
            return 503
        return None

    def _cut(self, rng: random.Random) -> int | None:
        cut = rng.random() < self.faults.cut_rate
        return rng.randint(1, CUT_AFTER_MAX_EVENTS) if cut else None
