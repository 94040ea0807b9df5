"""The engine: runs a `Batch` on the simulator and yields SGLang-shaped outputs.

It plays SGLang's tokenizer manager: one job per request id, warm-ups first for parallel sampling,
batch outputs gathered (non-streaming) or interleaved with an `index` (streaming), and a finished
output counted in the metrics. Closing an output stream early (a client gone, a stream cut) aborts
its jobs in the simulator. `token_delay_s` slows delivery: each chunk is held `token_delay_s` per
token it carries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing

from orchestrator.backends.base import Completion, CompletionRequest
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
                    state.add(event)
                    await self._delay(event.tokens)
                    if job.stream and not self._finishing(job):
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

    async def _delay(self, tokens: int) -> None:
        if self.token_delay_s > 0 and tokens > 0:
            await asyncio.sleep(self.token_delay_s * tokens)


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
