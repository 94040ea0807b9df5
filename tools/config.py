"""The `tools:` section of a task file, and the registry of tools it configures: `build_registry`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tools.base import ToolRegistry
from tools.brave import BraveSearch
from tools.calculator import Calculator
from tools.fetch_url import FetchSettings, FetchUrl
from tools.join import Join
from tools.kb import KbSettings, KnowledgeBase
from tools.local_search import LocalSearch
from tools.python import PythonRunner, PythonSettings
from tools.search import Search, SearchProvider, SearchSettings


class ToolsConfig(BaseModel):
    """Settings of the built-in tools; each section is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    python: PythonSettings = Field(default_factory=PythonSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    fetch_url: FetchSettings = Field(default_factory=FetchSettings)
    kb: KbSettings = Field(default_factory=KbSettings)


def build_registry(config: ToolsConfig, base_dir: Path | None = None) -> ToolRegistry:
    """calculator, python, join and fetch_url always; search and kb when they have something to search.

    Relative paths are resolved against `base_dir` (the task file's directory); a missing corpus or
    knowledge file raises `ToolError`.
    """
    base = base_dir or Path.cwd()
    registry = ToolRegistry([Calculator(), PythonRunner(config.python), Join(), FetchUrl(config.fetch_url)])
    if config.search.configured:
        registry.register(Search(_search_provider(config.search, base), k=config.search.k))
    if config.kb.file is not None:
        registry.register(KnowledgeBase.from_file(base / config.kb.file, config.kb.latency_s))
    return registry


def _search_provider(settings: SearchSettings, base: Path) -> SearchProvider:
    if settings.provider == "brave":
        return BraveSearch.from_env(settings.api_key_env, settings.url, settings.timeout_s)
    assert settings.corpus is not None
    return LocalSearch.from_path(base / settings.corpus)
