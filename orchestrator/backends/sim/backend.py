"""`SimBackend`: the embedded SGLang simulator behind the `Backend` protocol.

Every figure it reports is a simulator's (`BackendInfo.simulated` is True): GPU seconds come from
the roofline timing model, cached tokens from a real radix cache, text from scripts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from orchestrator.backends.base import (
    AsyncClosing,
    BackendInfo,
    Completion,
    CompletionRequest,
    StreamEvent,
    TextChunk,
    Usage,
)
from orchestrator.backends.sim.config import SimConfig
from orchestrator.backends.sim.generation import ScriptedModel
from orchestrator.backends.sim.radix import RadixCache
from orchestrator.backends.sim.scheduler import Scheduler, SimRequest
from orchestrator.backends.sim.script import Script
from orchestrator.backends.sim.timing import TimingModel
from orchestrator.errors import BackendError


class SimBackend(AsyncClosing):
    """A simulated SGLang server in this process; construct anywhere, it starts on the first request."""

    def __init__(self, config: SimConfig | None = None, *, scripts: Sequence[Script] | None = None) -> None:
        self.config = config or SimConfig()
        self.timing = TimingModel.preset(self.config.model, self.config.gpu)
        self.cache = RadixCache(self._capacity())
        self.model = ScriptedModel(self.config, scripts)
        self.tokenizer = self.model.tokenizer
        self._scheduler = Scheduler(self.config, self.timing, self.cache)
        self._requests = 0
        self._closed = False

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Yield text chunks as the simulated GPU produces tokens, then the `Completion`."""
        sim = self._submit(request)
        loop = asyncio.get_running_loop()
        try:
            while True:
                if sim.sent < sim.produced:
                    yield self._chunk(sim)
                elif sim.done:
                    yield self._completion(sim)
                    return
                else:
                    sim.waiter = loop.create_future()
                    await sim.waiter
        finally:
            if not sim.done:
                self._scheduler.abort_request(sim)

    async def abort(self, request_id: str) -> None:
        """Abort a waiting or running request, as SGLang's `/abort_request` does.

        The server forwards the abort only when `request_id` is a live request's id, and its scheduler
        then aborts every request whose id starts with it (so ids must not be prefixes of each other:
        use fixed-length ids). An unknown id is ignored.
        """
        self._scheduler.abort(request_id)

    async def abort_all(self) -> None:
        self._scheduler.abort_all()

    async def close(self) -> None:
        self._closed = True
        await self._scheduler.close()

    def flush_cache(self) -> bool:
        """Empty the radix cache; False (refused, as SGLang's 400) while requests are in flight."""
        return self._scheduler.flush_cache()

    def info(self) -> BackendInfo:
        model = f"simulated {self.timing.model.name} on {self.timing.gpu.name}"
        return BackendInfo(kind="sim", model=model, simulated=True, stats=self.stats())

    def stats(self) -> dict[str, Any]:
        s = self._scheduler.stats
        return {
            "gpu_s": s.gpu_s,
            "sim_clock_s": s.sim_clock_s,
            "prefill_batches": s.prefill_batches,
            "prompt_tokens": s.prompt_tokens,
            "prefill_tokens": s.prefill_tokens,
            "cached_tokens": s.cached_tokens,
            "cache_hit_rate": s.cached_tokens / s.prompt_tokens if s.prompt_tokens else 0.0,
            "decode_steps": s.decode_steps,
            "generated_tokens": s.generated_tokens,
            "submitted": s.submitted,
            "finished": s.finished,
            "aborted": s.aborted,
            "running": self._scheduler.running,
            "waiting": self._scheduler.waiting,
            "peak_running": s.peak_running,
            "cache_capacity": self.cache.capacity,
            "cache_held_tokens": self.cache.size,
            "cache_evicted_tokens": self.cache.evicted_tokens,
            "sim_cpu_s": s.cpu_s,
        }

    # --- internals -------------------------------------------------------------------------------

    def _capacity(self) -> int:
        if self.config.cache_tokens is not None:
            return self.config.cache_tokens
        return self.timing.cache_tokens(self.config.mem_fraction_static)

    def _submit(self, request: CompletionRequest) -> SimRequest:
        started = time.process_time()
        self._check(request)
        given = request.prompt_ids
        prompt_ids = list(given) if given is not None else self.tokenizer.encode(request.prompt)
        if len(prompt_ids) > self.cache.capacity:
            raise BackendError(
                f"request {request.request_id}: prompt of {len(prompt_ids)} tokens exceeds the simulated "
                f"KV cache of {self.cache.capacity} tokens"
            )
        generation = self.model.generate(request.prompt, request.params, self._requests)
        self._requests += 1
        sim = SimRequest(request.request_id, prompt_ids, generation)
        self._scheduler.submit(sim)
        self._scheduler.stats.cpu_s += time.process_time() - started
        return sim

    def _check(self, request: CompletionRequest) -> None:
        params = request.params
        if self._closed:
            raise BackendError("the simulator backend is closed")
        if not request.prompt:
            raise BackendError(f"request {request.request_id}: the prompt is empty")
        if params.max_tokens < 0 or params.top_logprobs < 0:
            raise BackendError(f"request {request.request_id}: max_tokens and top_logprobs must be >= 0")

    def _chunk(self, sim: SimRequest) -> TextChunk:
        started = time.process_time()
        start, sim.sent = sim.sent, sim.produced
        chunk = sim.generation.chunk(start, sim.produced)
        self._scheduler.stats.cpu_s += time.process_time() - started
        return chunk

    def _completion(self, sim: SimRequest) -> Completion:
        if sim.error is not None:
            raise BackendError(f"request {sim.rid}: {sim.error}")
        generation = sim.generation
        assert sim.finish_reason is not None
        complete = sim.produced == len(generation) and sim.finish_reason is generation.finish_reason
        usage = Usage(len(sim.prompt_ids), sim.produced, sim.cached_tokens, generation.reasoning_tokens(sim.produced))
        matched = generation.matched_stop if complete else None
        return Completion(sim.rid, generation.text(sim.produced), sim.finish_reason, usage, matched)
