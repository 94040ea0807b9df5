"""`LocalSearch`: BM25 search over a local corpus of text files, the offline search provider.

A corpus is a directory (searched recursively) or a single file. A .txt or .md file is one document
titled by its file name; a .jsonl file holds one document per line: `{"title", "text"}` and
optionally `url` or `id`, which become the hit's source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tools.base import ToolError
from tools.bm25 import Bm25, tokenize
from tools.search import SNIPPET_CHARS, SearchHit

SUFFIXES = (".txt", ".md", ".jsonl")


@dataclass(frozen=True)
class Document:
    title: str
    text: str
    source: str


class LocalSearch:
    def __init__(self, documents: list[Document]) -> None:
        self.documents = documents
        self._index = Bm25([tokenize(f"{doc.title} {doc.text}") for doc in documents])

    @classmethod
    def from_path(cls, path: Path) -> LocalSearch:
        return cls(load_corpus(path))

    async def search(self, query: str, k: int) -> list[SearchHit]:
        terms = tokenize(query)
        return [self._hit(self.documents[index], score, terms) for index, score in self._index.top(terms, k)]

    def _hit(self, doc: Document, score: float, terms: list[str]) -> SearchHit:
        return SearchHit(title=doc.title, text=_passage(doc.text, terms), source=doc.source, score=score)


def load_corpus(path: Path) -> list[Document]:
    """The documents under `path`; a missing, unreadable or empty corpus raises `ToolError`."""
    if not path.exists():
        raise ToolError(f"search: corpus not found: {path}")
    files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()) if path.is_dir() else [path]
    documents = [doc for file in files for doc in _documents(file, path)]
    if not documents:
        raise ToolError(f"search: no documents in {path} (expected {', '.join(SUFFIXES)} files)")
    return documents


def _documents(file: Path, root: Path) -> list[Document]:
    if file.suffix not in SUFFIXES:
        raise ToolError(f"search: {file}: a corpus file must end in {', '.join(SUFFIXES)}")
    text = _read(file)
    name = str(file.relative_to(root)) if root.is_dir() else file.name
    if file.suffix != ".jsonl":
        return [Document(title=file.stem, text=text, source=name)]
    return [_record(line, f"{name}:{n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _record(line: str, where: str) -> Document:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ToolError(f"search: {where}: not valid JSON ({error.msg})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise ToolError(f"search: {where}: expected a JSON object with a 'text' string")
    source = str(record.get("url") or record.get("id") or where)
    return Document(title=str(record.get("title") or source), text=record["text"], source=source)


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ToolError(f"search: cannot read {file}: {error}") from None


def _passage(text: str, terms: list[str]) -> str:
    """The part of `text` around the first query term, so the snippet shows why it matched."""
    flat = " ".join(text.split())
    lowered = flat.lower()
    found = [i for i in (lowered.find(term) for term in terms) if i >= 0]
    start = max(0, min(found, default=0) - SNIPPET_CHARS // 3)
    start = flat.rfind(" ", 0, start) + 1 if start else 0
    return ("…" if start else "") + flat[start:]
