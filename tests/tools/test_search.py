import json
from pathlib import Path

import pytest
from aiohttp import web

from tools import Bm25, BraveSearch, LocalSearch, Search, SearchArgs, SearchHit, ToolError, format_hits, tokenize

DOCS = {
    "asyncio.md": "asyncio runs coroutines on an event loop. Tasks wrap coroutines; gather runs them concurrently.",
    "threads.txt": "Threads share memory. The GIL lets one thread run Python bytecode at a time.",
    "cooking.txt": "Boil the pasta in salted water for nine minutes, then drain it.",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "notes").mkdir()
    for name, text in DOCS.items():
        (tmp_path / "notes" / name).write_text(text, encoding="utf-8")
    (tmp_path / "notes" / "ignored.pdf").write_bytes(b"%PDF")
    return tmp_path / "notes"


async def search(provider: object, query: str, k: int | None = None) -> str:
    return await Search(provider).call(SearchArgs(query=query, k=k))  # type: ignore[arg-type]


def test_tokens_are_lowercase_words() -> None:
    assert tokenize("Event-loop, GIL's 3 Tasks!") == ["event", "loop", "gil", "s", "3", "tasks"]


def test_bm25_prefers_more_matches_in_shorter_documents_and_rare_terms() -> None:
    docs = [["cat", "dog"], ["cat", "cat", "dog"], ["cat"] + ["filler"] * 20, ["dog", "fish"]]
    index = Bm25(docs)
    assert [i for i, _ in index.top(["cat"], 3)] == [1, 0, 2]
    assert index.top(["fish", "dog"], 1)[0][0] == 3
    assert index.top(["nothing"], 3) == []


async def test_local_search_ranks_a_directory_of_text_files(corpus: Path) -> None:
    result = await search(LocalSearch.from_path(corpus), "how do coroutines work concurrently", k=2)
    assert result.splitlines()[0].startswith("1. asyncio — asyncio runs coroutines on an event loop.")
    assert result.splitlines()[0].endswith("(asyncio.md)")
    assert len(result.splitlines()) == 1  # only documents that match at all
    second = await search(LocalSearch.from_path(corpus), "coroutines bytecode")
    assert [line.split(" — ")[0] for line in second.splitlines()] == ["1. asyncio", "2. threads"]


async def test_local_search_reads_jsonl_with_urls_and_ids(tmp_path: Path) -> None:
    lines = [
        {"title": "Paris", "text": "Paris is the capital of France.", "url": "https://example.org/paris"},
        {"title": "Rome", "text": "Rome is the capital of Italy.", "id": "rome-1"},
        {"text": "Bread is baked in an oven."},
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    provider = LocalSearch.from_path(path)
    assert await search(provider, "capital of Italy", k=1) == "1. Rome — Rome is the capital of Italy. (rome-1)"
    assert (await search(provider, "France")).endswith("(https://example.org/paris)")
    assert (await search(provider, "oven")).endswith("(docs.jsonl:3)")


async def test_no_match_is_a_result_not_an_error(corpus: Path) -> None:
    assert (
        await search(LocalSearch.from_path(corpus), "quantum chromodynamics")
        == "no results for 'quantum chromodynamics'"
    )


def test_hits_are_numbered_with_title_snippet_and_source() -> None:
    hits = [SearchHit("A", "first   text", "a.txt", 2.0), SearchHit("B", "x " * 400, "b.txt", 1.0)]
    first, second = format_hits(hits).splitlines()
    assert first == "1. A — first text (a.txt)"
    assert second.startswith("2. B — x x") and second.endswith("… (b.txt)") and len(second) < 330


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing", None, "corpus not found"),
        ("bad.jsonl", '{"text": "ok"}\nnot json\n', "bad.jsonl:2: not valid JSON"),
        ("bad.jsonl", '{"title": "no text"}\n', "bad.jsonl:1: expected a JSON object with a 'text' string"),
        ("empty", "", "no documents in"),
    ],
)
def test_a_bad_corpus_is_one_clear_error(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if name == "empty":
        path.mkdir()
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ToolError, match="^search: ") as caught:
        LocalSearch.from_path(path)
    assert message in str(caught.value)


def brave_app(seen: list[web.Request]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        seen.append(request)
        token = request.headers.get("X-Subscription-Token")
        if token != "good-key":
            return web.json_response({"error": {"code": "UNAUTHORIZED", "detail": f"bad token {token}"}}, status=401)
        count = int(request.query["count"])
        results = [
            {
                "title": f"<strong>Result</strong> {n}",
                "url": f"https://example.org/{n}",
                "description": f"About &amp; {n}",
            }
            for n in range(1, 30)
        ]
        return web.json_response({"type": "search", "web": {"results": results[:count]}})

    app = web.Application()
    app.router.add_get("/res/v1/web/search", handle)
    return app


async def test_brave_provider_sends_query_count_and_key_and_reads_web_results(serve) -> None:  # type: ignore[no-untyped-def]
    seen: list[web.Request] = []
    async with serve(brave_app(seen)) as base:
        provider = BraveSearch("good-key", url=f"{base}/res/v1/web/search")
        result = await search(provider, "what is asyncio", k=3)
    assert result.splitlines() == [
        "1. Result 1 — About & 1 (https://example.org/1)",
        "2. Result 2 — About & 2 (https://example.org/2)",
        "3. Result 3 — About & 3 (https://example.org/3)",
    ]
    assert seen[0].query["q"] == "what is asyncio" and seen[0].query["count"] == "3"


async def test_brave_provider_never_shows_the_key(serve, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TEST_BRAVE_KEY", "sk-very-secret-123")
    async with serve(brave_app([])) as base:
        provider = BraveSearch.from_env("TEST_BRAVE_KEY", url=f"{base}/res/v1/web/search")
        with pytest.raises(ToolError) as caught:
            await search(provider, "anything")
    assert str(caught.value) == "search: Brave Search refused the key in TEST_BRAVE_KEY (HTTP 401)"
    assert "sk-very-secret" not in repr(provider)


async def test_brave_provider_reports_an_unreachable_server() -> None:
    provider = BraveSearch("k", url="http://127.0.0.1:9/res/v1/web/search", timeout_s=2)
    with pytest.raises(ToolError, match="^search: cannot reach Brave Search at http://127.0.0.1:9/"):
        await search(provider, "anything")


def test_brave_provider_needs_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_BRAVE_KEY", raising=False)
    with pytest.raises(ToolError, match="^search: set the environment variable TEST_BRAVE_KEY"):
        BraveSearch.from_env("TEST_BRAVE_KEY")
