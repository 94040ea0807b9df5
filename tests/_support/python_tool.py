"""Running the `python` tool in tests: its output, or its one-line error."""

from __future__ import annotations

import pytest

from tools import PythonArgs, PythonRunner, PythonSettings, ToolError


async def run(code: str, **settings: object) -> str:
    return await PythonRunner(PythonSettings(**settings)).call(PythonArgs(code=code))  # type: ignore[arg-type]


async def failure(code: str, **settings: object) -> str:
    """The tool's error for `code`, checked to be one line that starts with `python: `."""
    with pytest.raises(ToolError) as caught:
        await run(code, **settings)
    message = str(caught.value)
    assert message.startswith("python: ") and "\n" not in message
    return message
