"""What the HTTP backends share: error classification, server error messages, API keys and URLs.

    BackendError                  (orchestrator.errors) `.status`, `.retryable`
    ├── BackendUnavailable        the server cannot be reached (refused, unresolved, connect timeout)
    └── ServerError               the server answered with an error, timed out, or cut a stream;
                                  adds `.retry_after` (seconds, from Retry-After) and `.detail`
                                  (the server's own message, without our prefix)

`is_retryable(error)` is the one question a retry wrapper asks; it reads `BackendError.retryable`.
Retryable: HTTP 408, 409, 429 and 5xx answers (the statuses the OpenAI SDK itself retries), read
timeouts, connections or streams cut mid-way, and an unreachable server (it may be restarting).
Not retryable: any other 4xx answer (a bad request, a bad key, an unknown model), a server error
event inside a stream that carries no 5xx status, and anything that is not a `BackendError`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Mapping
from functools import cache
from urllib.parse import urlsplit

import httpx

from orchestrator.errors import BackendError

RETRYABLE_STATUSES = frozenset({408, 409, 429})
MESSAGE_LIMIT = 300
CONNECT_ERRORS = frozenset({"ConnectError", "ConnectTimeout"})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class ServerError(BackendError):
    """A server answered a request with an error, did not answer in time, or cut its stream."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message, status=status, retryable=retryable)
        self.retry_after = retry_after
        self.detail = detail or message


def is_retryable(error: BaseException) -> bool:
    """Whether sending the same request again may succeed."""
    return isinstance(error, BackendError) and error.retryable


def retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def status_error(
    server: str, status: int, body: object, headers: Mapping[str, str] | None = None, *, secret: str | None = None
) -> ServerError:
    """The error for an HTTP answer with a failure `status`, carrying the server's own message."""
    detail = redact(error_message(body), secret) or "no message"
    after = retry_after(headers.get("retry-after") if headers else None)
    return ServerError(
        f"{server} answered HTTP {status}: {detail}",
        status=status,
        retryable=retryable_status(status),
        retry_after=after,
        detail=detail,
    )


def error_message(body: object) -> str:
    """The human message in an error body: `{"error": {"message"}}`, `{"message"}`, `{"detail"}` or text."""
    if isinstance(body, Mapping):
        for key in ("error", "message", "detail", "msg"):
            if body.get(key):
                return error_message(body[key])
        return one_line(str(dict(body)))
    if isinstance(body, list) and body:
        return "; ".join(error_message(item) for item in body[:3])
    if isinstance(body, bytes):
        return one_line(body.decode("utf-8", errors="replace"))
    return one_line(str(body)) if body is not None else ""


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` masked (keys must never reach a message)."""
    return text.replace(secret, "***") if secret and len(secret) >= 4 else text


def retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def connect_failure(error: BaseException) -> str:
    """Why a connection could not be made, in a few words: refused, unresolved name, timeout."""
    for cause in _chain(error):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host name not resolved"
        if isinstance(cause, TimeoutError) or type(cause).__name__ == "ConnectTimeout":
            return "connection timed out"
    return one_line(str(error)) or type(error).__name__


def is_connect_failure(error: BaseException) -> bool:
    """Whether `error` (from httpx or the OpenAI SDK) means no connection could be opened."""
    return any(
        isinstance(cause, ConnectionRefusedError | socket.gaierror) or type(cause).__name__ in CONNECT_ERRORS
        for cause in _chain(error)
    )


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def normalize_url(url: str) -> str:
    """`url` without a trailing slash; it must be an absolute http(s) URL with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {url!r}")
    return url.strip().rstrip("/")


def is_loopback(url: str) -> bool:
    """Whether `url` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key(variable: str | None, url: str, *, required: bool) -> str | None:
    """The API key in environment variable `variable`; a missing one fails only when `required`."""
    if not variable:
        return None
    key = os.environ.get(variable, "").strip()
    if key or not required:
        return key or None
    raise BackendError(
        f"environment variable {variable} is not set, and the server at {url} needs an API key: "
        f"export {variable}=<key> (or name another variable with api_key_env)"
    )


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every HTTP client of the process (each costs tens of ms and about 1 MiB)."""
    return httpx.create_ssl_context()
