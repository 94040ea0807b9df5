"""`budget:` in a task file: limits that stop a whole run cleanly, with a partial result."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Budget(BaseModel):
    """Most generated tokens, seconds of wall time and steps started; None is unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int | None = Field(None, ge=1, le=10**12)
    wall_s: float | None = Field(None, gt=0, le=10**7)
    steps: int | None = Field(None, ge=1, le=10**6)
