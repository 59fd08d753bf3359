"""``jwt-secret`` as a JWKS / OpenID discovery URL, through the whole app.

A real HTTP server on 127.0.0.1 (an ephemeral port, in a thread) serves the key set and a
discovery document, and rotates keys (A, then A+B, then B). The app fetches with authlib's
client; only the JWKS cache's monotonic clock is a fake, moved by hand, so that max-age and
min-refresh are crossed without waiting. Also: the token from a cookie or another header.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey

from pgrest_asgi import Hooks, JwtAuthenticator, PgRestApp
from pgrest_asgi.observe import Event
from tests.conftest import make_token

DISCOVERY_PATH = "/.well-known/openid-configuration"
#: What a token gets while no key set could be fetched: today errors.py's closest error,
#: PGRST300 (500); 503 once ``JwtError.keys_unavailable`` exists (see jwt._keys_unavailable).
UNAVAILABLE = (503, "PGRST300")


class KeyServer:
    """``/jwks`` answers ``keys`` (with ``cache_control``, ``status``); the discovery path
    names ``/jwks``. ``hang`` holds every answer until the test ends. ``paths`` records the
    requests."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.cache_control: str | None = None
        self.status = 200
        self.hang = False
        self.released = threading.Event()
        self.paths: list[str] = []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                state.paths.append(self.path)
                if state.hang:
                    state.released.wait(30)
                    return
                if self.path == DISCOVERY_PATH:
                    body = {"issuer": state.base, "jwks_uri": f"{state.base}/jwks"}
                    self.answer(200, body, None)
                elif self.path == "/jwks":
                    self.answer(state.status, {"keys": state.keys}, state.cache_control)
                else:
                    self.answer(404, {"error": "not found"}, None)

            def answer(self, status: int, body: Any, cache_control: str | None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if cache_control is not None:
                    self.send_header("Cache-Control", cache_control)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # no output from the server thread

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def serve(self, *keys: tuple[Key, str]) -> None:
        self.keys = [jwk(key, kid) for key, kid in keys]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jwk(key: Key, kid: str) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": kid, "use": "sig"}


def signed(key: Key, kid: str, role: str = "web_user") -> dict[str, str]:
    alg = "RS256" if isinstance(key, RSAKey) else "ES256"
    token = jwt.encode({"alg": alg, "kid": kid}, {"role": role}, key)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def key_a() -> RSAKey:
    return RSAKey.generate_key(2048)


@pytest.fixture(scope="module")
def key_b() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(10)


@pytest.fixture
def jwks_app(
    app_factory: Callable[..., Any],
) -> Callable[..., Any]:
    """``async with jwks_app(url, clock, events, **settings) as (authenticator, http)``."""

    @asynccontextmanager
    async def factory(
        url: str,
        clock: Clock,
        events: list[Event],
        *,
        timeout: float = 5.0,
        **settings: Any,
    ) -> AsyncIterator[tuple[JwtAuthenticator, httpx.AsyncClient]]:
        authenticator = JwtAuthenticator(monotonic=clock, jwks_timeout=timeout)
        hooks = Hooks(authenticator=authenticator, observer=events.append)
        async with app_factory(jwt_secret=url, hooks=hooks, **settings) as (app, http):
            assert cast(PgRestApp, app).authenticator is authenticator
            # The app starts the first fetch in the background; wait for it, so that what
            # follows does not depend on how fast it was.
            await authenticator.start()
            yield authenticator, http

    return factory


async def whoami(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.get("/whoami?select=role", headers=headers)


def jwt_events(events: list[Event]) -> list[Event]:
    return [event for event in events if event.name.startswith("jwt.")]


async def test_key_rotation_a_then_ab_then_b(
    jwks_app: Callable[..., Any], key_server: KeyServer, key_a: RSAKey, key_b: ECKey
) -> None:
    clock, events = Clock(), list[Event]()
    key_server.serve((key_a, "a"))
    async with jwks_app(f"{key_server.base}/jwks", clock, events) as (_, http):
        assert key_server.paths == ["/jwks"]  # fetched when the app started
        anonymous = await whoami(http, {})
        assert anonymous.json() == [{"role": "web_anon"}]
        assert key_server.paths == ["/jwks"]  # an anonymous request fetches nothing

        resp = await whoami(http, signed(key_a, "a"))
        assert resp.json() == [{"role": "web_user"}]
        assert key_server.paths == ["/jwks"]

        # B is published; a token signed with it is refused until min-refresh (30 s) has
        # passed since the last fetch, then fetched for and accepted.
        key_server.serve((key_a, "a"), (key_b, "b"))
        early = await whoami(http, signed(key_b, "b", "other_user"))
        assert early.status_code == 401
        clock.now += 30
        resp = await whoami(http, signed(key_b, "b", "other_user"))
        assert resp.json() == [{"role": "other_user"}]
        assert key_server.paths == ["/jwks", "/jwks"]
        assert (await whoami(http, signed(key_a, "a"))).status_code == 200

        # A is withdrawn. The next fetch (here caused by an unknown kid) drops it.
        key_server.serve((key_b, "b"))
        clock.now += 30
        unknown = await whoami(http, signed(ECKey.generate_key("P-256"), "c"))
        assert unknown.status_code == 401
        assert key_server.paths == ["/jwks"] * 3
        removed = await whoami(http, signed(key_a, "a"))
        assert removed.status_code == 401
        assert removed.json() == {
            "code": "PGRST301",
            "details": "No suitable key was found to decode the JWT",
            "hint": None,
            "message": "No suitable key or wrong key type",
        }
        assert removed.headers["www-authenticate"] == (
            'Bearer error="invalid_token", error_description="No suitable key or wrong key type"'
        )
        assert (await whoami(http, signed(key_b, "b"))).json() == [{"role": "web_user"}]
        assert key_server.paths == ["/jwks"] * 3  # min-refresh: no fetch for "a" right away

    fetched = jwt_events(events)
    assert [e.name for e in fetched] == ["jwt.jwks_fetched"] * 3
    assert [e.fields["kids"] for e in fetched] == [["a"], ["a", "b"], ["b"]]
    assert [e.fields["reason"] for e in fetched] == ["start", "unknown key", "unknown key"]


async def test_an_openid_discovery_document(
    jwks_app: Callable[..., Any], key_server: KeyServer, key_b: ECKey
) -> None:
    clock, events = Clock(), list[Event]()
    key_server.serve((key_b, "b"))
    url = key_server.base + DISCOVERY_PATH
    async with jwks_app(url, clock, events) as (_, http):
        resp = await whoami(http, signed(key_b, "b"))
        assert resp.json() == [{"role": "web_user"}]
    assert key_server.paths == [DISCOVERY_PATH, "/jwks"]
    (fetched,) = jwt_events(events)
    assert fetched.fields["jwks_uri"] == f"{key_server.base}/jwks"


async def test_cache_control_max_age(
    jwks_app: Callable[..., Any], key_server: KeyServer, key_b: ECKey
) -> None:
    clock, events = Clock(), list[Event]()
    key_server.serve((key_b, "b"))
    key_server.cache_control = "public, max-age=120"
    url = f"{key_server.base}/jwks"
    async with jwks_app(url, clock, events, jwt_jwks_min_refresh=1) as (_, http):
        assert (await whoami(http, signed(key_b, "b"))).status_code == 200
        clock.now += 119
        assert (await whoami(http, signed(key_b, "b"))).status_code == 200
        assert key_server.paths == ["/jwks"]
        clock.now += 1
        assert (await whoami(http, signed(key_b, "b"))).status_code == 200
        assert key_server.paths == ["/jwks", "/jwks"]
    assert "kept 120 s at most" in jwt_events(events)[0].message
    assert jwt_events(events)[1].fields["reason"] == "expired"


async def test_a_failed_refresh_keeps_the_keys(
    jwks_app: Callable[..., Any], key_server: KeyServer, key_b: ECKey
) -> None:
    clock, events = Clock(), list[Event]()
    key_server.serve((key_b, "b"))
    async with jwks_app(f"{key_server.base}/jwks", clock, events) as (_, http):
        assert (await whoami(http, signed(key_b, "b"))).status_code == 200
        key_server.status = 500
        clock.now += 3600  # jwt-jwks-max-age: expired, and the fetch fails
        assert (await whoami(http, signed(key_b, "b"))).status_code == 200
        assert key_server.paths == ["/jwks", "/jwks"]
    failed = jwt_events(events)[-1]
    assert (failed.name, failed.level) == ("jwt.jwks_failed", "warning")
    assert failed.message == (
        f"cannot fetch the JWT key set from {key_server.base}/jwks: {key_server.base}/jwks"
        " answered HTTP 500; the 1 key(s) fetched before stay in use (next try in 30 s at"
        " the earliest)"
    )


async def test_start_fetches_before_the_first_token(
    jwks_app: Callable[..., Any], key_server: KeyServer, key_b: ECKey
) -> None:
    clock, events = Clock(), list[Event]()
    key_server.serve((key_b, "b"))
    async with jwks_app(f"{key_server.base}/jwks", clock, events) as (authenticator, http):
        await authenticator.start()
        assert key_server.paths == ["/jwks"]
        assert (await whoami(http, signed(key_b, "b"))).status_code == 200
        assert key_server.paths == ["/jwks"]
        await authenticator.stop()


async def test_a_server_that_is_down(jwks_app: Callable[..., Any], key_b: ECKey) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/jwks"
    clock, events = Clock(), list[Event]()
    async with jwks_app(url, clock, events) as (_, http):
        # The fetch at start-up failed; anonymous requests are served, tokens are refused
        # at once (the next try waits for min-refresh).
        assert [e.name for e in jwt_events(events)] == ["jwt.jwks_failed"]
        assert (await whoami(http, {})).json() == [{"role": "web_anon"}]
        resp = await whoami(http, signed(key_b, "b"))
        assert (resp.status_code, resp.json()["code"]) == UNAVAILABLE
        assert resp.headers["retry-after"] == "30"
    (failed,) = jwt_events(events)
    assert (failed.name, failed.level) == ("jwt.jwks_failed", "error")
    assert failed.message.startswith(f"cannot fetch the JWT key set from {url}: ConnectError")
    assert failed.message.endswith(
        "; requests with a token are refused until a fetch succeeds"
        " (next try in 30 s at the earliest)"
    )


async def test_a_server_that_hangs(
    jwks_app: Callable[..., Any], key_server: KeyServer, key_b: ECKey
) -> None:
    key_server.hang = True
    clock, events = Clock(), list[Event]()
    url = f"{key_server.base}/jwks"
    started = time.monotonic()
    async with jwks_app(url, clock, events, timeout=0.5) as (_, http):
        # The start-up fetch gave up after its timeout, not after the server's 30 s.
        assert time.monotonic() - started < 25
        resp = await whoami(http, signed(key_b, "b"))
        assert (resp.status_code, resp.json()["code"]) == UNAVAILABLE
        again = await whoami(http, signed(key_b, "b"))  # no second wait before min-refresh
        assert (again.status_code, again.json()["code"]) == UNAVAILABLE
        assert key_server.paths == ["/jwks"]
    (failed,) = jwt_events(events)
    assert failed.fields["error"] == "no answer within 0.5 s"


async def test_the_token_from_a_cookie_or_another_header(app_factory: Any) -> None:
    token = make_token({"role": "web_user"})
    async with app_factory(jwt_header="X-Token", jwt_cookie="session") as (_, http):
        by_header = await whoami(http, {"X-Token": token})
        assert by_header.json() == [{"role": "web_user"}]
        by_bearer_header = await whoami(http, {"x-token": f"Bearer {token}"})
        assert by_bearer_header.json() == [{"role": "web_user"}]
        by_cookie = await whoami(http, {"Cookie": f'theme=dark; session="{token}"'})
        assert by_cookie.json() == [{"role": "web_user"}]
        not_read = await whoami(http, {"Authorization": f"Bearer {token}"})
        assert not_read.json() == [{"role": "web_anon"}]
        bad = await whoami(http, {"Cookie": "session=a.b"})
        assert (bad.status_code, bad.json()["message"]) == (401, "Expected 3 parts in JWT; got 2")
