"""Server-sent events decoded from a byte stream that arrives in arbitrary pieces.

Network chunks carry no event boundaries: one chunk may hold several events, an event (or a UTF-8
character) may span chunks. Bytes are buffered until a line is complete, lines until the blank line
that ends an event. Lines end with LF or CRLF; comment lines (`:`) and fields other than `data` are
ignored; several `data` lines join with newlines, as the SSE specification says.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

DONE = "[DONE]"


class SSEDecoder:
    """Feed bytes as they arrive; get back the data of every event they complete."""

    def __init__(self) -> None:
        self._partial = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        events = (self._line(line.removesuffix(b"\r").decode("utf-8", errors="replace")) for line in lines)
        return [event for event in events if event is not None]

    def close(self) -> list[str]:
        """At the end of the stream: an event whose lines all ended but whose blank line never came.

        A partial last line means the stream was cut mid-event; it is dropped.
        """
        if self._partial:
            self._partial, self._data = b"", []
            return []
        event = self._dispatch()
        return [] if event is None else [event]

    def _line(self, line: str) -> str | None:
        if not line:
            return self._dispatch()
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None

    def _dispatch(self) -> str | None:
        if not self._data:
            return None
        data, self._data = "\n".join(self._data), []
        return data


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """The data of each event in a byte stream, in order."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():
        yield event
