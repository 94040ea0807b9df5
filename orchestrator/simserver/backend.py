"""`ServedBackend`: the simulator as the server drives it.

The server passes each request's prompt as the token ids the client sent (`CompletionRequest.prompt_ids`),
as SGLang matches its radix cache on them. This subclass also keeps each live request's `SimRequest`,
whose progress (cached tokens, state) streamed chunks report, and remembers which requests an abort
caught in the waiting queue (SGLang answers those with a different finish reason and no token counts).
"""

from __future__ import annotations

from orchestrator.backends.base import CompletionRequest
from orchestrator.backends.sim import SimBackend, SimConfig, SimRequest
from orchestrator.backends.sim.scheduler import RequestState


class ServedBackend(SimBackend):
    def __init__(self, config: SimConfig | None = None) -> None:
        super().__init__(config)
        self.live: dict[str, SimRequest] = {}
        self._aborted_waiting: set[str] = set()

    def forget(self, rid: str) -> bool:
        """Drop what is kept about `rid` (call it when its stream is over); True when an abort caught it waiting."""
        self.live.pop(rid, None)
        was_waiting = rid in self._aborted_waiting
        self._aborted_waiting.discard(rid)
        return was_waiting

    def is_live(self, rid: str) -> bool:
        return rid in self.live

    async def abort(self, request_id: str) -> None:
        if request_id in self.live:
            self._note_waiting(request_id)
        await super().abort(request_id)

    async def abort_all(self) -> None:
        self._note_waiting("")
        await super().abort_all()

    def _note_waiting(self, prefix: str) -> None:
        for rid, sim in self.live.items():
            if rid.startswith(prefix) and sim.state is RequestState.WAITING:
                self._aborted_waiting.add(rid)

    def _submit(self, request: CompletionRequest) -> SimRequest:
        sim = super()._submit(request)
        self.live[request.request_id] = sim
        return sim
