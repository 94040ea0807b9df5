"""ThreadWeaver's spawn/join state machine (arXiv 2512.07843) over any completion backend.

The thread generates until the model closes its outline block (the fork, a stop string). Each
outline then becomes its own request on the shared prefix (everything so far, byte for byte, plus the
thread header such as `\\n<Thread>\\n2:`), all at once, each stopped at the thread's closing tag. The
threads are joined back in order, each closed (the server trims the matched stop string, and a thread
that ran into its end of sequence never wrote one), the join suffix is appended, and generation
resumes on the joined text: a radix-cache server finds all of it but the threads' own text cached.
After `max_rounds` forks the model writes on without forking. Multiverse and Parallel-R1 are other
tag sets (see `orchestrator.protocols.tags`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from orchestrator.backends.base import CompletionRequest, FinishReason, SamplingParams
from orchestrator.protocols._state import ThreadState
from orchestrator.protocols.config import ThreadWeaverConfig
from orchestrator.protocols.tags import INSTRUCTIONS, Outline, TagSet
from orchestrator.threads import Lane, Output, Trace


class ThreadWeaver:
    """`params.max_tokens` bounds the tokens on the thread's longest chain (its token latency)."""

    name = "threadweaver"

    def __init__(self, config: ThreadWeaverConfig | None = None) -> None:
        self.config = config or ThreadWeaverConfig()
        self.tags = self.config.format

    def prefix(self, prompt: str) -> str:
        return INSTRUCTIONS.format(example=self.tags.example()) + prompt if self.config.instructions else prompt

    async def run(self, lane: Lane, prompt: str, params: SamplingParams) -> Trace:
        return await _Weave(config=self.config, tags=self.tags, lane=lane, prompt=prompt, params=params).run()


@dataclass(slots=True, kw_only=True)
class _Weave(ThreadState):
    config: ThreadWeaverConfig
    tags: TagSet

    async def run(self) -> Trace:
        while True:
            forking = self.rounds < self.config.max_rounds
            output = await self._trunk(forking)
            if not (forking and self._forked(output)):
                return self.end(output)
            self.text += self.tags.fork
            failed = await self._fork()
            if failed is not None:
                return self.end(failed)
            if self.critical >= self.params.max_tokens:
                return self.end(Output("", FinishReason.LENGTH, output.usage))

    async def _trunk(self, forking: bool) -> Output:
        stops = (self.tags.fork,) if forking else ()
        output = await self.lane.generate(self._request(self.prompt + self.text, stops), shown=self.text)
        self.text += output.text
        self.critical += output.tokens
        return output

    def _forked(self, output: Output) -> bool:
        """Did the trunk stop at the fork? The server says which stop string matched (SGLang's
        `matched_stop`, vLLM's `stop_reason`); an end of sequence inside an open block is no fork."""
        if output.finish is FinishReason.STOP and output.matched_stop is None and self._left_open():
            self.notes.append(
                "ended inside an open block (an end of sequence, or a server that does not report the stop "
                "string it matched); it was not forked"
            )
        return output.finish is FinishReason.STOP and output.matched_stop == self.tags.fork

    def _left_open(self) -> bool:
        opening = self.tags.outlines[0] if self.tags.outlines else self.tags.parallel[0]
        return self.text.rfind(opening) > self.text.rfind(
            self.tags.fork if self.tags.outlines else self.tags.parallel[1]
        )

    async def _fork(self) -> Output | None:
        """Run the block's threads at once and join them; the output that broke the thread, if one did."""
        self.rounds += 1
        outlines = self._limited(self.tags.outlines_in(self.text))
        if not outlines:
            self.notes.append(f"round {self.rounds}: no outline in the block; it was closed")
            self.text += self.tags.empty_block
            return None
        base = self.prompt + self.text
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._thread(base, outline)) for outline in outlines]
        outputs = [task.result() for task in tasks]
        self.text += self.tags.joined([output.text for output in outputs])
        self.critical += max(output.tokens for output in outputs)
        return next((output for output in outputs if output.finish in (None, FinishReason.ABORT)), None)

    async def _thread(self, base: str, outline: Outline) -> Output:
        header = self.tags.header(outline.number)
        request = self._request(base + header, (self.tags.thread[1],), outline.number)
        output = await self.lane.generate(request, shown=self.text + header)
        self._note_unclosed(outline.number, output)
        return output

    def _note_unclosed(self, number: int, output: Output) -> None:
        where = f"round {self.rounds}, thread {number}"
        if output.finish is FinishReason.LENGTH:
            self.notes.append(f"{where}: cut at {output.tokens} tokens; {self.tags.thread[1]} was added")
        elif output.finish is FinishReason.STOP and output.matched_stop not in (None, self.tags.thread[1]):
            self.notes.append(f"{where}: stopped at {output.matched_stop!r}; {self.tags.thread[1]} was added")
        elif output.finish is FinishReason.STOP and output.matched_stop is None:
            self.notes.append(f"{where}: ended its sequence without {self.tags.thread[1]}; it was added")

    def _limited(self, outlines: list[Outline]) -> list[Outline]:
        limit = self.config.max_threads
        if len(outlines) > limit:
            self.notes.append(
                f"round {self.rounds}: {len(outlines)} outlines, over the limit of {limit}; the first {limit} ran"
            )
        return outlines[:limit]

    def _request(self, prompt: str, stops: tuple[str, ...], thread: int = 0) -> CompletionRequest:
        """A request within the token budget left; each parallel thread gets its own sampling seed
        (the threads of an outline-less format share one prompt and would otherwise write the same)."""
        seed = self.params.seed if self.params.seed is None else self.params.seed + 7919 * thread
        remaining = self.params.max_tokens - self.critical
        return CompletionRequest(prompt, replace(self.params, max_tokens=remaining, stop=stops, seed=seed))
