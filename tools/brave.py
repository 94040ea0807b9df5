"""`BraveSearch`: web search through the Brave Search API, a search provider.

GET {url}?q=...&count=k with the key in the `X-Subscription-Token` header; hits come from
`web.results[]` (`title`, `url`, `description`). The key is read once from an environment variable
and never appears in an error message.
"""

from __future__ import annotations

import html
import os
import re
from typing import Any

import httpx

from tools.base import ToolError
from tools.search import BRAVE_URL, MAX_K, SearchHit

_TAG = re.compile(r"<[^>]+>")


class BraveSearch:
    def __init__(self, api_key: str, url: str = BRAVE_URL, timeout_s: float = 10, key_name: str = "the key") -> None:
        self._key = api_key
        self.url = url
        self.timeout_s = timeout_s
        self.key_name = key_name

    @classmethod
    def from_env(cls, variable: str, url: str = BRAVE_URL, timeout_s: float = 10) -> BraveSearch:
        key = os.environ.get(variable, "").strip()
        if not key:
            raise ToolError(f"search: set the environment variable {variable} to a Brave Search API key")
        return cls(key, url, timeout_s, key_name=f"the key in {variable}")

    def __repr__(self) -> str:
        return f"BraveSearch(url={self.url!r})"

    async def search(self, query: str, k: int) -> list[SearchHit]:
        params: dict[str, str | int] = {"q": query, "count": min(k, MAX_K)}
        headers = {"Accept": "application/json", "X-Subscription-Token": self._key}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(self.url, params=params, headers=headers)
        except httpx.TimeoutException:
            raise ToolError(f"search: Brave Search did not answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as error:
            raise ToolError(f"search: cannot reach Brave Search at {self.url}: {type(error).__name__}") from None
        try:
            return _hits(self._checked(response).json(), k)
        except ValueError:
            raise ToolError("search: Brave Search answered with malformed JSON") from None

    def _checked(self, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if status in (401, 403) or (status == 422 and "TOKEN" in _error_code(response)):
            raise ToolError(f"search: Brave Search refused {self.key_name} (HTTP {status})")
        if status == 429:
            raise ToolError("search: Brave Search rate limit reached (HTTP 429); try again later")
        if status != 200:
            raise ToolError(f"search: Brave Search answered HTTP {status}")
        if "json" not in response.headers.get("content-type", ""):
            raise ToolError("search: Brave Search did not answer with JSON")
        return response


def _hits(payload: Any, k: int) -> list[SearchHit]:
    results = payload.get("web", {}).get("results", []) if isinstance(payload, dict) else []
    hits = [_hit(result, rank) for rank, result in enumerate(results[:k], 1) if isinstance(result, dict)]
    return [hit for hit in hits if hit.source]


def _hit(result: dict[str, Any], rank: int) -> SearchHit:
    def clean(value: object) -> str:
        return html.unescape(_TAG.sub("", str(value or "")))

    return SearchHit(clean(result.get("title")), clean(result.get("description")), str(result.get("url", "")), 1 / rank)


def _error_code(response: httpx.Response) -> str:
    """Brave's error code, e.g. SUBSCRIPTION_TOKEN_INVALID (answered with HTTP 422)."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""
