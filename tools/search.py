"""`search`: find passages for a query with a pluggable `SearchProvider`.

Providers: `LocalSearch` (BM25 over a local corpus, the offline default) and `BraveSearch` (the
Brave Search web API). `tools.config.build_registry` picks one from `SearchSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from tools.base import ToolError

MAX_K = 20
BRAVE_URL = "https://api.search.brave.com/res/v1/web/search"
SNIPPET_CHARS = 300


@dataclass(frozen=True)
class SearchHit:
    title: str
    text: str
    source: str
    score: float


@runtime_checkable
class SearchProvider(Protocol):
    async def search(self, query: str, k: int) -> list[SearchHit]:
        """The best `k` hits at most, best first."""
        ...


class SearchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["local", "brave"] = Field("local", description="'local': BM25 over `corpus`; 'brave': web.")
    corpus: Path | None = Field(None, description="A directory of .txt/.md/.jsonl files, or one such file.")
    api_key_env: str = Field("BRAVE_SEARCH_API_KEY", description="Environment variable holding the API key.")
    url: str = Field(BRAVE_URL, description="The web search endpoint (overridable, e.g. for a proxy).")
    k: int = Field(5, ge=1, le=MAX_K, description="Hits returned when a call does not say.")
    timeout_s: float = Field(10, gt=0, le=600, description="Limit per web search request, in seconds.")

    @property
    def configured(self) -> bool:
        return self.provider != "local" or self.corpus is not None


class SearchArgs(BaseModel):
    query: str = Field(description="What to search for, in a few keywords.")
    k: int | None = Field(
        None, ge=1, le=MAX_K, description="How many hits to return (1-20); default 5 unless configured."
    )


class Search:
    name = "search"
    description = "Search for passages about a query; returns numbered hits: title, snippet and source."
    args_model: type[BaseModel] = SearchArgs

    def __init__(self, provider: SearchProvider, k: int = 5) -> None:
        self.provider = provider
        self.k = k

    async def call(self, args: BaseModel) -> str:
        parsed = SearchArgs.model_validate(args)
        if not parsed.query.strip():
            raise ToolError("search: the query is empty")
        hits = await self.provider.search(parsed.query, parsed.k or self.k)
        return format_hits(hits) if hits else f"no results for {parsed.query!r}"


def format_hits(hits: list[SearchHit]) -> str:
    """'1. Title — snippet (source)', one line per hit."""
    return "\n".join(f"{n}. {hit.title} — {_snippet(hit.text)} ({hit.source})" for n, hit in enumerate(hits, 1))


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"
