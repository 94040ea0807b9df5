"""Readable text from HTML with the standard library's parser: `html_to_text`.

Scripts, styles and other invisible elements are dropped, block-level elements start new lines, and
runs of whitespace collapse to one space; blank lines are dropped. The page's title comes first.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "th", "thead", "tr", "ul",
})  # fmt: skip


def html_to_text(html: str) -> str:
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser.text()


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._pieces: list[str] = []
        self._hidden: list[str] = []
        self._title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden.append(tag)
        self._in_title = self._in_title or tag == "title"
        self._break(tag, "- " if tag == "li" else "")

    def handle_endtag(self, tag: str) -> None:
        if self._hidden and self._hidden[-1] == tag:
            self._hidden.pop()
        self._in_title = self._in_title and tag != "title"
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        elif not self._hidden:
            self._pieces.append(re.sub(r"\s+", " ", data))

    def _break(self, tag: str, marker: str = "") -> None:
        if tag in _BLOCKS and not self._hidden:
            self._pieces.append("\n" + marker)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self._pieces).splitlines())
        body = "\n".join(line for line in lines if line and line != "-")
        title = " ".join("".join(self._title).split())
        return f"{title}\n{body}".strip() if title and not body.startswith(title) else body
