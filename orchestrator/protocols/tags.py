"""The spawn/join formats as data: ThreadWeaver, Multiverse and Parallel-R1 differ only in their tags.

A parallel block in ThreadWeaver's format (arXiv 2512.07843):

    <Parallel>
    <Outlines>
    <Outline>1: what the first thread does</Outline>
    <Outline>2: what the second thread does</Outline>
    </Outlines>
    <Thread>
    1: the first thread's work</Thread>
    <Thread>
    2: the second thread's work</Thread>
    </Parallel>

The model writes up to the closing outlines tag (the fork); each thread is then its own request on the
shared prefix, opened by its header (`\\n<Thread>\\n1:`) and stopped at the thread's closing tag; the
join is every thread in order, each closed, then the join suffix (`\\n</Parallel>\\n`, or the opening
conclusion tag for the model to write the conclusion and close the block itself). A format without
outlines (Parallel-R1) forks at the opening parallel tag into `paths` threads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Tag = Annotated[str, Field(min_length=1, max_length=100)]
Pair = tuple[Tag, Tag]


@dataclass(frozen=True, slots=True)
class Outline:
    number: int
    text: str


class TagSet(BaseModel):
    """The tags of one spawn/join format; `outlines` None forks at the parallel tag into `paths` threads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parallel: Pair = ("<Parallel>", "</Parallel>")
    outlines: Pair | None = ("<Outlines>", "</Outlines>")
    outline: Pair = ("<Outline>", "</Outline>")
    thread: Pair = ("<Thread>", "</Thread>")
    conclusion: Pair | None = None
    numbered: bool = True
    paths: int = Field(2, ge=1, le=64)

    @property
    def fork(self) -> str:
        """The stop string at which the model hands over to parallel threads."""
        return self.outlines[1] if self.outlines else self.parallel[0]

    def header(self, number: int) -> str:
        """What opens thread `number` (1-based) after the fork: the prefix of its request."""
        return f"\n{self.thread[0]}\n" + (f"{number}:" if self.numbered else "")

    def joined(self, threads: Sequence[str]) -> str:
        """The threads' texts as the format joins them: each opened, closed, in order; then the suffix."""
        closed = "".join(f"{self.header(i)}{text}{self.thread[1]}" for i, text in enumerate(threads, 1))
        return closed + self.suffix

    @property
    def suffix(self) -> str:
        return f"\n{self.conclusion[0]}\n" if self.conclusion else f"\n{self.parallel[1]}\n"

    @property
    def empty_block(self) -> str:
        """What closes a fork that gave no thread to run (no outline was written)."""
        return f"\n{self.parallel[1]}\n"

    def outlines_in(self, text: str) -> list[Outline]:
        """The outlines of the last outline block in `text`; lenient about unclosed outline tags."""
        if self.outlines is None:
            return [Outline(i, "") for i in range(1, self.paths + 1)]
        start = text.rfind(self.outlines[0])
        block = text[start + len(self.outlines[0]) :] if start >= 0 else ""
        block = block.split(self.outlines[1], 1)[0]
        texts = [match.group(1).strip() for match in self._outline.finditer(block)]
        return [Outline(i, body) for i, body in enumerate((t for t in texts if t), 1)]

    def example(self) -> str:
        """A two-thread block in this format, as the instructions show it to the model."""
        if self.outlines is None:
            head = f"{self.parallel[0]}"
        else:
            lines = [f"{self.outline[0]}{i}: <what thread {i} does>{self.outline[1]}" for i in (1, 2)]
            head = "\n".join([self.parallel[0], self.outlines[0], *lines, self.outlines[1]])
        body = self.joined(["<thread 1's work>", "<thread 2's work>"])
        tail = f"<conclusion>{self.conclusion[1]}\n{self.parallel[1]}" if self.conclusion else ""
        return head + body + tail

    @cached_property
    def _outline(self) -> re.Pattern[str]:
        opening, closing = map(re.escape, self.outline)
        return re.compile(rf"{opening}\s*(?:\d+\s*[:.)]\s*)?(.*?)(?={closing}|{opening}|\Z)", re.DOTALL)


THREADWEAVER = TagSet()
MULTIVERSE = TagSet(
    outlines=("<Goal>", "</Goal>"), thread=("<Path>", "</Path>"), conclusion=("<Conclusion>", "</Conclusion>")
)
PARALLEL_R1 = TagSet(
    outlines=None, thread=("<Path>", "</Path>"), conclusion=("<Summary>", "</Summary>"), numbered=False
)
FORMATS: dict[str, TagSet] = {"threadweaver": THREADWEAVER, "multiverse": MULTIVERSE, "parallel-r1": PARALLEL_R1}

INSTRUCTIONS = (
    "You may split independent parts of your reasoning into threads that run in parallel. Open a parallel "
    "block, and the threads are written at the same time; you then continue from all of their results. "
    "A parallel block looks like this:\n\n{example}\n\n"
)
"""Prepended to the prompt of every thread (the `{example}` is the format's `TagSet.example()`)."""
