"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import OrchestrateError

_CHUNK = 65_536


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file renamed over it."""
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        raise OrchestrateError(f"{path}: cannot write the result: {error.strerror}") from None


def cut_torn_tail(path: Path) -> bool:
    """Drop a last line with no newline (its writer was killed mid-write); True if one was dropped."""
    with path.open("rb+") as file:
        end = file.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(0, position - _CHUNK)
            file.seek(start)
            chunk = file.read(position - start)
            if position == end and chunk.endswith(b"\n"):
                return False
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                file.truncate(start + newline + 1)
                return True
            position = start
        file.truncate(0)
        return end > 0
