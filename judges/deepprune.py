"""`DeepPruneJudge`: a served judge model (DeepPrune's is `THU-KEG/DeepPrune-Judge-4B`) behind any `Backend`.

Each pair is truncated (`Truncation`, by default the first 25 reasoning words of each trace), put into
the prompt template, and sent with one greedy token and its logprob. P(same answer) is read from that
first token: exp(logprob) when it reads "yes" (stripped, any case), 1 - exp(logprob) when it reads "no",
0.5 otherwise. Chunks carry top logprobs without their token texts, so the probability of the other
answer cannot be read; the chosen token's own probability stands in for it. A token without a logprob
counts as certain.

The template reaches the backend as is: through a raw-text endpoint (SGLang `/generate`, OpenAI
`api: completions`) it should include the judge model's chat markers; `api: chat` adds them itself.
Requests run concurrently, at most `max_concurrency` at a time; a failed request raises its
`BackendError` and cancels the others.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from judges.base import TracePair
from judges.template import DEFAULT_TEMPLATE, check_template, render
from judges.truncation import Truncation
from orchestrator.backends.base import (
    Backend,
    Completion,
    CompletionRequest,
    SamplingParams,
    TextChunk,
    close_stream,
)
from orchestrator.errors import BackendError

JUDGE_PARAMS = SamplingParams(max_tokens=1, temperature=0.0, logprobs=True)
DEFAULT_TRUNCATION = Truncation()


class DeepPruneJudge:
    """P(same answer) for pairs of partial traces, from a judge model's first answer token."""

    def __init__(
        self,
        backend: Backend,
        *,
        template: str = DEFAULT_TEMPLATE,
        truncation: Truncation = DEFAULT_TRUNCATION,
        max_concurrency: int = 8,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.backend = backend
        self.template = check_template(template)
        self.truncation = truncation
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)

    async def same_answer(self, pairs: Sequence[TracePair]) -> list[float]:
        tasks = [asyncio.ensure_future(self.score(first, second)) for first, second in pairs]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    async def score(self, first: str, second: str) -> float:
        """P(same answer) for one pair: one request, once a concurrency slot is free."""
        prompt = render(self.template, self.truncation.cut(first), self.truncation.cut(second))
        async with self._slots:
            text, logprob = await self._first_token(CompletionRequest(prompt, JUDGE_PARAMS))
        return probability_same(text, logprob)

    async def _first_token(self, request: CompletionRequest) -> tuple[str, float | None]:
        chunks: list[TextChunk] = []
        events = self.backend.stream(request)
        try:
            async for event in events:
                if isinstance(event, Completion):
                    return _first(chunks, event)
                chunks.append(event)
        finally:
            await close_stream(events)
        raise BackendError(f"judge request {request.request_id}: the stream ended without a final record")


def probability_same(token: str, logprob: float | None) -> float:
    """P(same answer) from the judge's first token and its logprob (None: the token counts as certain)."""
    chosen = 1.0 if logprob is None else min(1.0, math.exp(logprob))
    answer = token.strip().lower()
    if answer == "yes":
        return chosen
    if answer == "no":
        return 1.0 - chosen
    return 0.5


def _first(chunks: list[TextChunk], completion: Completion) -> tuple[str, float | None]:
    """The reply (one token, as requested) and its first logprob; the completion's text when no chunk came."""
    logprobs = [logprob for chunk in chunks for logprob in chunk.logprobs]
    text = "".join(chunk.text for chunk in chunks) if chunks else completion.text
    return text, logprobs[0] if logprobs else None
