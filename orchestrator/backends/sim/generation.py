"""The scripted model: a request's whole output, tokenised once at submission and then streamed.

`ScriptedModel.generate` picks the first matching script, tokenises its text (or takes the script's
own `tokens`), applies the request's stop strings and `max_tokens` the way SGLang does, and
precomputes log-probabilities (the script's own, when it gives them), so the scheduler only moves a
counter per token.

- A natural end appends one end-of-sequence token (empty text), finish `stop`, no matched string;
  a script that gives `tokens` gives the whole output and nothing is appended. A given empty piece
  (a recorded token with no text of its own) gets the end-of-sequence id, whose text is empty.
- A stop string ends generation at the token that completes its first match (finish `stop`,
  `matched_stop` set); the text is trimmed before the stop string (SGLang's default, no_stop_trim off),
  the trimmed tokens still count as completion tokens.
- More tokens than `max_tokens` are cut, finish `length`; `max_tokens == 0` yields no token at all.
- Reasoning tokens are the output tokens strictly between `<think>` and `</think>`, as SGLang's
  `_update_reasoning_tokens_for_req` counts them (a real server reports them only with
  `--reasoning-parser`).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.backends.base import FinishReason, SamplingParams, TextChunk
from orchestrator.backends.sim._logprobs import tail_ratios, token_logprobs, top_logprobs
from orchestrator.backends.sim._stable import seeded_rng
from orchestrator.backends.sim.config import SimConfig
from orchestrator.backends.sim.hogwild import HogwildScript
from orchestrator.backends.sim.parallel import ParallelScript
from orchestrator.backends.sim.planning import PlannerScript, RefinerScript
from orchestrator.backends.sim.reasoning import ReasoningScript
from orchestrator.backends.sim.script import FallbackScript, Script, ScriptOutput, ScriptRequest
from orchestrator.backends.sim.skeleton import SkeletonScript
from orchestrator.backends.sim.tokenizer import EOS_ID, SPECIAL_IDS, Tokenizer, piece_id

THINK_START = SPECIAL_IDS["<think>"]
THINK_END = SPECIAL_IDS["</think>"]


@dataclass(slots=True)
class Generation:
    """Everything a request will output; the scheduler reveals it `produced` tokens at a time."""

    token_ids: list[int]
    pieces: list[str]
    finish_reason: FinishReason
    matched_stop: str | None = None
    logprobs: list[float] | None = None
    ratios: list[float] | None = None
    top_k: int = 0
    tops: list[tuple[float, ...]] | None = None
    script: str = ""
    answer: str | None = None

    def __len__(self) -> int:
        return len(self.token_ids)

    def text(self, end: int, start: int = 0) -> str:
        return "".join(self.pieces[start:end])

    def chunk(self, start: int, end: int) -> TextChunk:
        logprobs = tuple(self.logprobs[start:end]) if self.logprobs is not None else ()
        ids = tuple(self.token_ids[start:end])
        return TextChunk(self.text(end, start), end - start, logprobs, self._tops(start, end), ids)

    def reasoning_tokens(self, produced: int) -> int:
        """Tokens strictly between `<think>` and `</think>` among the first `produced`, as SGLang counts them."""
        if produced == 0 or self.token_ids[0] != THINK_START:
            return 0
        try:
            return self.token_ids.index(THINK_END, 0, produced) - 1
        except ValueError:
            return produced - 1

    def _tops(self, start: int, end: int) -> tuple[tuple[float, ...], ...]:
        if not self.top_k or self.logprobs is None:
            return ()
        if self.tops is not None:
            return tuple(top[: self.top_k] for top in self.tops[start:end])
        if self.ratios is None:
            return ()
        pairs = zip(self.logprobs[start:end], self.ratios[start:end])
        return tuple(top_logprobs(chosen, ratio, self.top_k) for chosen, ratio in pairs)


def default_scripts(tokenizer: Tokenizer | None = None) -> list[Script]:
    """The scripts in match order: planning, then the parallel protocols' formats, then plain reasoning."""
    return [
        PlannerScript(),
        RefinerScript(),
        ParallelScript(tokenizer),
        SkeletonScript(tokenizer),
        HogwildScript(tokenizer),
        ReasoningScript(tokenizer),
        FallbackScript(),
    ]


class ScriptedModel:
    def __init__(self, config: SimConfig, scripts: Sequence[Script] | None = None) -> None:
        self.config = config
        self.tokenizer = Tokenizer()
        self.scripts: list[Script] = list(scripts) if scripts is not None else default_scripts(self.tokenizer)

    def register(self, script: Script, *, first: bool = True) -> None:
        """Add a script, tried before the others unless `first` is False (then before the fallback)."""
        self.scripts.insert(0 if first else max(0, len(self.scripts) - 1), script)

    def generate(self, prompt: str, params: SamplingParams, counter: int) -> Generation:
        """The output for one request; `counter` seeds it when `params.seed` is None."""
        rng = seeded_rng("sim", self.config.seed, params.seed if params.seed is not None else ("n", counter), prompt)
        script = next(s for s in self.scripts if s.matches(prompt))
        output = script.write(ScriptRequest(prompt, params, self.config, rng))
        generation = self._cut(output, params)
        generation.script, generation.answer = script.name, output.answer
        if params.logprobs or params.top_logprobs > 0:
            _attach_logprobs(generation, output, params, rng)
        return generation

    def _cut(self, output: ScriptOutput, params: SamplingParams) -> Generation:
        given = output.tokens
        pieces = self.tokenizer.pieces(output.text) if given is None else list(given)
        stop = _first_stop(output.text, params.stop)
        if stop is not None:
            generation = _stopped(pieces, *stop)
        elif given is not None:
            generation = Generation(list(map(token_id, pieces)), pieces, FinishReason.STOP)
        else:
            generation = Generation([*map(piece_id, pieces), EOS_ID], [*pieces, ""], FinishReason.STOP)
        return _truncated(generation, params.max_tokens)


def token_id(piece: str) -> int:
    """The id of a given piece: `piece_id`, but the empty piece is the end-of-sequence id (its text is empty)."""
    return piece_id(piece) if piece else EOS_ID


def _first_stop(text: str, stops: Sequence[str]) -> tuple[int, str] | None:
    """(start index, stop string) of the stop string whose first match completes earliest."""
    best: tuple[int, int, str] | None = None
    for stop in stops:
        index = text.find(stop) if stop else -1
        if index >= 0 and (best is None or index + len(stop) < best[0]):
            best = (index + len(stop), index, stop)
    return None if best is None else (best[1], best[2])


def _stopped(pieces: list[str], start: int, stop: str) -> Generation:
    ends = list(itertools.accumulate(map(len, pieces)))
    kept = pieces[: bisect.bisect_left(ends, start + len(stop)) + 1]
    return Generation(list(map(token_id, kept)), _trim(kept, start), FinishReason.STOP, matched_stop=stop)


def _trim(pieces: list[str], chars: int) -> list[str]:
    out: list[str] = []
    position = 0
    for piece in pieces:
        out.append(piece[: max(0, chars - position)])
        position += len(piece)
    return out


def _truncated(generation: Generation, max_tokens: int) -> Generation:
    if len(generation) <= max_tokens:
        return generation
    return Generation(generation.token_ids[:max_tokens], generation.pieces[:max_tokens], FinishReason.LENGTH)


def _attach_logprobs(generation: Generation, output: ScriptOutput, params: SamplingParams, rng: random.Random) -> None:
    if output.logprobs is not None:
        _attach_given(generation, output.logprobs, output.top_logprobs, params.top_logprobs)
    elif output.synthesize_logprobs:
        _attach_synthetic(generation, output.mean_logprob, params.top_logprobs, rng)


def _attach_given(
    generation: Generation, logprobs: Sequence[float], tops: Sequence[tuple[float, ...]] | None, top_k: int
) -> None:
    count = len(generation)
    generation.logprobs = list(logprobs[:count])
    if top_k > 0 and tops is not None:
        generation.tops, generation.top_k = list(tops[:count]), top_k


def _attach_synthetic(generation: Generation, mean_logprob: float, top_k: int, rng: random.Random) -> None:
    count = len(generation)
    generation.logprobs = token_logprobs(rng, count, mean_logprob)
    if top_k > 0:
        generation.ratios, generation.top_k = tail_ratios(rng, count), top_k
