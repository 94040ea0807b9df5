"""Tools a plan step may call."""

from tools.base import Tool, ToolError, ToolRegistry
from tools.calculator import Calculator, CalculatorArgs, evaluate


def default_registry() -> ToolRegistry:
    """The built-in tools."""
    return ToolRegistry([Calculator()])


__all__ = ["Calculator", "CalculatorArgs", "Tool", "ToolError", "ToolRegistry", "default_registry", "evaluate"]
