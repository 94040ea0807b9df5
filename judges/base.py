"""The Judge protocol: how likely two (partial) reasoning traces are to end with the same answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

TracePair = tuple[str, str]


@runtime_checkable
class Judge(Protocol):
    async def same_answer(self, pairs: Sequence[TracePair]) -> list[float]:
        """For each pair, the probability in [0, 1] that both traces end with the same answer."""
        ...
