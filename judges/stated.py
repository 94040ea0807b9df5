"""What a partial trace has stated so far: its latest intermediate result, read as it streams.

A result is a value a trace commits to in passing: `is 'yajo'`, `are "y a j o"`, `gives 42`,
`= 3/4`. Reasoning traces usually state their answer this way before they end with "the answer
is ...", so a thread whose latest result is an answer other threads already finished with has said
what it will vote for (`orchestrator.pruning` uses this to stop it early).
"""

from __future__ import annotations

import re

from judges.equivalence import canonical_answer

RESULT = re.compile(
    r"(?:\b(?:is|are|equals|gives|get)\s+|=\s*)(?P<x>'[^'\n]{1,40}'|\"[^\"\n]{1,40}\"|[-+]?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?)"
)
"""An intermediate result: a short quoted string or a number after `is`, `are`, `equals`, `gives`, `get` or `=`."""

_LONGEST_MATCH = 64
"""More characters than any `RESULT` match spans, so a rescan from this far back sees every new one whole."""


def latest_result(text: str) -> str | None:
    """The canonical form of the last non-empty result `text` states, or None."""
    found = [match["x"] for match in RESULT.finditer(text) if match["x"].strip()]
    return canonical_answer(found[-1]) if found else None


class ResultTracker:
    """The latest result of one streaming trace as written (`'yajo'`), updated from each new tail only.

    A result counts once something follows it (a number at the very end may still grow), so
    `update` reads each part of the trace a bounded number of times however long the trace gets.
    """

    def __init__(self) -> None:
        self.latest: str | None = None
        self._scanned = 0

    def update(self, text: str) -> str | None:
        """The latest complete result of `text`, the trace so far (each call's text extends the last)."""
        start = max(0, self._scanned - _LONGEST_MATCH)
        for match in RESULT.finditer(text, start):
            if match.end() < len(text) and match["x"].strip():
                self.latest = match["x"]
        self._scanned = len(text)
        return self.latest
