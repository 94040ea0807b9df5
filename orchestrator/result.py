"""What a run returns and what `--json` prints: the answer, the votes, every thread, and the cost."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from orchestrator.backends.base import BackendInfo, Usage


class ThreadStatus(StrEnum):
    DONE = "done"
    LENGTH = "length"
    ABORTED = "aborted"
    PRUNED = "pruned"
    FAILED = "failed"


ANSWERED = frozenset({ThreadStatus.DONE, ThreadStatus.LENGTH})
"""Statuses of threads that ran to an end of their own and so have an answer."""

REUSABLE = frozenset({ThreadStatus.DONE, ThreadStatus.LENGTH, ThreadStatus.PRUNED})
"""Threads that ended on their own: a retried or resumed step keeps them; aborted and failed ones run again."""


class ThreadReport(BaseModel):
    """One thread of a reasoning step; under a protocol its figures sum over all of its requests.

    `critical_tokens` are the tokens on its longest chain of requests (None: all of `tokens`);
    `rounds` its protocol's fork/join or sync rounds; `notes` what the protocol had to repair.
    """

    index: int
    request_id: str
    status: ThreadStatus
    answer: str | None
    tokens: int
    prompt_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    wall_s: float
    text: str
    error: str | None = None
    step: str | None = None
    requests: int = 1
    rounds: int = 1
    critical_tokens: int | None = None
    notes: list[str] = []
    reused: bool = False

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED

    @property
    def latency_tokens(self) -> int:
        """Generated tokens on the thread's longest chain of requests."""
        return self.tokens if self.critical_tokens is None else self.critical_tokens


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ReasoningReport(BaseModel):
    """What one reasoning step cost on the server: its protocol, rounds, requests and cached prompt tokens.

    `rounds` is the most fork/join (or sync) rounds any of its threads took; `sampling_rounds` how many
    times the stopping rule launched threads; `requests`, `prompt_tokens` and `cached_tokens` include
    the prefix warm-up.
    """

    protocol: str
    threads: int
    sampling_rounds: int
    rounds: int
    requests: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    critical_path_tokens: int

    @property
    def cached_share(self) -> float:
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


class StepReport(BaseModel):
    """One step of the plan: what it was, how it ended, and when (seconds from the start of the run)."""

    id: str
    kind: str
    tool: str | None = None
    depends_on: list[str] = []
    status: StepStatus
    result: str | None = None
    error: str | None = None
    started_s: float | None = None
    ended_s: float | None = None
    attempts: int = 0
    tokens: int = 0
    reasoning: ReasoningReport | None = None
    reused: bool = False


class UsageReport(BaseModel):
    """Token totals over every request of the run, the prefix warm-up included."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 0

    def add(self, usage: Usage, requests: int = 1) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cached_tokens += usage.cached_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        self.requests += requests

    @property
    def cache_hit_rate(self) -> float:
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


class ReuseReport(BaseModel):
    """What a resumed run took from its journal instead of generating it again."""

    steps: list[str] = []
    threads: int = 0
    tokens: int = 0


class BackendReport(BaseModel):
    kind: str
    model: str
    simulated: bool
    stats: dict[str, Any]

    @classmethod
    def from_info(cls, info: BackendInfo) -> BackendReport:
        return cls(kind=info.kind, model=info.model, simulated=info.simulated, stats=dict(info.stats))


class RunResult(BaseModel):
    task: str
    answer: str | None
    votes: dict[str, int]
    support: float
    threads: list[ThreadReport]
    usage: UsageReport
    wall_s: float
    critical_path_tokens: int
    tokens_saved: int = 0
    stop: str = "cons"
    pruned: bool = False
    rounds: int = 1
    settled_early: bool = False
    steps: list[StepReport] = []
    critical_path_steps: list[str] = []
    stopped: str | None = None
    notes: list[str] = []
    backend: BackendReport
    cost: float | None = None
    reused: ReuseReport | None = None
    run_dir: str | None = None

    def count(self, *statuses: ThreadStatus) -> int:
        """How many threads ended with one of `statuses`."""
        return sum(thread.status in statuses for thread in self.threads)
