import pytest

from tools import Calculator, ToolError, default_registry, evaluate


@pytest.mark.parametrize(
    ("expression", "value"),
    [("6*7", 42), ("(3 + 4) * 2", 14), ("2**10", 1024), ("7 // 2", 3), ("7 % 4", 3), ("-3 + +1", -2),
     ("sqrt(16)", 4.0), ("factorial(5)", 120), ("comb(10, 3)", 120), ("max(1, 9, 4)", 9), ("round(pi, 2)", 3.14)],
)  # fmt: skip
def test_arithmetic(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "unsupported syntax"),
        ("open('/etc/passwd')", "unsupported syntax"),
        ("(1).__class__", "unsupported syntax"),
        ("x + 1", "unsupported syntax"),
        ("'a' * 3", "unsupported syntax"),
        ("1 +", "not an arithmetic expression"),
        ("1 / 0", "division by zero"),
        ("9 ** 9 ** 9", "exponent"),
        ("(10 ** 3000) ** 5000", "more than 4000 digits"),
        ("factorial(100000)", "at most 1000"),
        ("sqrt(-1)", "math domain error"),
        ("round(2.5, ndigits=1)", "keyword arguments"),
    ],
)
def test_refuses_what_is_not_safe_arithmetic(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match="calculator: ") as caught:
        evaluate(expression)
    assert message in str(caught.value)


async def test_registry_validates_arguments_and_formats_results() -> None:
    registry = default_registry()
    assert await registry.call("calculator", {"expression": "2 * 3.5"}) == "7"
    assert await registry.call("calculator", {"expression": "1 / 3"}) == "0.3333333333333333"
    with pytest.raises(ToolError, match="calculator: expression: Field required"):
        await registry.call("calculator", {})
    with pytest.raises(ToolError, match="unknown tool 'nope' \\(known: calculator, fetch_url, join, python\\)"):
        registry.get("nope")


def test_registry_describes_tools_for_a_planner() -> None:
    (schema,) = [schema for schema in default_registry().schemas() if schema["name"] == "calculator"]
    assert schema["name"] == Calculator.name
    assert schema["parameters"]["required"] == ["expression"]


def test_duplicate_tool_names_are_refused() -> None:
    registry = default_registry()
    with pytest.raises(ToolError, match="already registered"):
        registry.register(Calculator())
