"""What a spawn/join protocol keeps while one thread runs: its text so far, its token latency, its rounds."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.backends.base import SamplingParams
from orchestrator.threads import Lane, Output, Trace


@dataclass(slots=True, kw_only=True)
class ThreadState:
    """`critical` counts the generated tokens on the thread's longest chain of requests so far."""

    lane: Lane
    prompt: str
    params: SamplingParams
    text: str = ""
    critical: int = 0
    rounds: int = 0
    notes: list[str] = field(default_factory=list)

    def end(self, last: Output) -> Trace:
        """The thread as it stands, ended the way `last` (its last request) ended."""
        return Trace(self.text, last.finish, self.critical, self.rounds, last.error, tuple(self.notes))
