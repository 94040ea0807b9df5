import asyncio
import time

import pytest
from aiohttp import web

import tools.fetch_url
from tools import FetchSettings, FetchUrl, FetchUrlArgs, ToolError, html_to_text

PAGE = """<!doctype html><html><head><title>Test  page</title><style>p { color: red }</style>
<script>alert("hidden")</script></head><body><h1>Hello</h1><p>First   paragraph
with <b>bold</b> text &amp; more.</p><ul><li>one</li><li>two</li></ul></body></html>"""


def site() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="  just text\n", content_type="text/plain")

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for _ in range(200):  # 2 MB unless the client hangs up first
            await response.write(b"x" * 10_000)
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(text="late")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG", content_type="image/png")

    async def host(request: web.Request) -> web.Response:
        return web.Response(text=f"Host: {request.headers['Host']}")

    app = web.Application()
    for path, handler in [("/page", page), ("/plain", plain), ("/big", big), ("/slow", slow),
                          ("/redirect", redirect), ("/image", image), ("/host", host)]:  # fmt: skip
        app.router.add_get(path, handler)
    return app


async def fetch(url: str, **settings: object) -> str:
    allow = settings.pop("allow", ["127.0.0.1"])
    return await FetchUrl(FetchSettings(allow=allow, **settings)).call(FetchUrlArgs(url=url))  # type: ignore[arg-type]


async def refusal(url: str, **settings: object) -> str:
    with pytest.raises(ToolError) as caught:
        await fetch(url, **settings)
    return str(caught.value)


async def test_an_allowed_page_comes_back_as_readable_text(serve) -> None:  # type: ignore[no-untyped-def]
    async with serve(site()) as base:
        text = await fetch(f"{base}/page")
        assert await fetch(f"{base}/plain") == "just text"
        assert await fetch(f"{base}/redirect?to=/plain") == "just text"
    assert text == "Test page\nHello\nFirst paragraph with bold text & more.\n- one\n- two"


async def test_hosts_not_on_the_allowlist_are_refused_by_name() -> None:
    assert await refusal("http://example.com/x") == (
        "fetch_url: host 'example.com' is not in the fetch_url allow list (127.0.0.1)"
    )
    assert await refusal("http://127.0.0.1:9/x", allow=[]) == (
        "fetch_url: host '127.0.0.1' is not allowed: the fetch_url allow list is empty"
    )
    assert "not in the fetch_url allow list" in await refusal("http://badexample.org/", allow=["example.org"])
    assert "only http and https" in await refusal("file:///etc/passwd")


async def test_a_redirect_to_a_refused_host_is_not_followed(serve) -> None:  # type: ignore[no-untyped-def]
    async with serve(site()) as base:
        message = await refusal(f"{base}/redirect?to=http://evil.example.net/steal")
    assert message == (
        "fetch_url: redirect to http://evil.example.net/steal: "
        "host 'evil.example.net' is not in the fetch_url allow list (127.0.0.1)"
    )


async def test_a_large_body_is_cut_at_max_bytes(serve) -> None:  # type: ignore[no-untyped-def]
    async with serve(site()) as base:
        text = await fetch(f"{base}/big", max_bytes=5_000)
        assert text == "x" * 5_000 + "\n... [truncated at 5000 bytes]"
        assert await fetch(f"{base}/big", max_chars=100) == "x" * 100 + "\n... [truncated at 100 characters]"


async def test_a_slow_server_times_out(serve) -> None:  # type: ignore[no-untyped-def]
    async with serve(site()) as base:
        start = time.perf_counter()
        message = await refusal(f"{base}/slow", timeout_s=0.2)
        assert time.perf_counter() - start < 0.9
    assert message == f"fetch_url: timed out after 0.2 s fetching {base}/slow"


async def test_errors_and_binary_content_are_one_line(serve) -> None:  # type: ignore[no-untyped-def]
    async with serve(site()) as base:
        assert await refusal(f"{base}/missing") == f"fetch_url: {base}/missing answered HTTP 404 Not Found"
        assert await refusal(f"{base}/image") == f"fetch_url: {base}/image is image/png, not text"
    assert (await refusal("http://127.0.0.1:9/", timeout_s=2)).startswith("fetch_url: cannot fetch http://127.0.0.1:9/")


class FakeDns:
    """Answers lookups from `answers` (name -> one list of addresses per lookup; the last repeats), logs them."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(-2, "Name or service not known")
        answers = self.answers[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(tools.fetch_url, "resolve", fake.resolve)
    return fake


async def test_an_allowed_name_that_resolves_inside_the_network_is_refused(serve, dns: FakeDns) -> None:  # type: ignore[no-untyped-def]
    async with serve(site()) as base:
        port = base.rsplit(":", 1)[1]
        for address in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:127.0.0.1", "100.64.0.1"):
            dns.answers["docs.test"] = [[address]]
            assert await refusal(f"http://docs.test:{port}/plain", allow=["docs.test"]) == (
                f"fetch_url: host 'docs.test' resolves to {address}, which is not a public address"
            )
        dns.answers["mixed.test"] = [["93.184.216.34", "127.0.0.1"]]  # every address must be public
        assert "resolves to 127.0.0.1" in await refusal(f"http://mixed.test:{port}/plain", allow=["mixed.test"])
        assert await refusal(f"http://nowhere.test:{port}/", allow=["nowhere.test"]) == (
            "fetch_url: cannot resolve host 'nowhere.test': Name or service not known"
        )


async def test_allow_private_connects_to_the_address_checked_with_the_name_as_host(serve, dns: FakeDns) -> None:  # type: ignore[no-untyped-def]
    async with serve(site()) as base:
        port = base.rsplit(":", 1)[1]
        dns.answers["docs.test"] = [["127.0.0.1"], ["10.9.9.9"]]  # a second lookup would answer otherwise (rebinding)
        text = await fetch(f"http://docs.test:{port}/host", allow=["docs.test"], allow_private=True)
    assert text == f"Host: docs.test:{port}" and dns.asked == ["docs.test"]


async def test_every_redirect_hop_is_resolved_and_checked_again(serve, dns: FakeDns) -> None:  # type: ignore[no-untyped-def]
    async with serve(site()) as base:
        port = base.rsplit(":", 1)[1]
        dns.answers["inner.test"] = [["10.0.0.7"]]
        message = await refusal(f"{base}/redirect?to=http://inner.test:{port}/plain", allow=["127.0.0.1", "inner.test"])
        dns.answers["docs.test"] = [["127.0.0.1"]]
        relative = await fetch(f"http://docs.test:{port}/redirect?to=/host", allow=["docs.test"], allow_private=True)
    assert message == (
        f"fetch_url: redirect to http://inner.test:{port}/plain: "
        "host 'inner.test' resolves to 10.0.0.7, which is not a public address"
    )
    assert relative == f"Host: docs.test:{port}" and dns.asked == ["inner.test", "docs.test", "docs.test"]


def test_allowlist_entries_are_normalised_to_host_names() -> None:
    settings = FetchSettings(allow=["*.Example.org", ".docs.python.org", "https://127.0.0.1:8080/x"])
    assert settings.allow == ["example.org", "docs.python.org", "127.0.0.1"]
    with pytest.raises(ValueError, match="not a host name"):
        FetchSettings(allow=["http://"])


def test_html_to_text_drops_invisible_elements() -> None:
    assert html_to_text("<p>a<script>x()</script><noscript>n</noscript></p><div>b<br>c</div>") == "a\nb\nc"
