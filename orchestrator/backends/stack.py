"""`limits:` in a task file, and the stack of wrappers it puts around a backend."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.backends.base import Backend
from orchestrator.backends.limits import ConcurrencyLimit, RateLimit
from orchestrator.backends.retry import Retrying
from orchestrator.backends.timeouts import Timeouts


class Limits(BaseModel):
    """How hard a run may press its server, and how long it may take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int | None = Field(None, ge=1, le=100_000)
    requests_per_second: float | None = Field(None, gt=0, le=1_000_000)
    retries: int = Field(2, ge=0, le=20)
    backoff_s: float = Field(0.5, ge=0, le=60)
    backoff_max_s: float = Field(30.0, ge=0, le=3600)
    request_timeout_s: float | None = Field(None, gt=0, le=86_400)
    run_timeout_s: float | None = Field(None, gt=0, le=604_800)


def with_limits(backend: Backend, limits: Limits) -> Backend:
    """Wrap `backend`, innermost first: concurrency, rate, retries, timeouts (outermost, so they cover waiting)."""
    if limits.concurrency is not None:
        backend = ConcurrencyLimit(backend, limits.concurrency)
    if limits.requests_per_second is not None:
        backend = RateLimit(backend, limits.requests_per_second)
    if limits.retries > 0:
        backend = Retrying(backend, limits.retries + 1, limits.backoff_s, limits.backoff_max_s)
    if limits.request_timeout_s is not None or limits.run_timeout_s is not None:
        backend = Timeouts(backend, limits.request_timeout_s, limits.run_timeout_s)
    return backend
