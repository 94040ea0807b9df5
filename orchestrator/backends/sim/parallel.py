"""The parallel script: a model trained on a spawn/join format (ThreadWeaver, Multiverse, Parallel-R1).

It plays the format's whole sequential trace, and every request a spawn/join protocol cuts it into:

- The first request (the prompt shows the format's example and nothing the model wrote) opens with a
  fixed planning sentence on a new line, "I will work through this in R parallel stages." (R drawn
  from 1 to 3), then writes the rest of the trace: for each stage a little reasoning and a parallel
  block (K outlines, K from 2 to 4, each thread as `TagSet.joined` renders it, a conclusion where
  the format has one), and at the end `The answer is \\boxed{X}.`. Unstopped, that is the whole
  sequential trace; a protocol's stop string cuts it at the fork. (No think tag: the simulator's
  tokenizer would glue its "<" to the prompt's last punctuation, and the thread requests would then
  not find the trunk's text in the radix cache.)
- A later trunk request finds the planning sentence in its prompt, reads R back from it, counts the
  blocks already written and writes the rest (first the conclusion, when the prompt ends with the
  opening conclusion tag).
- A thread request (the prompt ends with a thread header) writes that thread's work on its outline,
  closes the thread and writes on, to be cut by the stop string.

The prompt before the planning sentence is the problem key: every request of a sample draws its
answer from that key's distribution (or `SimConfig.answers`), at its own temperature. The whole
sequential trace is about `trace_tokens` long: 60% threads (less the blocks' tags), 30% trunk
reasoning (longer at small `trace_tokens`, where the tags and the 20-token floor of a thread do not
shrink). Scripted: the outlines and threads are filler, so how well a real model splits a problem
(independent threads, useful outlines, results that feed the answer) is not modelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.backends.sim._protocols import BRANCH_SHARE, SUBTASKS, lognormal, mean_logprob, sample_answer, working
from orchestrator.backends.sim._trace import APPROACHES, CLOSERS
from orchestrator.backends.sim.script import ScriptOutput, ScriptRequest
from orchestrator.backends.sim.tokenizer import Tokenizer
from orchestrator.protocols.tags import FORMATS, TagSet

PLAN = re.compile(r"\nI will work through this in (\d+) parallel stages?\.")
STAGES = (1, 3)
THREADS = (2, 4)
TRUNK_SHARE = 0.3  # of `trace_tokens`: the trunk's own reasoning before and between the blocks
MIN_THREAD_TOKENS = 20
EXAMPLES = tuple((tags.example(), tags) for tags in FORMATS.values())


def format_in(prompt: str) -> tuple[str, TagSet] | None:
    """(example, tag set) of the first known format whose example the prompt shows."""
    return next(((example, tags) for example, tags in EXAMPLES if example in prompt), None)


@dataclass(frozen=True, slots=True)
class Sample:
    """What a prompt says of its sample: the problem key, what the model wrote so far, its planned stages."""

    key: str
    written: str
    stages: int | None  # None: the model has written nothing yet

    @classmethod
    def read(cls, prompt: str, example: str) -> Sample:
        match = PLAN.search(prompt, prompt.find(example) + len(example))
        if match is None:
            return cls(prompt, "", None)
        return cls(prompt[: match.start()], prompt[match.start() :], max(1, int(match.group(1))))


class ParallelScript:
    name = "parallel"

    def __init__(self, tokenizer: Tokenizer | None = None) -> None:
        self._tokenizer = tokenizer or Tokenizer()

    def matches(self, prompt: str) -> bool:
        return format_in(prompt) is not None

    def write(self, request: ScriptRequest) -> ScriptOutput:
        found = format_in(request.prompt)
        if found is None:
            raise ValueError("the parallel script was asked for a prompt without a spawn/join example")
        example, tags = found
        sample = Sample.read(request.prompt, example)
        writer = _Writer(tags, request, self._tokenizer, sample.stages or request.rng.randint(*STAGES))
        number = thread_number(request.prompt, tags) if sample.stages is not None else None
        return writer.rest(sample) if number is None else writer.in_thread(sample, number)


def thread_number(prompt: str, tags: TagSet) -> int | None:
    """The number of the thread whose header ends the prompt (1 for an unnumbered format), else None."""
    if not tags.numbered:
        return 1 if prompt.endswith(tags.header(1)) else None
    match = re.search(re.escape(f"\n{tags.thread[0]}\n") + r"(\d+):\Z", prompt)
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class _Writer:
    tags: TagSet
    request: ScriptRequest
    tokenizer: Tokenizer
    stages: int

    def rest(self, sample: Sample) -> ScriptOutput:
        """The rest of the sequential trace after what the sample wrote, to the boxed answer."""
        answer, majority = sample_answer(self.request, sample.key)
        started = sample.written.count(self.tags.parallel[0])
        parts = [self._opening()] if sample.stages is None else []
        if sample.stages is not None and self.tags.conclusion and sample.written.endswith(self.tags.suffix):
            parts.append(self._conclusion())
        if started:
            parts.append(self._after(started, answer))
        for stage in range(started + 1, self.stages + 1):
            parts += [self._block(), self._after(stage, answer)]
        return ScriptOutput("".join(parts), mean_logprob(self.request.rng, majority), answer)

    def in_thread(self, sample: Sample, number: int) -> ScriptOutput:
        """Thread `number` of the last block: its work, its closing tag, then on as if unstopped."""
        outlines = [outline.text for outline in self.tags.outlines_in(sample.written)] if self.tags.outlines else []
        count = len(outlines) or self.tags.paths
        outline = outlines[number - 1] if number <= len(outlines) else None
        text = self._thread(outline, self._thread_tokens(outlines, count)) + self.tags.thread[1]
        text += self.tags.header(number + 1) if number < count else self.tags.suffix
        return ScriptOutput(text, mean_logprob(self.request.rng))

    def _opening(self) -> str:
        plural = "s" if self.stages > 1 else ""
        plan = f"\nI will work through this in {self.stages} parallel stage{plural}."
        return f"{plan} First, let me see which parts of the problem are independent. {self._reasoning()}"

    def _after(self, stage: int, answer: str) -> str:
        """What follows a finished block: a link to the next stage, or the close of the trace."""
        if stage < self.stages:
            return f"With stage {stage} done, I move on to the next part. {self._reasoning()}"
        closer = self.request.rng.choice(CLOSERS).format(answer=answer)
        return f"{closer}\n\nThe answer is \\boxed{{{answer}}}."

    def _reasoning(self) -> str:
        median = self.request.config.trace_tokens * TRUNK_SHARE / self.stages
        return " ".join(working(self.request.rng, lognormal(self.request.rng, median, 8), self.tokenizer))

    def _block(self) -> str:
        rng = self.request.rng
        outlines = rng.sample(SUBTASKS, rng.randint(*THREADS)) if self.tags.outlines else []
        count = len(outlines) or self.tags.paths
        median = self._thread_tokens(outlines, count)
        threads = [self._thread(outlines[i] if outlines else None, median) for i in range(count)]
        block = f"\n{self._head(outlines)}{self.tags.joined(threads)}"
        return block + (self._conclusion() if self.tags.conclusion else "")

    def _head(self, outlines: list[str]) -> str:
        """The block's opening tag and its outlines (the text up to the fork)."""
        if self.tags.outlines is None:
            return self.tags.parallel[0]
        opening, closing = self.tags.outline
        lines = [f"{opening}{number}: {text}{closing}" for number, text in enumerate(outlines, 1)]
        return "\n".join([self.tags.parallel[0], self.tags.outlines[0], *lines, self.tags.outlines[1]])

    def _thread_tokens(self, outlines: list[str], count: int) -> float:
        """The median length of a block's threads: the stage's share of the branches, less the block's
        tags (its outlines, headers and closing tags), split among its `count` threads."""
        share = self.request.config.trace_tokens * BRANCH_SHARE / self.stages
        frame = self.tokenizer.count(self._head(outlines) + self.tags.joined([""] * count))
        return max(MIN_THREAD_TOKENS, (share - frame) / count)

    def _thread(self, outline: str | None, median: float) -> str:
        """One thread's work (without its header and closing tag), lognormal around `median` tokens."""
        rng = self.request.rng
        tokens = lognormal(rng, median, MIN_THREAD_TOKENS)
        opener = f"To {outline}, I start from what is given." if outline else f"Let me try {rng.choice(APPROACHES)}."
        body = working(rng, tokens - self.tokenizer.count(opener) - 8, self.tokenizer)
        text = " ".join([opener, *body, f"So this thread gives {rng.randint(2, 999)}."])
        return f" {text}" if self.tags.numbered else text

    def _conclusion(self) -> str:
        """The conclusion the model writes after the joined threads, and the block's closing tags."""
        assert self.tags.conclusion is not None
        summary = f"Together the threads give {self.request.rng.randint(2, 999)}."
        return f"{summary}{self.tags.conclusion[1]}\n{self.tags.parallel[1]}\n"
