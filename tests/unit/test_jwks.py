"""``jwt-secret`` as a JWKS URL, without a network: the fetch and the clock are fakes.

Covers the cache (``jwt-jwks-max-age``, ``Cache-Control``), the refresh on an unknown ``kid``
(``jwt-jwks-min-refresh``), single-flight, what a failed fetch keeps, the OpenID discovery
step, the lifecycle (``start``/``stop``) and reconfiguration through ``bind``. Concurrency is
driven with events and asyncio's FIFO scheduling, never with sleeps.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from pgrest_asgi.auth import JwtAuthenticator
from pgrest_asgi.auth.jwks import JwksCache, cache_lifetime, jwks_url
from pgrest_asgi.errors import JwtError
from pgrest_asgi.observe import Event
from pgrest_asgi.settings import ConfigError, Settings

URL = "https://idp.example/jwks.json"
DISCOVERY = "https://idp.example/.well-known/openid-configuration"
KEY_ERROR = "No suitable key or wrong key type"
NO_SUITABLE = "No suitable key was found to decode the JWT"
#: What a token gets while no key set could be fetched: today errors.py's closest error,
#: PGRST300 (500); 503 once ``JwtError.keys_unavailable`` exists (see jwt._keys_unavailable).
UNAVAILABLE = ("PGRST300", 503)

Answer = tuple[int, Mapping[str, str], bytes]


# -- helpers -------------------------------------------------------------------------------


class Clock:
    """The JWKS cache's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """A fake fetch: each URL answers what ``routes`` says now; every call is recorded.

    ``hold`` makes the next fetches wait until it is set (``entered`` is set when one waits).
    """

    def __init__(self) -> None:
        self.routes: dict[str, Answer | BaseException | Callable[[], Awaitable[Answer]]] = {}
        self.calls: list[str] = []
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    def serve(self, url: str, document: Any, status: int = 200, **headers: str) -> None:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        names = {name.replace("_", "-").lower(): value for name, value in headers.items()}
        self.routes[url] = (status, names, body)

    async def __call__(self, url: str) -> Answer:
        self.calls.append(url)
        if self.hold is not None:
            self.entered.set()
            await self.hold.wait()
        route = self.routes.get(url)
        if route is None:
            return 404, {}, b"not found"
        if isinstance(route, BaseException):
            raise route
        if callable(route):
            return await route()
        return route


def jwk(key: ECKey, kid: str, **extra: Any) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig", **extra}


def token(key: ECKey, kid: str | None, role: str = "alice") -> str:
    header = {"alg": "ES256", **({"kid": kid} if kid is not None else {})}
    return jwt.encode(header, {"role": role}, key)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


@pytest.fixture(scope="module")
def key_a() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture(scope="module")
def key_b() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def events() -> list[Event]:
    return []


def make(
    server: Server,
    clock: Clock,
    events: list[Event] | None = None,
    *,
    timeout: float = 5.0,
    **settings: Any,
) -> JwtAuthenticator:
    settings.setdefault("jwt_secret", URL)
    settings.setdefault("db_anon_role", "anon")
    auth = JwtAuthenticator(monotonic=clock, jwks_fetch=server, jwks_timeout=timeout)
    auth.bind(Settings(**settings), events.append if events is not None else lambda _: None)
    return auth


async def role(auth: JwtAuthenticator, headers: dict[str, str]) -> str:
    return (await auth.authenticate({"type": "http"}, headers)).role


async def refused(auth: JwtAuthenticator, headers: dict[str, str]) -> JwtError:
    with pytest.raises(JwtError) as info:
        await auth.authenticate({"type": "http"}, headers)
    return info.value


def names(events: list[Event]) -> list[str]:
    return [event.name for event in events]


# -- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 3600.0),
        ({"cache-control": "public, max-age=300"}, 300.0),
        ({"cache-control": "max-age=300", "age": "100"}, 200.0),
        ({"cache-control": "max-age=300", "age": "400"}, 0.0),
        ({"cache-control": "max-age=99999"}, 3600.0),  # never beyond jwt-jwks-max-age
        ({"cache-control": 'max-age="60"'}, 60.0),
        ({"cache-control": "MAX-AGE=60"}, 60.0),
        ({"cache-control": "no-cache"}, 0.0),
        ({"cache-control": "no-store, max-age=600"}, 0.0),
        ({"cache-control": "max-age=soon"}, 3600.0),  # invalid: ignored
        ({"cache-control": "max-age=²"}, 3600.0),
        ({"cache-control": "max-age=-5"}, 3600.0),
        ({"cache-control": "s-maxage=10"}, 3600.0),  # for shared caches, not for us
    ],
)
def test_cache_lifetime(headers: dict[str, str], expected: float) -> None:
    assert cache_lifetime(headers, 3600.0) == expected


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (None, None),
        ("reallyreallyreallyreallyverysafe-and-long", None),
        ('{"keys": []}', None),
        (" https://idp.example/jwks ", "https://idp.example/jwks"),
        (
            "http://127.0.0.1:8080/.well-known/openid-configuration",
            "http://127.0.0.1:8080/.well-known/openid-configuration",
        ),
    ],
)
def test_jwks_url(secret: str | None, expected: str | None) -> None:
    assert jwks_url(secret) == expected


@pytest.mark.parametrize(
    "secret", ["https://", "https:///jwks", "http://idp.example:port/jwks", "http://[::1/jwks"]
)
def test_a_malformed_url_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(ConfigError, match=r"jwt-secret: .* is not a valid http"):
        jwks_url(secret)
    with pytest.raises(ConfigError, match="jwt-secret"):
        JwtAuthenticator(Settings(jwt_secret=secret))


def test_the_password_of_a_url_stays_out_of_errors() -> None:
    with pytest.raises(ConfigError) as info:
        jwks_url("https://user:s3cret@idp.example:port/jwks")
    assert "s3cret" not in str(info.value)
    assert "user:***@" in str(info.value)


# -- fetching and caching ------------------------------------------------------------------------


async def test_the_first_token_fetches_and_later_ones_use_the_cache(
    server: Server, clock: Clock, events: list[Event], key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, events)
    assert server.calls == []  # nothing is fetched before a token needs it
    assert await role(auth, {}) == "anon"  # nor for an anonymous request
    assert server.calls == []
    assert await role(auth, bearer(token(key_a, "a"))) == "alice"
    assert await role(auth, bearer(token(key_a, "a", "bob"))) == "bob"
    assert server.calls == [URL]
    assert names(events) == ["jwt.jwks_fetched"]
    fetched = events[0]
    assert fetched.level == "info"
    assert fetched.message == (
        f"JWT key set fetched from {URL}: 1 usable key(s), kept 3600 s at most"
    )
    assert fetched.fields["kids"] == ["a"]
    assert fetched.fields["reason"] == "first token"


async def test_the_set_is_kept_max_age_seconds(server: Server, clock: Clock, key_a: ECKey) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, jwt_jwks_max_age=100)
    good = bearer(token(key_a, "a"))
    await role(auth, good)
    clock.now += 99.5
    await role(auth, good)
    assert len(server.calls) == 1
    clock.now += 0.5
    await role(auth, good)
    assert len(server.calls) == 2


async def test_cache_control_max_age_shortens_the_lifetime(
    server: Server, clock: Clock, key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]}, cache_control="max-age=45", age="5")
    auth = make(server, clock, jwt_jwks_max_age=3600, jwt_jwks_min_refresh=1)
    good = bearer(token(key_a, "a"))
    await role(auth, good)
    clock.now += 39
    await role(auth, good)
    assert len(server.calls) == 1
    clock.now += 1
    await role(auth, good)
    assert len(server.calls) == 2


async def test_no_store_refetches_at_most_every_min_refresh(
    server: Server, clock: Clock, key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]}, cache_control="no-store")
    auth = make(server, clock, jwt_jwks_min_refresh=30)
    good = bearer(token(key_a, "a"))
    for _ in range(3):
        assert await role(auth, good) == "alice"  # the stale set is used meanwhile
    assert len(server.calls) == 1
    clock.now += 30
    await role(auth, good)
    assert len(server.calls) == 2


async def test_an_unchanged_set_keeps_the_verification_cache(
    server: Server, clock: Clock, events: list[Event], key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, events, jwt_jwks_max_age=10, jwt_jwks_min_refresh=1)
    good = bearer(token(key_a, "a"))
    await role(auth, good)
    clock.now += 10
    await role(auth, good)
    assert len(server.calls) == 2
    assert auth.cache_stats()["hits"] == 1  # the second answer came from the cache
    assert [e.level for e in events] == ["info", "debug"]
    assert events[1].message.startswith("JWT key set fetched again (unchanged) from")


# -- key rotation --------------------------------------------------------------------------------


async def test_an_unknown_kid_fetches_again_no_sooner_than_min_refresh(
    server: Server, clock: Clock, events: list[Event], key_a: ECKey, key_b: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, events, jwt_jwks_min_refresh=30)
    assert await role(auth, bearer(token(key_a, "a"))) == "alice"
    server.serve(URL, {"keys": [jwk(key_a, "a"), jwk(key_b, "b")]})
    signed_b = bearer(token(key_b, "b", "bob"))
    err = await refused(auth, signed_b)  # the set was fetched less than 30 s ago
    assert (err.code, err.message, err.details) == ("PGRST301", KEY_ERROR, NO_SUITABLE)
    clock.now += 29
    await refused(auth, signed_b)
    assert len(server.calls) == 1
    clock.now += 1
    assert await role(auth, signed_b) == "bob"
    assert len(server.calls) == 2
    assert events[-1].fields["reason"] == "unknown key"
    assert await role(auth, bearer(token(key_a, "a"))) == "alice"  # both keys now


async def test_a_removed_key_is_refused_once_the_set_is_fetched_again(
    server: Server, clock: Clock, key_a: ECKey, key_b: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a"), jwk(key_b, "b")]})
    auth = make(server, clock, jwt_jwks_min_refresh=30)
    signed_a = bearer(token(key_a, "a"))
    assert await role(auth, signed_a) == "alice"  # verified and cached
    server.serve(URL, {"keys": [jwk(key_b, "b")]})
    key_c = ECKey.generate_key("P-256")
    clock.now += 30
    await refused(auth, bearer(token(key_c, "c")))  # unknown: fetched again, still unknown
    assert len(server.calls) == 2
    err = await refused(auth, signed_a)  # the cached answer went with the old set
    assert (err.code, err.message, err.details) == ("PGRST301", KEY_ERROR, NO_SUITABLE)
    assert len(server.calls) == 2  # min-refresh holds: no third fetch for it
    assert await role(auth, bearer(token(key_b, "b", "bob"))) == "bob"


async def test_a_token_without_kid_that_no_key_verifies_also_refreshes(
    server: Server, clock: Clock, key_a: ECKey, key_b: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, jwt_jwks_min_refresh=5)
    await role(auth, bearer(token(key_a, None)))
    server.serve(URL, {"keys": [jwk(key_b, "b")]})
    clock.now += 5
    assert await role(auth, bearer(token(key_b, None, "bob"))) == "bob"
    assert len(server.calls) == 2


async def test_a_failure_that_is_not_about_keys_does_not_fetch(
    server: Server, clock: Clock, key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, jwt_jwks_min_refresh=1, jwt_aud="api")
    await role(auth, bearer(token(key_a, "a")))
    clock.now += 10
    await refused(auth, bearer("not.a.jwt"))
    wrong_aud = jwt.encode({"alg": "ES256", "kid": "a"}, {"role": "x", "aud": "web"}, key_a)
    err = await refused(auth, bearer(wrong_aud))
    assert err.message == "JWT not in audience"
    assert len(server.calls) == 1


# -- single-flight -------------------------------------------------------------------------------


async def test_concurrent_requests_share_one_fetch(
    server: Server, clock: Clock, key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    server.hold = asyncio.Event()
    auth = make(server, clock)
    requests = [
        asyncio.create_task(role(auth, bearer(token(key_a, "a", f"user{i}")))) for i in range(8)
    ]
    # The tasks run in creation order: the first starts the fetch, the others join it, and
    # only then does the fetch itself run and wait on ``hold``.
    await server.entered.wait()
    assert not any(task.done() for task in requests)
    server.hold.set()
    assert await asyncio.gather(*requests) == [f"user{i}" for i in range(8)]
    assert server.calls == [URL]


async def test_anonymous_requests_never_wait_for_a_fetch(
    server: Server, clock: Clock, key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    server.hold = asyncio.Event()
    auth = make(server, clock)
    waiting = asyncio.create_task(role(auth, bearer(token(key_a, "a"))))
    await server.entered.wait()
    assert await role(auth, {}) == "anon"
    assert await role(auth, {"authorization": "Basic dXNlcjpwYXNz"}) == "anon"
    err = await refused(auth, {"authorization": "Bearer "})  # an empty token waits neither
    assert err.message == "Empty JWT is sent in Authorization header"
    assert not waiting.done()
    server.hold.set()
    assert await waiting == "alice"


async def test_a_token_the_cached_set_verifies_does_not_wait_for_a_refresh(
    server: Server, clock: Clock, key_a: ECKey, key_b: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, jwt_jwks_min_refresh=1)
    await role(auth, bearer(token(key_a, "a")))
    server.serve(URL, {"keys": [jwk(key_a, "a"), jwk(key_b, "b")]})
    server.hold = asyncio.Event()
    clock.now += 1
    unknown = asyncio.create_task(role(auth, bearer(token(key_b, "b", "bob"))))
    await server.entered.wait()  # a refresh for kid "b" is in flight
    assert await role(auth, bearer(token(key_a, "a", "carol"))) == "carol"
    server.hold.set()
    assert await unknown == "bob"


async def test_a_cancelled_request_leaves_the_fetch_to_the_others(
    server: Server, clock: Clock, key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    server.hold = asyncio.Event()
    auth = make(server, clock)
    first = asyncio.create_task(role(auth, bearer(token(key_a, "a", "first"))))
    second = asyncio.create_task(role(auth, bearer(token(key_a, "a", "second"))))
    await server.entered.wait()
    first.cancel()  # e.g. its client disconnected
    with pytest.raises(asyncio.CancelledError):
        await first
    server.hold.set()
    assert await second == "second"
    assert server.calls == [URL]


# -- failures ------------------------------------------------------------------------------------


async def test_without_any_key_set_a_token_is_refused_and_retried_after_min_refresh(
    server: Server, clock: Clock, events: list[Event], key_a: ECKey
) -> None:
    server.serve(URL, {"error": "down"}, status=503)
    auth = make(server, clock, events, jwt_jwks_min_refresh=30)
    good = bearer(token(key_a, "a"))
    err = await refused(auth, good)
    assert (err.code, err.status) == UNAVAILABLE
    assert names(events) == ["jwt.jwks_failed"]
    failed = events[0]
    assert failed.level == "error"
    assert failed.message == (
        f"cannot fetch the JWT key set from {URL}: {URL} answered HTTP 503; requests with a"
        " token are refused until a fetch succeeds (next try in 30 s at the earliest)"
    )
    clock.now += 29
    await refused(auth, good)  # refused at once, no new fetch
    assert len(server.calls) == 1
    assert await role(auth, {}) == "anon"
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    clock.now += 1
    assert await role(auth, good) == "alice"
    assert len(server.calls) == 2


async def test_a_failed_refresh_keeps_the_previous_set(
    server: Server, clock: Clock, events: list[Event], key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, events, jwt_jwks_max_age=60, jwt_jwks_min_refresh=30)
    good = bearer(token(key_a, "a"))
    await role(auth, good)
    server.routes[URL] = OSError("connection refused")
    clock.now += 60
    assert await role(auth, good) == "alice"  # expired, the fetch failed: the old set stays
    assert names(events) == ["jwt.jwks_fetched", "jwt.jwks_failed"]
    assert events[1].level == "warning"
    assert events[1].message == (
        f"cannot fetch the JWT key set from {URL}: OSError: connection refused; the 1 key(s)"
        " fetched before stay in use (next try in 30 s at the earliest)"
    )
    clock.now += 29
    assert await role(auth, good) == "alice"
    assert len(server.calls) == 2
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    clock.now += 1
    assert await role(auth, good) == "alice"
    assert len(server.calls) == 3
    assert names(events)[-1] == "jwt.jwks_fetched"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((404, b"nope"), f"{URL} answered HTTP 404"),
        ((200, b"<html>"), f"{URL} did not answer JSON"),
        ((200, b"[1, 2]"), f"{URL} did not answer a JSON object"),
        (
            (200, b'{"issuer": "x"}'),
            f"{URL} answered neither a JWKS (no 'keys') nor an OpenID discovery document"
            " (no 'jwks_uri')",
        ),
        ((200, b'{"keys": {}}'), "the JWKS 'keys' member must be an array"),
        ((200, b'{"keys": []}'), "the key set holds no key that can verify a JWT"),
        (
            (200, b'{"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}'),
            "the key set holds no key that can verify a JWT",
        ),
        ((200, b'{"keys": [{"kty": "EC", "crv": "P-256"}]}'), "JWKS key 0 is not a valid EC key"),
    ],
)
async def test_what_a_failed_fetch_reports(
    server: Server, clock: Clock, events: list[Event], answer: tuple[int, bytes], error: str
) -> None:
    server.routes[URL] = (answer[0], {}, answer[1])
    auth = make(server, clock, events)
    err = await refused(auth, bearer("a.b.c"))
    assert (err.code, err.status) == UNAVAILABLE
    assert [event.fields["error"] for event in events] == [error]


async def test_a_hung_fetch_fails_after_the_timeout(
    server: Server, clock: Clock, events: list[Event], key_a: ECKey
) -> None:
    never = asyncio.Event()

    async def hang() -> Answer:
        await never.wait()
        raise AssertionError("unreachable")

    server.routes[URL] = hang
    auth = make(server, clock, events, timeout=0.05)
    err = await refused(auth, bearer(token(key_a, "a")))
    assert (err.code, err.status) == UNAVAILABLE
    assert events[0].fields["error"] == "no answer within 0.05 s"


async def test_authenticate_sync_never_fetches(server: Server, clock: Clock, key_a: ECKey) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock)
    good = bearer(token(key_a, "a"))
    with pytest.raises(JwtError) as info:
        auth.authenticate_sync(good)
    assert (info.value.code, info.value.status) == UNAVAILABLE
    assert auth.authenticate_sync({}).role == "anon"
    assert server.calls == []
    await auth.start()
    assert auth.authenticate_sync(good).role == "alice"
    clock.now += 10_000  # long expired: still no I/O here, the set at hand is used
    assert auth.authenticate_sync(good).role == "alice"
    assert server.calls == [URL]


# -- the OpenID discovery document ----------------------------------------------------------------


async def test_a_discovery_document_leads_to_its_jwks(
    server: Server, clock: Clock, events: list[Event], key_a: ECKey
) -> None:
    server.serve(DISCOVERY, {"issuer": "https://idp.example", "jwks_uri": "/keys"})
    server.serve(
        "https://idp.example/keys", {"keys": [jwk(key_a, "a")]}, cache_control="max-age=60"
    )
    auth = make(server, clock, events, jwt_secret=DISCOVERY, jwt_jwks_min_refresh=1)
    assert await role(auth, bearer(token(key_a, "a"))) == "alice"
    assert server.calls == [DISCOVERY, "https://idp.example/keys"]
    assert events[0].fields["jwks_uri"] == "https://idp.example/keys"
    assert "from https://idp.example/keys: 1 usable key(s), kept 60 s" in events[0].message
    clock.now += 60  # the JWKS response's max-age; the discovery step is made again too
    await role(auth, bearer(token(key_a, "a")))
    assert len(server.calls) == 4


async def test_a_discovery_document_whose_jwks_uri_is_no_jwks(
    server: Server, clock: Clock, events: list[Event]
) -> None:
    server.serve(DISCOVERY, {"jwks_uri": "https://idp.example/keys"})
    server.serve("https://idp.example/keys", {"jwks_uri": DISCOVERY})  # no loop either
    auth = make(server, clock, events, jwt_secret=DISCOVERY)
    await refused(auth, bearer("a.b.c"))
    assert server.calls == [DISCOVERY, "https://idp.example/keys"]
    assert events[0].fields["error"] == (
        "https://idp.example/keys (the discovery document's jwks_uri) is no JWKS"
    )


async def test_a_jwks_uri_that_is_not_http_is_refused(
    server: Server, clock: Clock, events: list[Event]
) -> None:
    server.serve(DISCOVERY, {"jwks_uri": "file:///etc/passwd"})
    auth = make(server, clock, events, jwt_secret=DISCOVERY)
    await refused(auth, bearer("a.b.c"))
    assert server.calls == [DISCOVERY]
    assert "is not http(s)" in events[0].fields["error"]


# -- lifecycle and reconfiguration ----------------------------------------------------------------


async def test_start_fetches_and_stop_cancels_a_fetch_in_flight(
    server: Server, clock: Clock, key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock)
    await auth.start()
    assert server.calls == [URL]
    await auth.start()  # a set is there: nothing to do
    assert server.calls == [URL]
    assert auth.authenticate_sync(bearer(token(key_a, "a"))).role == "alice"

    fetcher = Server()
    fetcher.hold = asyncio.Event()
    other = make(fetcher, clock)
    starting = asyncio.create_task(other.start())
    await fetcher.entered.wait()
    await other.stop()
    await starting  # the waiter returns: the cancelled fetch is simply no set
    with pytest.raises(JwtError):
        other.authenticate_sync(bearer(token(key_a, "a")))


async def test_start_and_stop_without_a_url_do_nothing() -> None:
    auth = JwtAuthenticator(Settings(jwt_secret="reallyreallyreallyreallyverysafe-and-long"))
    await auth.start()
    await auth.stop()


async def test_bind_takes_every_settings_object_unless_built_with_its_own(
    server: Server, clock: Clock, key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, jwt_role_claim_key="$.role")
    good = bearer(token(key_a, "a"))
    assert await role(auth, good) == "alice"
    auth.bind(Settings(jwt_secret=URL, db_anon_role="anon", jwt_role_claim_key="$.sub"))
    assert await role(auth, good) == "anon"  # no "sub" claim: the anonymous role
    assert server.calls == [URL]  # the same URL keeps its key set

    own = JwtAuthenticator(Settings(db_anon_role="mine"))
    own.bind(Settings(db_anon_role="theirs"))
    assert own.authenticate_sync({}).role == "mine"


async def test_bind_to_a_new_url_fetches_from_it(
    server: Server, clock: Clock, key_a: ECKey, key_b: ECKey
) -> None:
    other = "https://other.example/jwks"
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    server.serve(other, {"keys": [jwk(key_b, "b")]})
    auth = make(server, clock)
    assert await role(auth, bearer(token(key_a, "a"))) == "alice"
    auth.bind(Settings(jwt_secret=other, db_anon_role="anon"))
    assert await role(auth, bearer(token(key_b, "b", "bob"))) == "bob"
    assert server.calls == [URL, other]
    secret = "reallyreallyreallyreallyverysafe-and-long"
    auth.bind(Settings(jwt_secret=secret, db_anon_role="anon"))
    err = await refused(auth, bearer(token(key_b, "b")))
    assert err.message == KEY_ERROR
    assert server.calls == [URL, other]


async def test_a_refused_reload_keeps_the_configuration(
    server: Server, clock: Clock, key_a: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock)
    with pytest.raises(ConfigError):
        auth.bind(Settings(jwt_secret=URL, jwt_role_claim_key="$[", db_anon_role="x"))
    assert auth.settings.jwt_role_claim_key == "$.role"
    assert await role(auth, bearer(token(key_a, "a"))) == "alice"


async def test_new_timings_apply_to_the_cached_set(
    server: Server, clock: Clock, key_a: ECKey, key_b: ECKey
) -> None:
    server.serve(URL, {"keys": [jwk(key_a, "a")]})
    auth = make(server, clock, jwt_jwks_min_refresh=300)
    await role(auth, bearer(token(key_a, "a")))
    auth.bind(Settings(jwt_secret=URL, db_anon_role="anon", jwt_jwks_min_refresh=5))
    server.serve(URL, {"keys": [jwk(key_b, "b")]})
    clock.now += 5
    assert await role(auth, bearer(token(key_b, "b", "bob"))) == "bob"


# -- the cache object itself ----------------------------------------------------------------------


async def test_retry_after_counts_down_to_the_next_allowed_fetch(clock: Clock) -> None:
    server = Server()
    cache = JwksCache(
        URL,
        lambda document: tuple(document["keys"]),
        max_age=60,
        min_refresh=30,
        fetch=server,
        monotonic=clock,
        emit=lambda _: None,
    )
    assert cache.retry_after() == 0
    await cache.refresh("test")
    assert cache.keys is None
    assert cache.last_error == f"{URL} answered HTTP 404"
    assert cache.retry_after() == 30
    clock.now += 12.5
    assert cache.retry_after() == 18
    clock.now += 20
    assert cache.retry_after() == 0


async def test_an_observer_error_reaches_the_waiters(clock: Clock) -> None:
    server = Server()
    server.serve(URL, {"keys": [1]})

    def broken(event: Event) -> None:
        raise RuntimeError("observer bug")

    cache = JwksCache(
        URL,
        lambda document: tuple(document["keys"]),
        max_age=60,
        min_refresh=30,
        fetch=server,
        monotonic=clock,
        emit=broken,
    )
    with pytest.raises(RuntimeError, match="observer bug"):
        await cache.refresh("test")
    assert cache.keys == (1,)


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://keys.example/jwks", True),
        ("http://127.0.0.1:9/jwks", False),
        ("http://localhost/jwks", False),
        ("http://[::1]/jwks", False),
        ("https://keys.example/jwks", False),
    ],
)
async def test_plain_http_beyond_this_machine_is_warned_about(
    clock: Clock, events: list[Event], url: str, warned: bool
) -> None:
    server = Server()
    server.serve(url, {"keys": [1]})
    cache = JwksCache(
        url,
        lambda document: tuple(document["keys"]),
        max_age=60,
        min_refresh=0.001,
        fetch=server,
        monotonic=clock,
        emit=events.append,
    )
    await cache.refresh("test")
    clock.now += 1
    await cache.refresh("test")
    insecure = [e for e in events if e.name == "jwt.jwks_insecure"]
    assert len(insecure) == (1 if warned else 0)  # once, not on every fetch
    assert len(server.calls) == 2


async def test_a_password_in_the_url_stays_out_of_events(clock: Clock, events: list[Event]) -> None:
    url = "https://user:s3cret@idp.example/jwks"
    server = Server()
    cache = JwksCache(
        url,
        lambda document: tuple(document["keys"]),
        max_age=60,
        min_refresh=30,
        fetch=server,
        monotonic=clock,
        emit=events.append,
    )
    await cache.refresh("test")
    assert server.calls == [url]
    (event,) = events
    assert "s3cret" not in event.message
    assert "s3cret" not in json.dumps(event.fields)
    assert "https://user:***@idp.example/jwks" in event.message
