"""`fetch_url`: fetch a web page from an allowed host and return its readable text.

Only http and https, only hosts on the allowlist (every redirect hop is checked too), at most
`max_bytes` read from the network and `max_chars` returned, all within `timeout_s`.

A host name is resolved once per hop, every address it resolves to must be public (not loopback,
private, link-local, shared, reserved or multicast) unless `allow_private` says otherwise, and the
connection goes to the address that was checked: the URL names that address, with the name in the
Host header and in TLS (SNI and certificate checks). So DNS cannot point an allowed name at the
machine itself or its network, not even by answering differently the second time (DNS rebinding).
An address written on the allowlist (`127.0.0.1`) is fetched as written: whoever configured it
meant it. Connections are direct: proxy settings in the environment are not used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.base import ToolError
from tools.html_text import html_to_text

MAX_REDIRECTS = 5
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
_REDIRECTS = (301, 302, 303, 307, 308)


class FetchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[str] = Field(
        default_factory=list,
        description="Hosts that may be fetched; 'example.org' also allows its subdomains. Empty: none.",
    )
    timeout_s: float = Field(10, gt=0, le=600, description="Limit for the whole fetch, redirects included, in seconds.")
    max_bytes: int = Field(1_000_000, ge=1, le=1 << 30, description="Bytes read from the response at most.")
    max_chars: int = Field(20_000, ge=1, le=1 << 28, description="Characters of text returned at most.")
    allow_private: bool = Field(
        False,
        description="Also fetch allowed host names that resolve to loopback, private or link-local addresses "
        "(an intranet). Off: such a name is refused, so that DNS cannot point an allowed name inside the network.",
    )

    @field_validator("allow")
    @classmethod
    def _hosts(cls, entries: list[str]) -> list[str]:
        return [_host_pattern(entry) for entry in entries]


class FetchUrlArgs(BaseModel):
    url: str = Field(description="The http(s) URL of the page to fetch.")


class FetchUrl:
    name = "fetch_url"
    args_model: type[BaseModel] = FetchUrlArgs

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        hosts = ", ".join(self.settings.allow) or "none are allowed yet"
        self.description = f"Fetch a web page (http/https) and return its text. Allowed hosts: {hosts}."

    async def call(self, args: BaseModel) -> str:
        url = FetchUrlArgs.model_validate(args).url
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                return await self._fetch(url)
        except TimeoutError:
            raise ToolError(f"fetch_url: timed out after {self.settings.timeout_s:g} s fetching {url}") from None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise ToolError(f"fetch_url: cannot fetch {url}: {_describe(error)}") from None

    async def _fetch(self, url: str) -> str:
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=self.settings.timeout_s, trust_env=False
        ) as client:
            target, redirect = self._checked(httpx.URL(url), url), False
            for _ in range(MAX_REDIRECTS + 1):
                address, headers, extensions = await self._pinned(target, redirect)
                request = client.build_request("GET", address, headers=headers, extensions=extensions)
                response = await client.send(request, stream=True)
                try:
                    if response.status_code not in _REDIRECTS or "location" not in response.headers:
                        return await self._text(response, url)
                    target, redirect = self._checked(target.join(response.headers["location"]), url, True), True
                finally:
                    await response.aclose()
        raise ToolError(f"fetch_url: more than {MAX_REDIRECTS} redirects fetching {url}")

    def _checked(self, target: httpx.URL, requested: str, redirect: bool = False) -> httpx.URL:
        """`target` if it may be fetched; a redirect's target is named as such in the error."""
        hop, shown = (f"redirect to {target}: ", str(target)) if redirect else ("", requested)
        if target.scheme not in ("http", "https"):
            raise ToolError(f"fetch_url: {hop}only http and https URLs can be fetched, not {shown!r}")
        host = target.host.lower().rstrip(".")
        allow = self.settings.allow
        if not allow:
            raise ToolError(f"fetch_url: {hop}host '{host}' is not allowed: the fetch_url allow list is empty")
        if not any(host == pattern or host.endswith("." + pattern) for pattern in allow):
            raise ToolError(f"fetch_url: {hop}host '{host}' is not in the fetch_url allow list ({', '.join(allow)})")
        return target

    async def _pinned(self, target: httpx.URL, redirect: bool) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
        """The URL to connect to (at the address checked), its Host header and its TLS server name."""
        hop = f"redirect to {target}: " if redirect else ""
        host = target.host.lower().rstrip(".")
        if _address(host) is not None:
            return target, {}, {}  # an address on the allow list: fetched as written
        name = target.raw_host.decode("ascii").lower().rstrip(".")  # as DNS and TLS spell it (IDNA)
        try:
            addresses = await resolve(name, target.port or (443 if target.scheme == "https" else 80))
        except OSError as error:
            raise ToolError(f"fetch_url: {hop}cannot resolve host '{host}': {error.strerror or error}") from None
        if not addresses:
            raise ToolError(f"fetch_url: {hop}cannot resolve host '{host}': no address")
        for address in addresses if not self.settings.allow_private else ():
            if not _public(address):
                raise ToolError(f"fetch_url: {hop}host '{host}' resolves to {address}, which is not a public address")
        pinned = target.copy_with(host=addresses[0])
        tls = {"sni_hostname": name} if target.scheme == "https" else {}
        return pinned, {"Host": target.netloc.decode("ascii")}, tls

    async def _text(self, response: httpx.Response, url: str) -> str:
        if response.is_error:
            raise ToolError(f"fetch_url: {url} answered HTTP {response.status_code} {response.reason_phrase}")
        kind = response.headers.get("content-type", "text/plain").split(";")[0].strip().lower()
        if not kind.startswith(_TEXT_TYPES + _HTML_TYPES):
            raise ToolError(f"fetch_url: {url} is {kind}, not text")
        body, cut = await _read_capped(response, self.settings.max_bytes)
        text = body.decode(response.charset_encoding or "utf-8", errors="replace")
        return self._capped(html_to_text(text) if kind in _HTML_TYPES else text.strip(), cut)

    def _capped(self, text: str, cut: bool) -> str:
        limit = self.settings.max_chars
        if len(text) > limit:
            return f"{text[:limit]}\n... [truncated at {limit} characters]"
        return f"{text}\n... [truncated at {self.settings.max_bytes} bytes]" if cut else text


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """At most `max_bytes` of the body, and whether there was more (the rest is never downloaded)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            return bytes(body[:max_bytes]), True
    return bytes(body), False


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, each once, in the resolver's order (tests replace this function)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _public(address: str) -> bool:
    """Whether `address` is on the public internet: not loopback, private, link-local, shared, reserved, multicast."""
    ip = _address(address.partition("%")[0])  # fe80::1%eth0: the scope says nothing about the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip is not None and ip.is_global and not ip.is_multicast


def _host_pattern(entry: str) -> str:
    """'Example.org', '.example.org', '*.example.org' and 'https://example.org:8080/' all mean example.org."""
    host = entry.strip().lower().split("://", 1)[-1].removeprefix("*.").lstrip(".")
    try:
        parsed = httpx.URL(f"http://{host}").host.rstrip(".")
    except httpx.InvalidURL:
        parsed = ""
    if not parsed:
        raise ValueError(f"not a host name: {entry!r}")
    return parsed


def _describe(error: httpx.HTTPError) -> str:
    return str(error) or type(error).__name__
