"""Tools a plan step may call.

Built in: `calculator`, `python` (a sandboxed subprocess), `join`, `fetch_url` (allowlisted hosts),
and, when configured, `search` (BM25 over a local corpus, or Brave Search) and `kb` (a JSON
knowledge file). `build_registry` makes a registry from a task file's `tools:` settings.
"""

# orchestrator imports tools.config at import time; importing it first means that whichever of the two
# packages a program imports first, tools.base is complete before anything asks it for a name.
import orchestrator  # noqa: F401  isort: skip
from tools.base import Tool, ToolError, ToolRegistry
from tools.bm25 import Bm25, tokenize
from tools.brave import BraveSearch
from tools.calculator import Calculator, CalculatorArgs, evaluate
from tools.config import ToolsConfig, build_registry
from tools.fetch_url import FetchSettings, FetchUrl, FetchUrlArgs
from tools.html_text import html_to_text
from tools.join import Join, JoinArgs
from tools.kb import KbArgs, KbSettings, KnowledgeBase, load_entries
from tools.local_search import Document, LocalSearch, load_corpus
from tools.python import PythonArgs, PythonRunner, PythonSettings
from tools.search import Search, SearchArgs, SearchHit, SearchProvider, SearchSettings, format_hits


def default_registry() -> ToolRegistry:
    """The built-in tools with default settings: calculator, fetch_url (nothing allowed), join, python."""
    return build_registry(ToolsConfig())


__all__ = [
    "Bm25", "BraveSearch", "Calculator", "CalculatorArgs", "Document", "FetchSettings", "FetchUrl",
    "FetchUrlArgs", "Join", "JoinArgs", "KbArgs", "KbSettings", "KnowledgeBase", "LocalSearch", "PythonArgs",
    "PythonRunner", "PythonSettings", "Search", "SearchArgs", "SearchHit", "SearchProvider", "SearchSettings",
    "Tool", "ToolError", "ToolRegistry", "ToolsConfig", "build_registry", "default_registry", "evaluate",
    "format_hits", "html_to_text", "load_corpus", "load_entries", "tokenize",
]  # fmt: skip
