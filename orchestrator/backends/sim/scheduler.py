"""Continuous batching as SGLang's scheduler does it, on a simulated clock.

One asyncio task per backend. Each iteration either runs a prefill batch of newly admitted requests
(prefill first, as SGLang's event loop does) or one decode step that produces a token for every
running request; the simulated clock advances by the timing model, and with `time_scale > 0` real
time follows it (sleep until `anchor + sim_time * scale`, so no drift accumulates). With
`time_scale == 0` it runs as fast as possible but yields to the event loop every step.

Admission (SGLang's default `fcfs` policy): waiting requests in arrival order while fewer than
`max_running` run and the batch holds at most `max_prefill_tokens` uncached tokens. Each request is
matched against the radix cache when it enters a prefill batch, capped at `len(prompt) - 1` tokens
(SGLang always recomputes the last prompt token to get logits: `Req._compute_max_prefix_len`), and the
matched path is locked. So N identical prompts arriving together each compute the prefix; after a
`max_tokens=0` warm-up they each report `cached_tokens == prompt_tokens - 1`. After its prefill a
request's prompt is inserted and locked (`cache_unfinished_req`), and the prefill yields its first
token; when it finishes, prompt + output (but the last token, whose KV is never computed) is inserted
and the lock released (`cache_finished_req`). Generated tokens are held in the KV pool outside the
tree until then (`RadixCache.reserve`). Not modelled: chunked prefill, retraction when the pool is
exhausted, the overlap scheduler.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from enum import Enum

from orchestrator.backends.base import FinishReason
from orchestrator.backends.sim.config import SimConfig
from orchestrator.backends.sim.generation import Generation
from orchestrator.backends.sim.radix import PrefixLock, RadixCache
from orchestrator.backends.sim.timing import TimingModel


class RequestState(Enum):
    WAITING = "waiting"
    PREFILLING = "prefilling"
    RUNNING = "running"
    DONE = "done"


@dataclass(slots=True, eq=False)
class SimRequest:
    rid: str
    prompt_ids: list[int]
    generation: Generation
    state: RequestState = RequestState.WAITING
    produced: int = 0
    sent: int = 0
    cached_tokens: int = 0
    finish_reason: FinishReason | None = None
    error: str | None = None
    prefix: PrefixLock | None = None
    waiter: asyncio.Future[None] | None = None

    @property
    def done(self) -> bool:
        return self.state is RequestState.DONE


@dataclass(slots=True)
class SchedulerStats:
    gpu_s: float = 0.0
    sim_clock_s: float = 0.0
    prefill_batches: int = 0
    prompt_tokens: int = 0
    prefill_tokens: int = 0
    cached_tokens: int = 0
    decode_steps: int = 0
    generated_tokens: int = 0
    submitted: int = 0
    finished: int = 0
    aborted: int = 0
    peak_running: int = 0
    cpu_s: float = 0.0


@dataclass(slots=True)
class _Step:
    seconds: float
    prefill: list[SimRequest] | None = None


class Scheduler:
    def __init__(self, config: SimConfig, timing: TimingModel, cache: RadixCache) -> None:
        self.config = config
        self.timing = timing
        self.cache = cache
        self.stats = SchedulerStats()
        self._waiting: deque[SimRequest] = deque()
        self._running: list[SimRequest] = []
        self._live: set[SimRequest] = set()
        self._active = 0
        self._context_tokens = 0
        self._prune = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._anchor_real = 0.0
        self._anchor_sim = 0.0

    # --- public ----------------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return sum(1 for request in self._live if request.state is RequestState.WAITING)

    @property
    def running(self) -> int:
        return self._active

    def submit(self, request: SimRequest) -> None:
        self._ensure_task()
        self._live.add(request)
        self._waiting.append(request)
        self.stats.submitted += 1
        self._notify()

    def abort(self, rid: str) -> int:
        """Abort as SGLang does; returns how many requests ended.

        The tokenizer manager forwards an abort only for a live request id (`rid in rid_to_state`);
        the scheduler then aborts every request whose id starts with it.
        """
        if not any(request.rid == rid for request in self._live):
            return 0
        return self._abort_matching(rid)

    def abort_all(self) -> int:
        return self._abort_matching("")

    def _abort_matching(self, prefix: str) -> int:
        matched = [request for request in self._live if request.rid.startswith(prefix)]
        for request in matched:
            self._finish(request, FinishReason.ABORT)
        return len(matched)

    def abort_request(self, request: SimRequest) -> None:
        self._finish(request, FinishReason.ABORT)

    def flush_cache(self) -> bool:
        """Empty the radix cache; refused (False) while any request is waiting or running, as SGLang."""
        return not self._live and self.cache.flush()

    async def close(self) -> None:
        self.abort_all()
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        if task.get_loop() is asyncio.get_running_loop():
            with suppress(asyncio.CancelledError):
                await task

    # --- the loop --------------------------------------------------------------------------------

    def _ensure_task(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._abandon()
            self._loop, self._task, self._wakeup = loop, None, None
        if self._task is None or self._task.done():
            self._anchor_real, self._anchor_sim = loop.time(), self.stats.sim_clock_s
            self._task = loop.create_task(self._run(), name="orchestrate-sim-scheduler")

    async def _run(self) -> None:
        try:
            while True:
                await self._iterate()
        except Exception as exc:  # a simulator bug must end its streams, not hang them
            self._fail(f"simulator scheduler failed: {exc!r}")
            raise

    async def _iterate(self) -> None:
        if not self._waiting and not self._running:
            await self._idle()
            return
        started = time.process_time()
        step = self._plan()
        self.stats.cpu_s += time.process_time() - started
        if step is None:
            return
        await self._advance(step.seconds)
        started = time.process_time()
        self._commit(step)
        self.stats.cpu_s += time.process_time() - started

    async def _idle(self) -> None:
        loop = asyncio.get_running_loop()
        self._wakeup = loop.create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None
        self._anchor_real, self._anchor_sim = loop.time(), self.stats.sim_clock_s

    async def _advance(self, seconds: float) -> None:
        self.stats.gpu_s += seconds
        self.stats.sim_clock_s += seconds
        scale = self.config.time_scale
        if scale <= 0:
            await asyncio.sleep(0)
            return
        due = self._anchor_real + (self.stats.sim_clock_s - self._anchor_sim) * scale
        await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))

    def _notify(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    # --- planning --------------------------------------------------------------------------------

    def _plan(self) -> _Step | None:
        if self._prune:
            self._running = [r for r in self._running if r.state is RequestState.RUNNING]
            self._prune = False
        if self._waiting and len(self._running) < self.config.max_running:
            batch, tokens = self._admit()
            if batch:
                return _Step(self.timing.prefill_seconds(tokens), batch)
        if self._running:
            return _Step(self.timing.decode_seconds(len(self._running), self._context_tokens))
        return None

    def _admit(self) -> tuple[list[SimRequest], int]:
        batch: list[SimRequest] = []
        tokens = 0
        room = self.config.max_running - len(self._running)
        while self._waiting and len(batch) < room:
            request = self._waiting[0]
            if request.done:
                self._waiting.popleft()
                continue
            held = self.cache.lock(request.prompt_ids[:-1])
            extend = len(request.prompt_ids) - held.length
            if not self._fits(extend, tokens, bool(batch)):
                self.cache.unlock(held)
                break
            self._waiting.popleft()
            self._enter_prefill(request, held)
            batch.append(request)
            tokens += extend
        self._count_prefill(batch, tokens)
        return batch, tokens

    def _fits(self, extend: int, batch_tokens: int, batch_started: bool) -> bool:
        if batch_started and batch_tokens + extend > self.config.max_prefill_tokens:
            return False
        busy = batch_started or bool(self._running)
        return not busy or extend <= self.cache.free_tokens + self.cache.evictable_tokens

    def _enter_prefill(self, request: SimRequest, held: PrefixLock) -> None:
        request.state = RequestState.PREFILLING
        request.prefix = held
        request.cached_tokens = held.length

    def _count_prefill(self, batch: list[SimRequest], tokens: int) -> None:
        if not batch:
            return
        stats = self.stats
        stats.prefill_batches += 1
        stats.prefill_tokens += tokens
        stats.cached_tokens += sum(request.cached_tokens for request in batch)
        stats.prompt_tokens += sum(len(request.prompt_ids) for request in batch)

    # --- committing a step -----------------------------------------------------------------------

    def _commit(self, step: _Step) -> None:
        if step.prefill is None:
            self._decode()
        else:
            for request in step.prefill:
                if request.state is RequestState.PREFILLING:
                    self._start(request)
        self.stats.peak_running = max(self.stats.peak_running, self._active)

    def _start(self, request: SimRequest) -> None:
        """After its prefill: cache and lock the prompt, then emit the first token."""
        self.cache.insert(request.prompt_ids)
        held = self.cache.lock(request.prompt_ids)
        if request.prefix is not None:
            self.cache.unlock(request.prefix)
        request.prefix = held
        request.state = RequestState.RUNNING
        self._active += 1
        self._context_tokens += len(request.prompt_ids)
        if not request.generation:
            self._finish(request, request.generation.finish_reason)
            return
        self._running.append(request)
        self.cache.reserve(1)
        self.stats.generated_tokens += 1
        self._produce(request)

    def _decode(self) -> None:
        self.cache.reserve(self._active)
        self.stats.decode_steps += 1
        self.stats.generated_tokens += self._active
        for request in self._running:
            if request.state is RequestState.RUNNING:
                self._produce(request)

    def _produce(self, request: SimRequest) -> None:
        request.produced += 1
        self._context_tokens += 1
        if request.produced >= len(request.generation):
            self._finish(request, request.generation.finish_reason)
        else:
            _wake(request)

    def _finish(self, request: SimRequest, reason: FinishReason) -> None:
        if request.done:
            return
        if request.state is RequestState.RUNNING:
            self._retire(request)
        if request.prefix is not None:
            self.cache.unlock(request.prefix)
            request.prefix = None
        request.state = RequestState.DONE
        request.finish_reason = reason
        self._live.discard(request)
        if reason is FinishReason.ABORT:
            self.stats.aborted += 1
        else:
            self.stats.finished += 1
        _wake(request)

    def _retire(self, request: SimRequest) -> None:
        """Leave the running batch: give back the KV slots, caching prompt + output as SGLang does."""
        self._active -= 1
        self._prune = True
        self._context_tokens -= len(request.prompt_ids) + request.produced
        self.cache.release(request.produced)
        if request.produced > 1:
            self.cache.insert(request.prompt_ids + request.generation.token_ids[: request.produced - 1])

    def _fail(self, message: str) -> None:
        for request in list(self._live):
            request.error = message
            self._finish(request, FinishReason.ABORT)

    def _abandon(self) -> None:
        """Drop requests left by a previous event loop (their streams cannot be resumed)."""
        for request in list(self._live):
            request.waiter = None
            self._finish(request, FinishReason.ABORT)
        self._waiting.clear()
        self._running.clear()
        self._prune = False


def _wake(request: SimRequest) -> None:
    waiter = request.waiter
    if waiter is not None:
        request.waiter = None
        if not waiter.done():
            waiter.set_result(None)
