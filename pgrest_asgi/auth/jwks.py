"""``jwt-secret`` as a URL: a JWKS, or an OpenID Connect discovery document whose ``jwks_uri``
names one, fetched with authlib's HTTP client and cached (extension).

The rules, with the settings that tune them:

* a fetched key set is kept ``jwt-jwks-max-age`` seconds at most, less when the response's
  ``Cache-Control`` says so (``max-age`` minus ``Age``; ``no-cache``/``no-store``: not kept);
* a token that the cached set cannot verify (typically: its ``kid`` is not in the set) fetches
  the set again, which is how a key rotation is picked up before the set expires;
* two fetches never start less than ``jwt-jwks-min-refresh`` seconds apart, whatever caused
  them (the first token, an expired set, an unknown ``kid``, a failed fetch to retry);
* one fetch at a time: every request that needs it waits for that one (single-flight), and
  never longer than the fetch's timeout;
* a failed fetch (network, timeout, an HTTP status other than 200, not JSON, neither a JWKS
  nor a discovery document, no usable key) keeps the set fetched before, if any, and is
  reported to the observer (``jwt.jwks_failed``); a success is ``jwt.jwks_fetched``.

Nothing here knows JOSE: ``jwt.py`` passes the function that turns a JWKS into keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import math
import re
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sized
from typing import Any, Final, Generic, TypeVar
from urllib.parse import urljoin, urlsplit

import msgspec

from .._version import __version__
from ..observe import Event, Level
from ..settings import ConfigError

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_DOCUMENT_BYTES",
    "AuthlibFetch",
    "JwksCache",
    "JwksFetch",
    "cache_lifetime",
    "jwks_url",
]

#: What a fetch answers: the HTTP status, the response headers (names lower-cased) and the body.
JwksAnswer = tuple[int, Mapping[str, str], bytes]
#: GET a URL (``AuthlibFetch`` by default; tests pass their own).
JwksFetch = Callable[[str], Awaitable[JwksAnswer]]

#: Seconds one fetch (with its discovery step) may take in all before it counts as failed.
DEFAULT_TIMEOUT: Final = 5.0
#: A longer document is refused: no JWKS or discovery document comes near it.
MAX_DOCUMENT_BYTES: Final = 1 << 20

K = TypeVar("K", bound=Sized)

_decode_json = msgspec.json.Decoder().decode
_PASSWORD: Final = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#@]*@")


class JwksError(Exception):
    """A fetch failed; the message says why, for the ``jwt.jwks_failed`` event."""


def jwks_url(secret: str | None) -> str | None:
    """The URL ``jwt-secret`` gives (``http://`` or ``https://``), else ``None``.

    Raises ``ConfigError`` for a URL without a host or with a malformed port.
    """
    if secret is None:
        return None
    url = secret.strip()
    if not url.startswith(("https://", "http://")):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        parts = None
    if parts is None or not parts.hostname:
        raise ConfigError(f"jwt-secret: {_redact(url)!r} is not a valid http(s) URL")
    return url


def cache_lifetime(headers: Mapping[str, str], ceiling: float) -> float:
    """Seconds a response may be used, from its ``Cache-Control`` and ``Age`` headers, at most
    ``ceiling``: ``max-age`` minus ``Age``; 0 for ``no-store`` or ``no-cache``; ``ceiling``
    without a (valid) ``max-age``."""
    directives: dict[str, str] = {}
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    max_age = directives.get("max-age", "")
    if not (max_age.isascii() and max_age.isdigit()):
        return ceiling
    age = headers.get("age", "").strip()
    lifetime = int(max_age) - (int(age) if age.isascii() and age.isdigit() else 0)
    return float(max(0.0, min(ceiling, lifetime)))


# ---------------------------------------------------------------------------------------
# the HTTP fetch
# ---------------------------------------------------------------------------------------


@functools.cache
def _oauth2_client_class() -> Any:
    """authlib's ``AsyncOAuth2Client``, imported when the first URL is fetched.

    authlib ≥ 1.8 runs it on ``httpx2`` and falls back to ``httpx`` with a deprecation
    warning at import; the fallback works the same, so that warning is not passed on.
    """
    from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "The httpx module is deprecated", category=AuthlibDeprecationWarning
        )
        from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
            AsyncOAuth2Client,
        )
    return AsyncOAuth2Client


class AuthlibFetch:
    """GET a document with authlib's ``AsyncOAuth2Client`` (no token is sent).

    A client per fetch: fetches are rare, and no client then outlives the event loop it was
    made in. Redirects are followed (5 at most); a body beyond ``MAX_DOCUMENT_BYTES`` fails.
    The proxy and CA settings of the environment apply, as for any httpx client.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout

    async def __call__(self, url: str) -> JwksAnswer:
        client_class = _oauth2_client_class()
        headers = {"Accept": "application/json", "User-Agent": f"pgrest-asgi/{__version__}"}
        async with (
            client_class(
                timeout=self.timeout, follow_redirects=True, max_redirects=5, headers=headers
            ) as client,
            client.stream("GET", url, withhold_token=True) as response,
        ):
            status: int = response.status_code
            answer_headers = {name.lower(): value for name, value in response.headers.items()}
            body = bytearray()
            if status == 200:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise JwksError(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
            return status, answer_headers, bytes(body)


# ---------------------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------------------


class JwksCache(Generic[K]):
    """The key set behind one URL: what it holds now, and when to fetch it again.

    ``keys`` is read on every request with a token (no I/O); ``refresh`` fetches (see the
    module docstring for when it does). ``parse`` turns a JWKS document into keys and raises
    ``ConfigError`` for a key it cannot read. ``monotonic`` is the clock (tests pass theirs).
    """

    def __init__(
        self,
        url: str,
        parse: Callable[[dict[str, Any]], K],
        *,
        max_age: float,
        min_refresh: float,
        fetch: JwksFetch | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        monotonic: Callable[[], float],
        emit: Callable[[Event], None],
    ) -> None:
        self.url = url
        self._parse = parse
        self._fetch: JwksFetch = fetch if fetch is not None else AuthlibFetch(timeout)
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.timeout = timeout
        self._monotonic = monotonic
        self._emit = emit
        #: The key set; ``None`` until a fetch succeeds. Replaced only by a different set.
        self.keys: K | None = None
        #: Why the last fetch failed (``None`` after a success).
        self.last_error: str | None = None
        #: Fetches started (for tests and metrics).
        self.fetches = 0
        self._document: Any = None  # the JWKS ``keys`` member the current set was read from
        self._expires = -math.inf
        self._last_start: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._warned_insecure = False

    def configure(self, *, max_age: float, min_refresh: float) -> None:
        """New timings (a configuration reload); the cached set and its expiry stay."""
        self.max_age = max_age
        self.min_refresh = min_refresh

    # -- the questions a request asks ---------------------------------------------------------
    def stale(self) -> bool:
        """No set yet, or the set has outlived its lifetime."""
        return self.keys is None or self._monotonic() >= self._expires

    def retry_after(self) -> int:
        """Whole seconds until a fetch may start again (0: now)."""
        if self._last_start is None:
            return 0
        return max(0, math.ceil(self._last_start + self.min_refresh - self._monotonic()))

    async def refresh(self, reason: str) -> None:
        """Wait for the fetch in flight, or start one and wait for it — unless the last fetch
        started less than ``min_refresh`` seconds ago: then return at once.

        Never raises for a failed fetch (see ``last_error``); a cancelled waiter leaves the
        fetch running for the others.
        """
        task = self._in_flight()
        if task is None:
            now = self._monotonic()
            if self._last_start is not None and now - self._last_start < self.min_refresh:
                return
            self._last_start = now
            self.fetches += 1
            task = asyncio.get_running_loop().create_task(
                self._run(reason, now), name=f"pgrest_asgi JWKS fetch ({reason})"
            )
            self._task = task
        await asyncio.wait((task,))
        if not task.cancelled():
            task.result()  # only an observer's own exception can be raised here

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Fetch the set now if there is none yet (a failure is reported, not raised)."""
        if self.keys is None:
            await self.refresh("start")

    async def stop(self) -> None:
        """Cancel the fetch in flight, if any, and wait for it to end."""
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self.close()
            return
        self._task = None
        task.cancel()
        await asyncio.wait((task,))

    def close(self) -> None:
        """Cancel the fetch in flight without waiting (the URL changed)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its event loop is closed: it is over
                task.get_loop().call_soon_threadsafe(task.cancel)

    # -- the fetch ----------------------------------------------------------------------------
    def _in_flight(self) -> asyncio.Task[None] | None:
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            return None
        return task

    async def _run(self, reason: str, started: float) -> None:
        fields: dict[str, Any] = {"url": _redact(self.url), "reason": reason}
        try:
            async with asyncio.timeout(self.timeout):
                document, lifetime = await self._download(fields)
            keys = self._parse(document)
            if not len(keys):
                raise JwksError("the key set holds no key that can verify a JWT")
        except TimeoutError:
            self._failed(f"no answer within {self.timeout:g} s", fields)
        except (JwksError, ConfigError) as exc:
            self._failed(str(exc).removeprefix("jwt-secret: "), fields)
        except Exception as exc:  # whatever the HTTP client raises is a failed fetch
            self._failed(_describe(exc), fields)
        else:
            self._succeeded(keys, document, started + lifetime, fields)

    async def _download(self, fields: dict[str, Any]) -> tuple[dict[str, Any], float]:
        url = self.url
        status, headers, body = await self._get(url)
        document = _json_object(url, status, body)
        if "keys" not in document and "kty" not in document:
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri:
                raise JwksError(
                    f"{_redact(url)} answered neither a JWKS (no 'keys') nor an OpenID"
                    " discovery document (no 'jwks_uri')"
                )
            url = urljoin(url, jwks_uri)
            if urlsplit(url).scheme not in ("http", "https"):
                raise JwksError(
                    f"the discovery document's jwks_uri {_redact(url)!r} is not http(s)"
                )
            fields["jwks_uri"] = _redact(url)
            status, headers, body = await self._get(url)
            document = _json_object(url, status, body)
            if "keys" not in document:
                raise JwksError(f"{_redact(url)} (the discovery document's jwks_uri) is no JWKS")
        return document, cache_lifetime(headers, self.max_age)

    async def _get(self, url: str) -> JwksAnswer:
        if not self._warned_insecure and not _secure(url):
            self._warned_insecure = True
            self._emit(
                Event(
                    name="jwt.jwks_insecure",
                    message=(
                        f"the JWT keys are fetched over plain http from {_redact(url)}: whoever"
                        " can alter that traffic can sign tokens for any role; use https"
                    ),
                    level="warning",
                    fields={"url": _redact(url)},
                )
            )
        return await self._fetch(url)

    def _succeeded(
        self, keys: K, document: dict[str, Any], expires: float, fields: dict[str, Any]
    ) -> None:
        members = document.get("keys", [document])
        changed = self.keys is None or members != self._document
        if changed:
            self.keys, self._document = keys, members
        self._expires = expires
        self.last_error = None
        lifetime = max(0.0, expires - self._monotonic())
        kids = [m.get("kid") for m in members if isinstance(m, dict)]
        fields.update(keys=len(keys), kids=kids, max_age=lifetime, changed=changed)
        what = "fetched" if changed else "fetched again (unchanged)"
        self._emit(
            Event(
                name="jwt.jwks_fetched",
                message=(
                    f"JWT key set {what} from {fields.get('jwks_uri', fields['url'])}:"
                    f" {len(keys)} usable key(s), kept {lifetime:g} s at most"
                ),
                level="info" if changed else "debug",
                fields=fields,
            )
        )

    def _failed(self, error: str, fields: dict[str, Any]) -> None:
        self.last_error = error
        if self.keys is not None:
            level: Level = "warning"
            outcome = f"the {len(self.keys)} key(s) fetched before stay in use"
        else:
            level = "error"
            outcome = "requests with a token are refused until a fetch succeeds"
        fields.update(error=error, keys=0 if self.keys is None else len(self.keys))
        self._emit(
            Event(
                name="jwt.jwks_failed",
                message=(
                    f"cannot fetch the JWT key set from {fields['url']}: {error}; {outcome}"
                    f" (next try in {self.min_refresh:g} s at the earliest)"
                ),
                level=level,
                fields=fields,
            )
        )


def _json_object(url: str, status: int, body: bytes) -> dict[str, Any]:
    if status != 200:
        raise JwksError(f"{_redact(url)} answered HTTP {status}")
    try:
        document = _decode_json(body)
    except msgspec.DecodeError:
        raise JwksError(f"{_redact(url)} did not answer JSON") from None
    if not isinstance(document, dict):
        raise JwksError(f"{_redact(url)} did not answer a JSON object")
    return document


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _redact(url: str) -> str:
    """The URL without the password of its user info (it goes to logs and errors)."""
    return _PASSWORD.sub(r"\1:***@", url)


def _secure(url: str) -> bool:
    """https, or http to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
