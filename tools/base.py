"""The Tool protocol and the registry a plan's tool steps are resolved against."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError

from orchestrator.errors import OrchestrateError


class ToolError(OrchestrateError):
    """A tool was called with bad arguments or failed; the message is one line for the user."""


@runtime_checkable
class Tool(Protocol):
    name: str
    description: str
    args_model: type[BaseModel]

    async def call(self, args: BaseModel) -> str:
        """Run the tool on validated arguments and return its result as text."""
        ...


class ToolRegistry:
    """Tools by name, with their argument schemas for a planner's prompt."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ToolError(f"a tool named '{tool.name}' is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(f"unknown tool '{name}' (known: {', '.join(self.names()) or 'none'})") from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        return [_schema(self._tools[name]) for name in self.names()]

    async def call(self, name: str, args: dict[str, Any]) -> str:
        """Validate `args` against the tool's model, then call it."""
        tool = self.get(name)
        try:
            parsed = tool.args_model.model_validate(args)
        except ValidationError as error:
            detail = error.errors()[0]
            raise ToolError(f"{name}: {'.'.join(map(str, detail['loc']))}: {detail['msg']}") from None
        return await tool.call(parsed)


def _schema(tool: Tool) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "parameters": tool.args_model.model_json_schema()}
