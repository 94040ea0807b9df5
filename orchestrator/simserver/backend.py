"""`ServedBackend`: the simulator as the server drives it, prompts given as token ids.

SGLang matches the radix cache on the token ids a client sends; re-encoding the decoded text could
merge tokens across a prefix/suffix boundary. So the server pins each request's prompt ids, and the
simulator uses them instead of encoding the prompt text (the text still picks the script). It also
keeps each live request's `SimRequest`, whose progress (cached tokens, state) streamed chunks
report, and remembers which requests an abort caught in the waiting queue (SGLang answers those
with a different finish reason and no token counts).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

from orchestrator.backends.base import CompletionRequest, StreamEvent
from orchestrator.backends.sim import SimBackend, SimConfig, SimRequest, Tokenizer
from orchestrator.backends.sim.scheduler import RequestState


class _PinnedTokenizer(Tokenizer):
    """Encodes any text as the pinned ids: the simulator encodes the prompt exactly once per request."""

    def __init__(self, ids: Sequence[int]) -> None:
        self._ids = list(ids)

    def encode(self, text: str) -> list[int]:
        return list(self._ids)


class ServedBackend(SimBackend):
    def __init__(self, config: SimConfig | None = None) -> None:
        super().__init__(config)
        self.live: dict[str, SimRequest] = {}
        self._pinned: dict[str, list[int]] = {}
        self._aborted_waiting: set[str] = set()

    def generate(self, request: CompletionRequest, prompt_ids: Sequence[int]) -> AsyncGenerator[StreamEvent, None]:
        """`stream(request)` with the prompt given as `prompt_ids`; call `forget` when it is over."""
        self._pinned[request.request_id] = list(prompt_ids)
        return self.stream(request)

    def forget(self, rid: str) -> bool:
        """Drop what is kept about `rid`; True when an abort caught it in the waiting queue."""
        self._pinned.pop(rid, None)
        self.live.pop(rid, None)
        was_waiting = rid in self._aborted_waiting
        self._aborted_waiting.discard(rid)
        return was_waiting

    def is_live(self, rid: str) -> bool:
        return rid in self.live or rid in self._pinned

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
        ids = self._pinned.pop(request.request_id, None)
        if ids is not None:
            self.tokenizer = _PinnedTokenizer(ids)
        try:
            sim = super()._submit(request)
        finally:
            self.tokenizer = self.model.tokenizer
        self.live[request.request_id] = sim
        return sim
