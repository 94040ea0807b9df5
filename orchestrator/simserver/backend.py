"""`ServedBackend`: the simulator as the server drives it.

The server passes each request's prompt as the token ids the client sent (`CompletionRequest.prompt_ids`),
as SGLang matches its radix cache on them. This subclass also keeps each live request's `SimRequest`,
whose progress (cached tokens, state) streamed chunks report, and remembers which requests an abort
caught in the waiting queue (SGLang answers those with a different finish reason and no token counts).

Slow tokens (`Faults.token_delay_s`) hold back tokens the simulator has already generated. An abort
must still stop such a request at once, as SGLang's does (there the tokens would not exist yet), so an
abort sets the live request's `delivery_cut` event; the engine then ends the stream with what it has
delivered, as an abort, and `stats()` counts it aborted even where the simulator had finished it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator.backends.base import CompletionRequest, FinishReason
from orchestrator.backends.sim import SimBackend, SimConfig, SimRequest
from orchestrator.backends.sim.scheduler import RequestState


class ServedBackend(SimBackend):
    def __init__(self, config: SimConfig | None = None) -> None:
        super().__init__(config)
        self.live: dict[str, SimRequest] = {}
        self._aborted_waiting: set[str] = set()
        self._delivery_cuts: dict[str, asyncio.Event] = {}
        self._cut_short = 0

    def forget(self, rid: str) -> bool:
        """Drop what is kept about `rid` (call it when its stream is over); True when an abort caught it waiting."""
        self.live.pop(rid, None)
        self._delivery_cuts.pop(rid, None)
        was_waiting = rid in self._aborted_waiting
        self._aborted_waiting.discard(rid)
        return was_waiting

    def is_live(self, rid: str) -> bool:
        return rid in self.live

    def delivery_cut(self, rid: str) -> asyncio.Event:
        """Set when an abort reaches `rid` after the simulator finished it, while its tokens are held back."""
        return self._delivery_cuts.setdefault(rid, asyncio.Event())

    def cut_short(self, rid: str) -> None:
        """The engine ended `rid`'s delivery as an abort; counted when the simulator had finished it."""
        sim = self.live.get(rid)
        if sim is not None and sim.done and sim.finish_reason is not FinishReason.ABORT:
            self._cut_short += 1

    async def abort(self, request_id: str) -> None:
        if request_id in self.live:
            self._note_waiting(request_id)
            self._cut_delivery(request_id)
        await super().abort(request_id)

    async def abort_all(self) -> None:
        self._note_waiting("")
        self._cut_delivery("")
        await super().abort_all()

    def stats(self) -> dict[str, Any]:
        stats = super().stats()
        stats["finished"] -= self._cut_short
        stats["aborted"] += self._cut_short
        return stats

    def _cut_delivery(self, prefix: str) -> None:
        for rid in self.live:
            if rid.startswith(prefix):
                self.delivery_cut(rid).set()

    def _note_waiting(self, prefix: str) -> None:
        for rid, sim in self.live.items():
            if rid.startswith(prefix) and sim.state is RequestState.WAITING:
                self._aborted_waiting.add(rid)

    def _submit(self, request: CompletionRequest) -> SimRequest:
        sim = super()._submit(request)
        self.live[request.request_id] = sim
        return sim
