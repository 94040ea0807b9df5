"""A wrapper that counts what a run spends (tokens, requests, dollars) and calls back once a budget is reached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from orchestrator.backends._wrapper import BackendWrapper
from orchestrator.backends.base import Backend, Completion, CompletionRequest, StreamEvent, TextChunk, Usage
from orchestrator.budget import Budget, Price
from orchestrator.errors import BudgetExceeded


@dataclass(slots=True)
class Spent:
    """What has been spent so far; a resumed run starts from what its journal says was spent."""

    tokens: int = 0
    requests: int = 0
    cost: float = 0.0


class BudgetMeter(BackendWrapper):
    """Counts streamed tokens, requests and their cost; `on_limit(reason)` is called once, when a budget is passed.

    A request that would pass the request budget is not sent: it raises `BudgetExceeded`.
    """

    def __init__(
        self,
        inner: Backend,
        budget: Budget | None = None,
        on_limit: Callable[[str], None] | None = None,
        spent: Spent | None = None,
    ) -> None:
        super().__init__(inner)
        self.budget, self.on_limit = budget or Budget(), on_limit
        self.spent = spent or Spent()
        self.price: Price | None = self.budget.price_for_cost(inner.info().model)
        self._reason: str | None = None

    @property
    def tokens(self) -> int:
        return self.spent.tokens

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        self._admit()
        async with aclosing(self.inner.stream(request)) as events:
            async for event in events:
                self._count(event)
                yield event

    def stats(self) -> dict[str, Any]:
        return {"metered_tokens": self.spent.tokens, "metered_requests": self.spent.requests}

    def _admit(self) -> None:
        limit = self.budget.requests
        if limit is not None and self.spent.requests >= limit:
            self._reached(f"the request budget was reached ({limit} requests sent)")
            raise BudgetExceeded(f"the request budget of {limit} requests was reached")
        self.spent.requests += 1

    def _count(self, event: StreamEvent) -> None:
        if isinstance(event, TextChunk):
            self.spent.tokens += event.tokens
            self._charge(Usage(completion_tokens=event.tokens))
        elif isinstance(event, Completion):
            self._charge(Usage(event.usage.prompt_tokens, 0, event.usage.cached_tokens))
        self._check()

    def _charge(self, usage: Usage) -> None:
        if self.price is not None:
            self.spent.cost += self.price.cost(usage)

    def _check(self) -> None:
        tokens, cost = self.budget.tokens, self.budget.cost
        if tokens is not None and self.spent.tokens > tokens:
            self._reached(f"the token budget was reached ({self.spent.tokens} tokens generated)")
        elif cost is not None and self.spent.cost > cost:
            self._reached(f"the cost budget of ${cost:g} was reached (${self.spent.cost:.4f} spent)")

    def _reached(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason
            if self.on_limit is not None:
                self.on_limit(reason)
