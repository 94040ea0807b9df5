"""Error responses in the shapes SGLang answers with.

{"error": "<text>"}                     /generate body breaking the JSON contract (400)
{"error": {"message": "<text>"}}        /generate request SGLang rejects with ValueError (400)
{"object": "error", "message", "type", "param": null, "code"}
                                        OpenAI-compatible routes, malformed bodies, and any
                                        HTTPException (500 and 503 included) on every route
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class HttpError(Exception):
    """Raised by a handler to answer with `response` (the error middleware returns it)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(data), status=status, content_type="application/json")


def contract_error(message: str) -> HttpError:
    return HttpError(json_response({"error": message}, 400))


def invalid_request(message: str, status: int = 400) -> HttpError:
    return HttpError(json_response({"error": {"message": message}}, status))


def error_body(message: str, err_type: str = "BadRequestError", code: int = 400) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": err_type, "param": None, "code": code}


def openai_error(message: str, err_type: str = "BadRequestError", status: int = 400) -> HttpError:
    return HttpError(json_response(error_body(message, err_type, status), status))


def http_exception(message: str, status: int) -> HttpError:
    """A FastAPI `HTTPException` as SGLang's handler answers it: type is the status code."""
    return openai_error(message, str(status), status)


def stream_error(message: str) -> dict[str, Any]:
    """The event a `/generate` stream sends when it fails after it started."""
    return {"error": {"message": message, "type": "invalid_request_error", "code": 400, "retryable": False}}
