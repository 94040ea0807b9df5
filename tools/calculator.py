"""`calculator`: safe arithmetic on numbers, by walking the expression's syntax tree (never `eval`)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from tools.base import ToolError

Number = int | float

MAX_EXPRESSION_CHARS = 2_000
MAX_EXPONENT = 10_000
MAX_INT_DIGITS = 4_000
MAX_INT_BITS = int(MAX_INT_DIGITS * math.log2(10))
MAX_COMBINATORIAL_ARG = 1_000
_COMBINATORIAL = {"factorial", "comb", "perm"}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs, "round": round, "min": min, "max": max,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "log2": math.log2, "log10": math.log10,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "floor": math.floor, "ceil": math.ceil,
    "factorial": math.factorial, "comb": math.comb, "perm": math.perm, "gcd": math.gcd, "lcm": math.lcm,
}  # fmt: skip
_CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e, "tau": math.tau}


class CalculatorArgs(BaseModel):
    expression: str = Field(description="An arithmetic expression, e.g. '(3 + 4) * sqrt(2)'.")


class Calculator:
    name = "calculator"
    description = "Evaluate an arithmetic expression: + - * / // % **, parentheses, math functions, pi, e."
    args_model: type[BaseModel] = CalculatorArgs

    async def call(self, args: BaseModel) -> str:
        return format_number(evaluate(CalculatorArgs.model_validate(args).expression))


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; anything else raises `ToolError`."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"calculator: the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        return _value(tree.body)
    except SyntaxError:
        raise ToolError(f"calculator: not an arithmetic expression: {expression!r}") from None
    except (ArithmeticError, ValueError, TypeError) as error:
        raise ToolError(f"calculator: {error}") from None


def format_number(value: Number) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _value(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _binary(node)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        return _call(node)
    raise ToolError(f"calculator: unsupported syntax: {ast.unparse(node)!r}")


def _binary(node: ast.BinOp) -> Number:
    left, right = _value(node.left), _value(node.right)
    if isinstance(node.op, ast.Pow):
        _check_power(left, right)
    return _bounded(_BINARY[type(node.op)](left, right))


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"calculator: exponent {exponent} is larger than {MAX_EXPONENT}")
    if isinstance(base, int) and abs(base) > 1 and base.bit_length() * abs(exponent) > MAX_INT_BITS:
        raise ToolError(f"calculator: the result has more than {MAX_INT_DIGITS} digits")


def _call(node: ast.Call) -> Number:
    if node.keywords:
        raise ToolError("calculator: keyword arguments are not supported")
    name = node.func.id  # type: ignore[attr-defined]
    args = [_value(arg) for arg in node.args]
    if name in _COMBINATORIAL and any(abs(arg) > MAX_COMBINATORIAL_ARG for arg in args):
        raise ToolError(f"calculator: {name}() arguments must be at most {MAX_COMBINATORIAL_ARG}")
    return _bounded(_FUNCTIONS[name](*args))


def _bounded(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolError(f"calculator: the result has more than {MAX_INT_DIGITS} digits")
    if isinstance(value, complex):
        raise ToolError("calculator: the result is not a real number")
    return value
