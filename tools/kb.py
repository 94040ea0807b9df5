"""`kb`: answers from a knowledge base of key -> answer, after a configurable lookup latency."""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tools.base import ToolError

MAX_KEYS_DESCRIBED = 30


class KbSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: Path | None = Field(None, description="A JSON file holding one object of key -> answer.")
    latency_s: float = Field(0, ge=0, le=3600, description="Seconds each lookup waits before answering.")


class KbArgs(BaseModel):
    key: str = Field(description="The key to look up, e.g. 'capital of France'.")


class KnowledgeBase:
    """Looks a key up exactly, then ignoring case and spacing; non-string answers come back as JSON."""

    name = "kb"
    args_model: type[BaseModel] = KbArgs

    def __init__(self, entries: Mapping[str, object], latency_s: float = 0.0) -> None:
        self.entries = dict(entries)
        self.latency_s = latency_s
        self._normalised = {_normalise(key): key for key in self.entries}
        self.description = _describe(list(self.entries))

    @classmethod
    def from_file(cls, path: Path, latency_s: float = 0.0) -> KnowledgeBase:
        return cls(load_entries(path), latency_s)

    async def call(self, args: BaseModel) -> str:
        key = KbArgs.model_validate(args).key
        await asyncio.sleep(self.latency_s)
        return _as_text(self.entries[self._find(key)])

    def _find(self, key: str) -> str:
        if key in self.entries:
            return key
        if (found := self._normalised.get(_normalise(key))) is not None:
            return found
        close = difflib.get_close_matches(_normalise(key), list(self._normalised), n=1)
        hint = f" (did you mean '{self._normalised[close[0]]}'?)" if close else ""
        raise ToolError(f"kb: no entry for '{key}'{hint}")


def load_entries(path: Path) -> dict[str, object]:
    """The key -> answer object in a JSON file; anything else raises `ToolError`."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ToolError(f"kb: knowledge file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ToolError(f"kb: cannot read {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise ToolError(f"kb: {path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(entries, dict):
        raise ToolError(f"kb: {path}: expected one JSON object of key -> answer")
    return entries


def _normalise(key: str) -> str:
    return " ".join(key.casefold().split())


def _as_text(answer: object) -> str:
    return answer if isinstance(answer, str) else json.dumps(answer, separators=(",", ":"), ensure_ascii=False)


def _describe(keys: list[str]) -> str:
    shown = ", ".join(repr(key) for key in keys[:MAX_KEYS_DESCRIBED])
    more = f" and {len(keys) - MAX_KEYS_DESCRIBED} more" if len(keys) > MAX_KEYS_DESCRIBED else ""
    return f"Look up a fact in the knowledge base by its key. Keys: {shown or 'none'}{more}."
