"""Server-sent events as SGLang streams them: `data: <json>\\n\\n` per event, `data: [DONE]\\n\\n` last.

A stream drawn to be cut raises `StreamCut` instead of sending its `cut_after + 1`-th event or its
first finishing event, whichever comes first; the handler then aborts the generation and `cut()`
closes the connection in the middle of the chunked body, without `[DONE]`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from orchestrator.simserver.errors import dumps

DONE = b"data: [DONE]\n\n"


class StreamCut(Exception):
    """The fault plan cuts this stream here."""


class EventStream:
    def __init__(self, request: web.Request, cut_after: int | None = None) -> None:
        self.request = request
        self.cut_after = cut_after
        self.sent = 0
        self.response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})

    async def open(self) -> web.StreamResponse:
        await self.response.prepare(self.request)
        return self.response

    async def send(self, payload: Any, *, final: bool = False) -> None:
        if self.cut_after is not None and (final or self.sent >= self.cut_after):
            raise StreamCut
        await self.response.write(b"data: " + dumps(payload) + b"\n\n")
        self.sent += 1

    async def send_raw(self, line: str) -> None:
        await self.response.write(line.encode())

    async def close(self) -> web.StreamResponse:
        if self.cut_after is not None:
            return self.cut()
        await self.response.write(DONE)
        await self.response.write_eof()
        return self.response

    def cut(self) -> web.StreamResponse:
        transport = self.request.transport
        if transport is not None:
            transport.close()
        return self.response
