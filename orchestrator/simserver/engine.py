"""The engine: runs a `Batch` on the simulator and yields SGLang-shaped outputs.

It plays SGLang's tokenizer manager: one job per request id, warm-ups first for parallel sampling,
batch outputs gathered (non-streaming) or interleaved with an `index` (streaming), and a finished
output counted in the metrics. Closing an output stream early (a client gone, a stream cut) aborts
its jobs in the simulator. `token_delay_s` slows delivery: tokens go out one at a time (one streamed
output each), each held `token_delay_s`, and an abort during a hold ends the job at once with what it
has delivered (finish reason abort), as if the held tokens had not been generated yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing

from orchestrator.backends.base import Completion, CompletionRequest, FinishReason, TextChunk, Usage
from orchestrator.simserver.backend import ServedBackend
from orchestrator.simserver.jobs import Batch, Job
from orchestrator.simserver.metrics import Metrics
from orchestrator.simserver.outputs import Out, OutputState


class Engine:
    def __init__(self, backend: ServedBackend, metrics: Metrics, token_delay_s: float = 0.0) -> None:
        self.backend = backend
        self.metrics = metrics
        self.token_delay_s = token_delay_s

    async def results(self, batch: Batch) -> list[Out]:
        """Every job's final output, in order."""
        await self._warm(batch)
        tasks = [asyncio.ensure_future(self._final(job)) for job in batch.jobs]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            await _cancel(tasks)

    async def outputs(self, batch: Batch) -> AsyncGenerator[Out, None]:
        """Streamed outputs; in a batch each carries its job's `index`."""
        await self._warm(batch)
        if batch.single:
            async with aclosing(self.run(batch.jobs[0])) as outs:
                async for out in outs:
                    yield out
            return
        async with aclosing(interleave([self.run(job) for job in batch.jobs])) as outs:
            async for index, out in outs:
                yield out | {"index": index}

    async def run(self, job: Job) -> AsyncGenerator[Out, None]:
        """One job: progress outputs (when streaming), then its final output."""
        state = OutputState(job, self.backend.tokenizer)
        request = CompletionRequest(job.prompt, job.params, job.rid, tuple(job.prompt_ids))
        try:
            async with aclosing(self.backend.stream(request)) as events:
                async for event in events:
                    if isinstance(event, Completion):
                        yield self._finished(state, event, job)
                        return
                    pieces = self._pieces(job.rid, event, len(state.ids))
                    for index, piece in enumerate(pieces):
                        if not await self._delivered(job.rid, piece.tokens):
                            self.backend.cut_short(job.rid)
                            yield self._finished(state, self._aborted(state, job), job)
                            return
                        state.add(piece)
                        last = index == len(pieces) - 1
                        if job.stream and not (last and self._finishing(job)):
                            yield state.progress(self.backend.live.get(job.rid))
        finally:
            self.backend.forget(job.rid)

    async def _final(self, job: Job) -> Out:
        out: Out = {}
        async with aclosing(self.run(job)) as outs:
            async for out in outs:
                pass
        return out

    async def _warm(self, batch: Batch) -> None:
        for job in batch.warmups:
            await self._final(job)

    def _finished(self, state: OutputState, completion: Completion, job: Job) -> Out:
        out = state.final(completion, self.backend.forget(job.rid))
        self.metrics.observe(out["meta_info"], job.stream)
        return out

    def _finishing(self, job: Job) -> bool:
        """The simulator already finished the job: its last tokens go out with the finish reason."""
        sim = self.backend.live.get(job.rid)
        return sim is not None and sim.done

    def _pieces(self, rid: str, chunk: TextChunk, start: int) -> list[TextChunk]:
        """With slow tokens a chunk goes out token by token, as from a server that generates slowly."""
        sim = self.backend.live.get(rid)
        if self.token_delay_s <= 0 or chunk.tokens <= 1 or sim is None:
            return [chunk]
        return [sim.generation.chunk(index, index + 1) for index in range(start, start + chunk.tokens)]

    async def _delivered(self, rid: str, tokens: int) -> bool:
        """Hold a chunk `token_delay_s` per token; False when an abort came first (the chunk is dropped)."""
        if self.token_delay_s <= 0 or tokens <= 0:
            return True
        cut = self.backend.delivery_cut(rid)
        try:
            async with asyncio.timeout(self.token_delay_s * tokens):
                await cut.wait()
        except TimeoutError:
            return True
        return False

    def _aborted(self, state: OutputState, job: Job) -> Completion:
        """The abort completion of what has been delivered, for a job cut short while its tokens were held."""
        sim = self.backend.live.get(job.rid)
        tokens = len(state.ids)
        usage = Usage(
            len(job.prompt_ids),
            tokens,
            sim.cached_tokens if sim is not None else 0,
            sim.generation.reasoning_tokens(tokens) if sim is not None else 0,
        )
        return Completion(job.rid, "".join(state.pieces), FinishReason.ABORT, usage)


async def interleave(streams: Sequence[AsyncIterator[Out]]) -> AsyncGenerator[tuple[int, Out], None]:
    """Outputs of several streams as they come, tagged with the stream's index (SGLang's batch streaming)."""
    pending = {asyncio.ensure_future(anext(stream)): i for i, stream in enumerate(streams)}
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                index = pending.pop(task)
                try:
                    out = task.result()
                except StopAsyncIteration:
                    continue
                yield index, out
                pending[asyncio.ensure_future(anext(streams[index]))] = index
    finally:
        await _close(list(pending), streams)


async def _cancel(tasks: Sequence[asyncio.Future[Out]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _close(tasks: list[asyncio.Future[Out]], streams: Sequence[AsyncIterator[Out]]) -> None:
    await _cancel(tasks)
    closers = [stream.aclose() for stream in streams if isinstance(stream, AsyncGenerator)]
    await asyncio.gather(*closers, return_exceptions=True)
