"""Hogwild!-style shared progress (arXiv 2504.06261) over HTTP, at the level of text.

Hogwild! runs workers on one shared KV cache inside a custom engine. Over HTTP the honest equivalent
is text: `workers` assistants write steps at the same time, and each new step's prompt shows them

    {rules}# Problem\\n\\n{prompt}\\n\\n### Past steps\\n\\n          <- shared by every worker
    **Alice [1]:** ...\\n\\n**Bob [1]:** ...\\n\\n                    <- append-only: stays cached
    ### Work in progress (others)\\n\\n**Bob [2]:** half a step <...>\\n\\n
    ### Work in progress (own)\\n\\n**Alice [2]:**                     <- the step to write

A step ends at a blank line and is appended to the shared history as it finishes, so the rules, the
problem and the history form a prefix every request shares; what each request computes anew (the
re-prefill of a synced step) is the history written since its worker's last step, the others' work
in progress and its own header. Every `check_every` steps a worker is first asked whether it is doing
redundant work. The first step with a `\\boxed{}` answer ends the thread: the other workers' running
steps are aborted. If every worker runs out of steps first, one is asked for the answer outright.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from orchestrator.backends.base import CompletionRequest, FinishReason, SamplingParams
from orchestrator.protocols.config import HogwildConfig
from orchestrator.protocols.prompts import (
    CHECK,
    CUT,
    FINISH,
    FINISH_TOKENS,
    HISTORY,
    NAMES,
    OTHERS,
    OWN,
    PROBLEM,
    RULES,
    SEPARATOR,
    step_header,
)
from orchestrator.threads import Lane, Output, Trace, abort_quietly


class Hogwild:
    name = "hogwild"

    def __init__(self, config: HogwildConfig | None = None) -> None:
        self.config = config or HogwildConfig()
        self.names = NAMES[: self.config.workers]

    def prefix(self, prompt: str) -> str:
        names = ", ".join(self.names[:-1]) + f" and {self.names[-1]}"
        rules = RULES.format(
            count=len(self.names), names=names, history=HISTORY, others=OTHERS, own=OWN, cut=CUT, check=CHECK.strip()
        )
        return f"{rules}{SEPARATOR}{PROBLEM}{SEPARATOR}{prompt}{SEPARATOR}{HISTORY}{SEPARATOR}"

    async def run(self, lane: Lane, prompt: str, params: SamplingParams) -> Trace:
        return await _Team(self.config, lane, prompt, params, [_Worker(name) for name in self.names]).run()


@dataclass(slots=True)
class _Worker:
    name: str
    steps: int = 0
    tokens: int = 0
    current: str = ""
    request_id: str | None = None


@dataclass(slots=True)
class _Team:
    config: HogwildConfig
    lane: Lane
    prompt: str
    params: SamplingParams
    workers: list[_Worker]
    history: list[str] = field(default_factory=list)
    answered: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.answered or self.error is not None or self.lane.stopped

    async def run(self) -> Trace:
        async with asyncio.TaskGroup() as group:
            for worker in self.workers:
                group.create_task(self._work(worker))
        if not self.done:
            await self._finish(self.workers[0])
        return self._trace()

    async def _work(self, worker: _Worker) -> None:
        while not self.done and worker.steps < self.config.max_steps:
            number = worker.steps + 1
            header = step_header(worker.name, number) + (CHECK if self._check_due(number) else "")
            output = await self._step(worker, header, self.config.step_tokens, (SEPARATOR,))
            if self.done or output.finish in (None, FinishReason.ABORT):
                self.error = self.error or output.error
                return
            if self._record(worker, header, output):
                await self._abort_others(worker)

    async def _step(self, worker: _Worker, header: str, tokens: int, stops: tuple[str, ...]) -> Output:
        params = replace(self.params, max_tokens=min(tokens, self.params.max_tokens), stop=stops)
        request = CompletionRequest(self._prompt(worker, header), params)
        worker.current, worker.request_id = header, request.request_id
        shown = SEPARATOR.join(self.history)
        output = await self.lane.generate(request, shown, lambda text: setattr(worker, "current", header + text))
        worker.current, worker.request_id = "", None
        worker.tokens += output.tokens
        return output

    def _prompt(self, worker: _Worker, header: str) -> str:
        past = "".join(step + SEPARATOR for step in self.history)
        others = "".join(
            f"{o.current.rstrip()} {CUT}{SEPARATOR}" for o in self.workers if o is not worker and o.current
        )
        return f"{self.prompt}{past}{OTHERS}{SEPARATOR}{others}{OWN}{SEPARATOR}{header}"

    def _record(self, worker: _Worker, header: str, output: Output) -> bool:
        """Append a finished step to the shared history; True when it gives the final answer."""
        step = header + output.text.strip()
        self.history.append(step)
        worker.steps += 1
        if output.finish is FinishReason.LENGTH:
            self.notes.append(f"{worker.name}'s step {worker.steps} was cut at {output.tokens} tokens")
        if header.endswith(CHECK) and output.text.strip().lower().startswith("yes"):
            self.notes.append(f"{worker.name} found its step {worker.steps} redundant and changed course")
        self.answered = "\\boxed{" in output.text
        return self.answered

    async def _abort_others(self, answering: _Worker) -> None:
        for worker in self.workers:
            if worker is not answering and worker.request_id is not None:
                await abort_quietly(self.lane.backend, worker.request_id)

    async def _finish(self, worker: _Worker) -> None:
        header = step_header(worker.name, worker.steps + 1) + FINISH
        output = await self._step(worker, header, FINISH_TOKENS, ("}",))
        self.history.append(f"{header}{output.text.strip()}}}")
        worker.steps += 1
        self.notes.append(f"no worker answered within {self.config.max_steps} steps; {worker.name} was asked outright")
        self.answered = output.finish not in (None, FinishReason.ABORT)
        self.error = output.error

    def _check_due(self, number: int) -> bool:
        every = self.config.check_every
        return every > 0 and number > 1 and (number - 1) % every == 0

    def _trace(self) -> Trace:
        finish = None if self.error else FinishReason.STOP if self.answered else FinishReason.ABORT
        critical = max(worker.tokens for worker in self.workers)
        rounds = max(worker.steps for worker in self.workers)
        return Trace(SEPARATOR.join(self.history), finish, critical, rounds, self.error, tuple(self.notes))
