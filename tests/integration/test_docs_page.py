"""The API docs page (``pgrest_asgi/docs_page.py``): Swagger UI served by the app, its assets
served locally; in-process through ``httpx.ASGITransport``, then in a real headless Chromium
against a real uvicorn.

The page is wired here the way a host (or the app, once a setting turns it on) wires it: a
router that hands the page's paths to ``DocsPage`` as a plain ASGI app (``Target.asgi``).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pgrest_asgi import DefaultRouter, Hooks, PgRestApp, Settings, Target
from pgrest_asgi.docs_page import INSTALL_HINT, PACKAGE_ASSETS, SETTING, DocsPage
from pgrest_asgi.settings import ConfigError
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import app_settings, client_for
from tests.integration.test_cli import PATIENCE, port_of, serve_env, serving

ROOT = Path(__file__).parents[2]
#: The ``Accept`` the browser test's page asks the document with, per document version; the
#: test router refuses the document to any other, so rendering proves the header is sent.
DOC_ACCEPTS = {
    "swagger-2.0": "application/openapi+json",
    "openapi-3.1": "application/vnd.oai.openapi+json;version=3.1",
}
#: The environment variable that gives the served app (``docs_app``) its ``Accept``.
ACCEPT_VARIABLE = "DOCS_TEST_ACCEPT"
#: One Chromium run may take this long on a loaded 2-core machine before it is retried (it
#: takes about 5 s on an idle one).
BROWSER_PATIENCE = 90.0
BROWSER_ATTEMPTS = 3
#: Chromium's complaints about a machine without a desktop, left out of failure messages.
CHROMIUM_NOISE = ("dbus", "Floss", "ScreenSaver", "vaapi", "sandbox", "UPower", "unexpected op")


class DocsRouter(DefaultRouter):
    """The API, with the docs page's paths sent to ``docs``; with ``doc_accept``, the root
    answers only requests that ask for exactly that type."""

    def __init__(self, docs: DocsPage, doc_accept: str | None = None) -> None:
        super().__init__()
        self.docs = docs
        self.doc_accept = doc_accept

    def match(self, method: str, path: bytes, headers: Mapping[str, str]) -> Target:
        target = self.docs.route(path)
        if target is not None:
            return target
        if self.doc_accept and path == b"/" and headers.get("accept") != self.doc_accept:
            return Target.asgi(self.refuse)
        return super().match(method, path, headers)

    async def refuse(self, scope: Any, receive: Any, send: Any) -> None:
        body = f"ask with Accept: {self.doc_accept}".encode()
        await send({"type": "http.response.start", "status": 406, "headers": []})
        await send({"type": "http.response.body", "body": body})


def docs_app() -> Starlette:
    """For ``uvicorn --factory``: the API (settings from ``PGRST_*``) mounted at ``/api`` in a
    Starlette app, with the docs page at ``/api/docs/`` asking with ``$DOCS_TEST_ACCEPT``."""
    accept = os.environ[ACCEPT_VARIABLE]
    docs = DocsPage("/docs", accept=accept)
    api = PgRestApp(settings=Settings.from_env(), hooks=Hooks(router=DocsRouter(docs, accept)))
    parent = Starlette()
    api.mount_into(parent, "/api")
    return parent


@pytest.fixture(scope="module")
def docs() -> DocsPage:
    return DocsPage("/docs")


@pytest.fixture(scope="module")
async def api(api_db: PostgresCluster, docs: DocsPage) -> AsyncIterator[PgRestApp]:
    app = PgRestApp(**app_settings(api_db), hooks=Hooks(router=DocsRouter(docs)))
    async with app.lifespan():
        yield app


@pytest.fixture(scope="module")
async def client(api: PgRestApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(api) as http:
        yield http


async def call(
    app: Callable[[Any, Any, Any], Awaitable[None]],
    raw_path: bytes | None,
    *,
    path: str | None = None,
    method: str = "GET",
    root_path: str = "",
) -> tuple[int, dict[str, str], bytes]:
    """One request as a server hands it over: ``raw_path`` exactly as on the wire (httpx would
    normalise ``..`` away before sending), ``path`` decoded (from ``raw_path`` if not given)."""
    from urllib.parse import unquote

    decoded = path if path is not None else root_path + unquote((raw_path or b"").decode())
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": decoded,
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    if raw_path is not None:
        scope["raw_path"] = root_path.encode() + raw_path
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in messages[1:])


def asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:href|src)="(assets/[^"]+)"', page)


# -- the page and its assets, in-process ------------------------------------------------------


async def test_page_loads_local_assets_only(client: httpx.AsyncClient) -> None:
    resp = await client.get("/docs/")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["cache-control"] == "no-cache"
    assert "script-src 'self';" in resp.headers["content-security-policy"]
    page = resp.text
    assert '<div id="swagger-ui" data-url="/">' in page
    assert "<script>" not in page  # no inline script
    urls = asset_urls(page)
    names = [url.split("?")[0].removeprefix("assets/") for url in urls]
    assert sorted(names) == sorted([*PACKAGE_ASSETS, "docs-init.js"])
    # Every URL in the page is relative: no CDN, nothing outside the page's own folder.
    assert re.findall(r'(?:href|src)="([^"]+)"', page) == [*urls[:3], "/", *urls[3:]]
    assert "//" not in page.replace("<!DOCTYPE html>", "")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [*PACKAGE_ASSETS.items(), ("docs-init.js", "text/javascript; charset=utf-8")],
)
async def test_each_asset(client: httpx.AsyncClient, name: str, content_type: str) -> None:
    page = (await client.get("/docs/")).text
    (url,) = [u for u in asset_urls(page) if u.startswith(f"assets/{name}?")]
    pinned = await client.get("/docs/" + url, headers={"Accept-Encoding": "identity"})
    assert pinned.status_code == 200
    assert pinned.headers["content-type"] == content_type
    assert pinned.headers["x-content-type-options"] == "nosniff"
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert int(pinned.headers["content-length"]) == len(pinned.content) > 100
    assert "content-encoding" not in pinned.headers
    # Asked without the page's version: the same bytes, revalidated before reuse.
    plain = await client.get(f"/docs/assets/{name}", headers={"Accept-Encoding": "identity"})
    assert (plain.status_code, plain.content) == (200, pinned.content)
    assert plain.headers["cache-control"] == "no-cache"
    again = await client.get(
        f"/docs/assets/{name}",
        headers={"If-None-Match": plain.headers["etag"], "Accept-Encoding": "identity"},
    )
    assert (again.status_code, again.content) == (304, b"")
    head = await client.head("/docs/" + url, headers={"Accept-Encoding": "identity"})
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == pinned.headers["content-length"]


async def test_text_assets_are_gzipped_for_clients_that_accept_it(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get(
        "/docs/assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "identity"}
    )
    zipped = await client.get(
        "/docs/assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "br, gzip;q=0.5"}
    )
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "accept-encoding"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2
    assert zipped.content == plain.content  # httpx decodes it
    assert zipped.headers["etag"] != plain.headers["etag"]
    refused = await client.get(
        "/docs/assets/swagger-ui.css", headers={"Accept-Encoding": "gzip;q=0, *"}
    )
    assert "content-encoding" not in refused.headers
    png = await client.get("/docs/assets/favicon-16x16.png", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in png.headers


async def test_the_api_is_served_next_to_the_page(client: httpx.AsyncClient) -> None:
    root = await client.get("/")
    assert root.status_code == 200
    assert "/items" in root.json()["paths"]
    items = await client.get("/items?select=id&id=eq.1")
    assert (items.status_code, items.json()) == (200, [{"id": 1}])
    # Only the page's own paths are its: a table called "docsx" is still the API's.
    other = await client.get("/docsx")
    assert other.status_code == 404
    assert other.json()["code"] == "PGRST205"


async def test_page_without_slash_redirects_relatively(client: httpx.AsyncClient) -> None:
    resp = await client.get("/docs?x=1")
    assert (resp.status_code, resp.headers["location"]) == (301, "docs/?x=1")
    assert (await client.get("/docs", follow_redirects=True)).url.path == "/docs/"


async def test_other_methods_are_refused(client: httpx.AsyncClient) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        resp = await client.request(method, "/docs/")
        assert (resp.status_code, resp.headers["allow"]) == (405, "GET, HEAD"), method


TRAVERSALS = [
    b"/docs/assets/../app.py",
    b"/docs/assets/../../pyproject.toml",
    b"/docs/assets/swagger-ui.css/../../../pyproject.toml",
    b"/docs/../pyproject.toml",
    b"/docs/assets/%2e%2e/app.py",
    b"/docs/assets/%2E%2E%2Fapp.py",
    b"/docs/assets/..%2fapp.py",
    b"/docs/assets/..%2F..%2Fpyproject.toml",
    b"/docs/assets/..%5capp.py",
    b"/docs/assets/%252e%252e%252fapp.py",
    b"/docs/assets//etc/passwd",
    b"/docs/assets/%2fetc%2fpasswd",
    b"/docs/assets/swagger-ui.css%00",
    b"/docs/assets/swagger-ui.css/",
    b"/docs/assets/./swagger-ui.css",
]
UNKNOWN = [
    b"/docs/assets/",
    b"/docs/assets",
    b"/docs/assets/swagger-editor.js",  # in the package, not in the allowlist
    b"/docs/assets/index.css",
    b"/docs/assets/LICENSE",
    b"/docs/assets/oauth2-redirect.html",
    b"/docs/index.html",
    b"/docs/app.py",
    b"/docs//",
    b"/docs/docs/",
]


@pytest.mark.parametrize("raw", TRAVERSALS + UNKNOWN, ids=lambda raw: raw.decode())
@pytest.mark.parametrize("root_path", ["", "/api"])
async def test_anything_else_below_the_page_is_404(
    api: PgRestApp, raw: bytes, root_path: str
) -> None:
    """Through the app, as a server hands the request over (``raw_path`` as sent), and with
    only the decoded ``path`` (servers that give no ``raw_path``)."""
    status, headers, body = await call(api, raw, root_path=root_path)
    assert (status, body) == (404, b"Not Found\n"), headers
    status, _, body = await call(api, None, path=root_path + raw.decode(), root_path=root_path)
    assert status == 404, body


async def test_document_url_follows_root_path(api: PgRestApp) -> None:
    """Mounted under ``/api`` (``root_path``), the page points Swagger UI at ``/api/``, and
    that URL answers the document."""
    async with client_for(api) as plain:
        plain_page = (await plain.get("/docs/")).text
    transport = httpx.ASGITransport(app=api, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as mounted:
        page = (await mounted.get("/api/docs/")).text
        (url,) = re.findall(r'data-url="([^"]*)"', page)
        assert url == "/api/"
        doc = await mounted.get(html.unescape(url))
        assert doc.status_code == 200
        assert doc.json()["paths"]["/items"]["get"]
        assets = [await mounted.get("/api/docs/" + u) for u in asset_urls(page)]
        assert [a.status_code for a in assets] == [200] * len(assets)
    # Only the document URL differs.
    assert page.replace('"/api/"', '"/"').replace(">/api/<", ">/<") == plain_page


def test_document_url_and_accept_are_escaped() -> None:
    docs = DocsPage("/api-docs/ui", "/", accept='application/json;x="<b>"')
    page = docs.page({"root_path": '/a"b<c>'}).decode()
    assert 'data-url="/a&quot;b&lt;c&gt;/"' in page
    assert 'data-accept="application/json;x=&quot;&lt;b&gt;&quot;"' in page
    assert docs.route(b"/api-docs/ui/assets/swagger-ui.css") is not None
    assert docs.route(b"/api-docs/uix") is None
    assert docs.route(b"/api-docs") is None


@pytest.mark.parametrize("path", ["docs", "/", "", "/docs/../x", "/a//b", "/a b", "/doc?s"])
def test_bad_page_paths_are_refused(path: str) -> None:
    with pytest.raises(ConfigError, match=f"^{SETTING}: "):
        DocsPage(path)


def test_found_without_importing_swagger_ui() -> None:
    before = set(sys.modules)
    DocsPage("/docs")
    assert not {"swagger_ui", "jinja2", "yaml"} & (set(sys.modules) - before)


def test_missing_package_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "swagger_ui", None)  # find_spec then finds nothing
    with pytest.raises(ConfigError) as raised:
        DocsPage("/docs")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{SETTING}: ")
    assert message.endswith("pip install 'pgrest-asgi[docs-ui]'")
    assert INSTALL_HINT == "pip install 'pgrest-asgi[docs-ui]'"


def test_extra_is_declared_and_included() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "pgrest-asgi"
    extras = project["optional-dependencies"]
    assert extras["docs-ui"] == ["swagger-ui-py>=25"]
    for extra in ("server", "embedded", "test"):
        assert "pgrest-asgi[docs-ui]" in extras[extra], extra
    assert not any("swagger" in dep for dep in project["dependencies"])


def test_swagger_ui_reads_openapi_31(docs: DocsPage) -> None:
    """Swagger UI 5 renders OpenAPI 3.1 documents (3.0 and Swagger 2.0 too)."""
    version = docs.swagger_ui_version
    assert version is not None
    assert int(version.split(".")[0]) >= 5, version


# -- in a real browser --------------------------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "Chromium is needed for the docs page's browser test and is not installed: "
        "apt-get install -y chromium (Debian; .ci/run installs it)",
        pytrace=False,
    )


#: Swagger UI has rendered the document: one operation block per path and method (its class
#: names the method), whose summary holds the path (``data-path``). The gap may not run into
#: the next block.
OPERATION = re.compile(
    r'<div class="opblock opblock-([a-z]+)"[^>]*>'
    r'(?:(?!<div class="opblock ).){0,1500}?<span class="opblock-summary-path" data-path="([^"]*)"',
    re.S,
)


def operations(dom: str) -> set[tuple[str, str]]:
    return {(method, path) for method, path in OPERATION.findall(dom)}


def load_error(dom: str) -> str | None:
    """What Swagger UI says when it could not load or read the document, if it does."""
    start = max(dom.find('class="errors-wrapper"'), dom.find("Failed to load API definition"))
    if start < 0:
        return None
    text = re.sub(r"<[^>]+>", " ", dom[dom.find(">", start) + 1 :][:3000])
    return " ".join(html.unescape(text).split())[:400]


def render(browser: str, url: str, tmp_path: Path) -> tuple[str, float]:
    """The page's DOM after Chromium ran its scripts (and a screenshot, as an artefact), with
    the seconds that took. Tried again only while the page shows neither the operations nor
    Swagger UI's error (a loaded machine may not have finished in the run's time budget)."""
    failures: list[str] = []
    for attempt in range(1, BROWSER_ATTEMPTS + 1):
        args = [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / f'profile-{attempt}'}",
            "--window-size=1280,2400",
            "--virtual-time-budget=15000",
            f"--screenshot={tmp_path / 'docs-page.png'}",
            "--dump-dom",
            url,
        ]
        started = time.monotonic()
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            out, err = proc.communicate(timeout=BROWSER_PATIENCE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            failures.append(f"attempt {attempt}: no DOM after {BROWSER_PATIENCE:.0f} s")
            continue
        dom = out.decode(errors="replace")
        if operations(dom):
            return dom, time.monotonic() - started
        error = load_error(dom)
        if error is not None:
            pytest.fail(f"Swagger UI could not show the document: {error}", pytrace=False)
        noise = (
            "dbus",
            "Floss",
            "ScreenSaver",
            "vaapi",
            "sandbox",
            "UPower",
            "unexpected operator",
        )
        log = [line for line in err.decode(errors="replace").splitlines()]
        log = [line for line in log if not any(word in line for word in noise)]
        failures.append(
            f"attempt {attempt} (exit {proc.returncode}, {time.monotonic() - started:.1f} s): "
            f"DOM ends {dom[-1500:]!r}; Chromium says: {' | '.join(log[-10:])}"
        )
    pytest.fail("Swagger UI rendered no operations:\n" + "\n".join(failures), pytrace=False)


@pytest.mark.timeout(PATIENCE + BROWSER_ATTEMPTS * BROWSER_PATIENCE + 120)
@pytest.mark.parametrize("version", DOC_ACCEPTS)
def test_browser_renders_the_operations(
    api_db: PostgresCluster, tmp_path: Path, version: str
) -> None:
    """A real uvicorn serves the API mounted at ``/api`` with the page at ``/api/docs/``;
    headless Chromium loads the page, its assets and (through ``root_path``) the document,
    asked for with the page's ``Accept`` (PostgREST's Swagger 2.0, or OpenAPI 3.1), and
    renders the fixture tables' operations."""
    browser = chromium()
    args = ["--factory", "tests.integration.test_docs_page:docs_app"]
    args += ["--host", "127.0.0.1", "--port", "0"]
    env = serve_env(api_db, **{ACCEPT_VARIABLE: DOC_ACCEPTS[version]})
    with serving(args, env, module="uvicorn", ready="/api/items?limit=1") as base:
        dom, seconds = render(browser, base + "/api/docs/", tmp_path)
        found = operations(dom)
        for method in ("get", "post", "patch", "delete"):
            assert (method, "/items") in found
        assert {("get", "/rpc/add_them"), ("post", "/rpc/add_them"), ("get", "/")} <= found
        assert "swagger-ui" in dom and 'data-url="/api/"' in dom
        badge = "OAS 2.0" if version == "swagger-2.0" else "OAS 3.1"
        assert re.search(rf'<small class="version-stamp"><pre class="version">{badge}<', dom)
        assert "validator" not in dom.lower()
        assert (tmp_path / "docs-page.png").stat().st_size > 10_000
        print(f"Chromium rendered the docs page ({version}) in {seconds:.1f} s")
        # The server as well refuses what is not on the page's list, as sent on the wire.
        for raw in (b"/api/docs/assets/../../pyproject.toml", b"/api/docs/assets/%2e%2e/app.py"):
            with socket.create_connection(("127.0.0.1", port_of(base)), timeout=PATIENCE) as sock:
                sock.sendall(b"GET " + raw + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
            assert reply.startswith(b"HTTP/1.1 404 "), reply[:200]
            assert b"[project]" not in reply
