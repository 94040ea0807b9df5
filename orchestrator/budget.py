"""`budget:` in a task file: limits that stop a whole run cleanly, with a partial result.

Costs are in US dollars from `prices`, a table of dollars per million tokens per model name (`*`
matches any model without a row of its own). Uncached prompt tokens cost `input`, prompt tokens the
server served from its prefix cache `cached_input` (default: `input`), generated tokens `output`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.backends.base import Usage
from orchestrator.errors import UsageError

ANY_MODEL = "*"


class Price(BaseModel):
    """Dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, le=10**6)
    output: float = Field(ge=0, le=10**6)
    cached_input: float | None = Field(None, ge=0, le=10**6)

    def cost(self, usage: Usage) -> float:
        """What `usage` costs in dollars."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        dollars = (usage.prompt_tokens - cached) * self.input + cached * cached_price
        return (dollars + usage.completion_tokens * self.output) / 1e6


class Budget(BaseModel):
    """Most generated tokens, seconds of wall time, steps started, requests sent and dollars; None is unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int | None = Field(None, ge=1, le=10**12)
    wall_s: float | None = Field(None, gt=0, le=10**7)
    steps: int | None = Field(None, ge=1, le=10**6)
    requests: int | None = Field(None, ge=1, le=10**9)
    cost: float | None = Field(None, gt=0, le=10**7)
    prices: dict[str, Price] = Field(default_factory=dict, max_length=1000)

    @model_validator(mode="after")
    def _priced(self) -> Budget:
        if self.cost is not None and not self.prices:
            raise ValueError("'cost' needs a price table: add 'prices' (dollars per million tokens per model)")
        return self

    def price(self, model: str) -> Price | None:
        """The price of `model`'s tokens, or None when the table has no row for it."""
        return self.prices.get(model, self.prices.get(ANY_MODEL))

    def price_for_cost(self, model: str) -> Price | None:
        """The price the cost budget needs; a cost budget without a price for `model` is a usage error."""
        price = self.price(model)
        if self.cost is not None and price is None:
            known = ", ".join(sorted(self.prices))
            raise UsageError(f"budget.prices: no price for model '{model}' (have: {known}; '*' matches any model)")
        return price
