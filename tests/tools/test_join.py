import pytest

from tools import Join, JoinArgs, ToolError, default_registry


async def test_joins_parts_in_order_with_newlines_by_default() -> None:
    assert await Join().call(JoinArgs(parts=["a", "b", "c"])) == "a\nb\nc"


async def test_separator_and_empty_parts() -> None:
    assert await Join().call(JoinArgs(parts=["x", "y"], separator=", ")) == "x, y"
    assert await Join().call(JoinArgs(parts=[])) == ""


async def test_registry_refuses_parts_that_are_not_a_list_of_strings() -> None:
    registry = default_registry()
    assert await registry.call("join", {"parts": ["1", "2"], "separator": "+"}) == "1+2"
    with pytest.raises(ToolError, match="join: parts: "):
        await registry.call("join", {"parts": "not a list"})
