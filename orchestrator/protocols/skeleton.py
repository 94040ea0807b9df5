"""Skeleton-of-Thought (arXiv 2307.15337): a skeleton of numbered points, each point expanded by its own
request at the same time, then a conclusion.

Laid out for a radix cache: the skeleton request's prompt is the shared prefix; every expansion request
is that prompt, the skeleton as the model wrote it, one shared instruction, then its own point, so
each finds the prompt and the skeleton cached and computes only its point's line.

    {prompt}{SKELETON_ASK}1. a point\\n2. another point
    \\n\\n{EXPAND_ASK}2. another point          <- one request per point, stopped at the blank line
    \\n\\n{CONCLUDE_ASK}                         <- the points in full, then the answer
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace

from orchestrator.backends.base import CompletionRequest, FinishReason, SamplingParams
from orchestrator.protocols._state import ThreadState
from orchestrator.protocols.config import SkeletonConfig
from orchestrator.protocols.prompts import CONCLUDE_ASK, EXPAND_ASK, SKELETON_ASK
from orchestrator.threads import Lane, Output, Trace

POINT = re.compile(r"^\s*(\d+)\s*[.)]\s*(\S.*?)\s*$", re.MULTILINE)


def points_in(skeleton: str) -> list[str]:
    """The points of a skeleton (numbered lines), in order."""
    return [match.group(2) for match in POINT.finditer(skeleton)]


class SkeletonOfThought:
    name = "sot"

    def __init__(self, config: SkeletonConfig | None = None) -> None:
        self.config = config or SkeletonConfig()

    def prefix(self, prompt: str) -> str:
        return prompt + SKELETON_ASK

    async def run(self, lane: Lane, prompt: str, params: SamplingParams) -> Trace:
        return await _Sketch(config=self.config, lane=lane, prompt=prompt, params=params).run()


@dataclass(slots=True, kw_only=True)
class _Sketch(ThreadState):
    config: SkeletonConfig
    text: str = "1."

    async def run(self) -> Trace:
        skeleton = await self._one(self.prompt, self.config.skeleton_tokens, ("\n\n",))
        self.text += skeleton.text
        if skeleton.finish in (None, FinishReason.ABORT):
            return self.end(skeleton)
        base = self.prompt + skeleton.text + "\n\n"
        points = points_in(self.text)
        if not points:
            self.notes.append("the skeleton had no numbered points; answered in one request")
            return self.end(await self._append(base, self.params.max_tokens))
        return await self._expand(base, self._limited(points))

    async def _expand(self, base: str, points: list[str]) -> Trace:
        lines = [f"{i}. {point}" for i, point in enumerate(points, 1)]
        outputs = await self._many(
            [(f"{base}{EXPAND_ASK}{line}", _point_stops(i, len(lines))) for i, line in enumerate(lines, 1)],
            self.config.point_tokens,
        )
        for number, output in enumerate(outputs, 1):
            if output.finish is FinishReason.LENGTH:
                self.notes.append(f"point {number} was cut at {output.tokens} tokens")
        expanded = "\n".join(line + output.text.rstrip() for line, output in zip(lines, outputs, strict=True))
        self.text += f"\n\n{expanded}"
        failed = next((output for output in outputs if output.finish in (None, FinishReason.ABORT)), None)
        if failed is not None:
            return self.end(failed)
        if not self.config.conclude:
            return Trace(self.text, FinishReason.STOP, self.critical, self.rounds, notes=tuple(self.notes))
        return self.end(await self._append(f"{base}{CONCLUDE_ASK}{expanded}\n\n", self.config.conclude_tokens))

    async def _append(self, prompt: str, tokens: int) -> Output:
        output = await self._one(prompt, tokens, ())
        self.text += f"\n\n{output.text}"
        return output

    async def _one(self, prompt: str, tokens: int, stops: tuple[str, ...]) -> Output:
        (output,) = await self._many([(prompt, stops)], tokens)
        return output

    async def _many(self, requests: list[tuple[str, tuple[str, ...]]], tokens: int) -> list[Output]:
        """One round: every request at once, each within `tokens`; the round's token latency is its longest output."""
        limit = min(tokens, self.params.max_tokens)
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(
                    self.lane.generate(
                        CompletionRequest(prompt, replace(self.params, max_tokens=limit, stop=stops)), shown=self.text
                    )
                )
                for prompt, stops in requests
            ]
        outputs = [task.result() for task in tasks]
        self.rounds += 1
        self.critical += max(output.tokens for output in outputs)
        return outputs

    def _limited(self, points: list[str]) -> list[str]:
        limit = self.config.max_points
        if len(points) > limit:
            self.notes.append(f"{len(points)} points, over the limit of {limit}; the first {limit} were expanded")
        return points[:limit]


def _point_stops(number: int, count: int) -> tuple[str, ...]:
    """A point ends at a blank line, or where the model starts the next point."""
    return ("\n\n",) if number == count else ("\n\n", f"\n{number + 1}.")
