"""`join`: combine the results of earlier steps into one text (the aggregation node of a plan)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class JoinArgs(BaseModel):
    parts: list[str] = Field(description="The texts to combine, in order (usually earlier steps' results).")
    separator: str = Field("\n", description="Put between consecutive parts.")


class Join:
    name = "join"
    description = "Join several texts (for example the results of earlier steps) into one, in order."
    args_model: type[BaseModel] = JoinArgs

    async def call(self, args: BaseModel) -> str:
        parsed = JoinArgs.model_validate(args)
        return parsed.separator.join(parsed.parts)
