import asyncio
import json
import time
from pathlib import Path

import pytest

from tools import KbArgs, KnowledgeBase, ToolError

ENTRIES = {"capital of France": "Paris", "primes below 10": [2, 3, 5, 7], "boiling point": {"water_c": 100}}


async def lookup(kb: KnowledgeBase, key: str) -> str:
    return await kb.call(KbArgs(key=key))


async def test_exact_then_case_and_space_insensitive_lookup() -> None:
    kb = KnowledgeBase(ENTRIES)
    assert await lookup(kb, "capital of France") == "Paris"
    assert await lookup(kb, "  Capital   OF france ") == "Paris"


async def test_answers_that_are_not_strings_come_back_as_compact_json() -> None:
    kb = KnowledgeBase(ENTRIES)
    assert await lookup(kb, "primes below 10") == "[2,3,5,7]"
    assert await lookup(kb, "boiling point") == '{"water_c":100}'


async def test_unknown_key_names_the_key_and_suggests_a_close_one() -> None:
    kb = KnowledgeBase(ENTRIES)
    with pytest.raises(
        ToolError, match="^kb: no entry for 'capital of Frence' \\(did you mean 'capital of France'\\?\\)$"
    ):
        await lookup(kb, "capital of Frence")
    with pytest.raises(ToolError, match="^kb: no entry for 'zzz'$"):
        await lookup(kb, "zzz")


async def test_each_lookup_waits_the_latency_and_lookups_overlap() -> None:
    kb = KnowledgeBase(ENTRIES, latency_s=0.2)
    start = time.perf_counter()
    assert await lookup(kb, "capital of France") == "Paris"
    assert time.perf_counter() - start >= 0.19
    start = time.perf_counter()
    await asyncio.gather(*(lookup(kb, "capital of France") for _ in range(10)))
    assert time.perf_counter() - start < 1.0


async def test_loads_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(ENTRIES), encoding="utf-8")
    kb = KnowledgeBase.from_file(path)
    assert await lookup(kb, "capital of France") == "Paris"
    assert "'capital of France'" in kb.description


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "knowledge file not found"), ("{oops", "not valid JSON"), ("[1, 2]", "expected one JSON object")],
)
def test_a_bad_knowledge_file_is_one_clear_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "facts.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ToolError, match=f"^kb: .*{message}"):
        KnowledgeBase.from_file(path)
