"""The JWT authenticator: the request's token → verified claims → the database role.

This is the only module that imports joserfc. It uses joserfc for keys (JWK import) and for
the signature primitives of each algorithm, and does the JWS parsing itself, so that every
failure maps onto PostgREST's exact answer (PostgREST decodes with Haskell's ``jose-jwt``):

* not three dot-separated parts: 401 PGRST301 "Expected 3 parts in JWT; got N";
* an undecodable header, payload or signature, an unknown ``alg``, a JWE header:
  "JWT cryptographic operation failed";
* ``alg: none``: "Wrong or unsupported encoding algorithm", details "JWT is unsecured but
  expected 'alg' was not 'none'";
* no configured key fits the header's ``kid``/``alg``: "No suitable key or wrong key type",
  details "No suitable key was found to decode the JWT";
* no fitting key verifies the signature: the same message, details "None of the keys was
  able to decode the JWT";
* the payload is not a JSON object: 401 PGRST303 "Parsing claims failed".

Keys come from ``jwt-secret``: a text secret (HS256 only, as in PostgREST), base64 with
``jwt-secret-is-base64``, a JWK / JWKS (``oct``, ``RSA``, ``EC``, ``OKP``), or (extension) an
``http(s)://`` URL of a JWKS or of an OpenID discovery document, fetched, cached and fetched
again on key rotation (``jwks.py``). The token comes from ``Authorization: Bearer``, or from
the ``jwt-header`` header or the ``jwt-cookie`` cookie (extensions, ``tokens.py``). Supported
algorithms: HS256/384/512, RS256/384/512, ES256/384/512, EdDSA (Ed25519, Ed448) as PostgREST,
plus PS256/384/512, ES256K and the RFC 9864 names Ed25519/Ed448 (extensions).

Verified claims (and verification failures) are cached per raw token in a bounded SIEVE
cache (``jwt-cache-max-entries``); ``exp``/``nbf``/``iat`` are re-checked on every use.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec
from joserfc.jwa import JWS_ALGORITHMS, JWSAlgModel
from joserfc.jwk import JWKRegistry, Key, OctKey

from ..cache import BoundedCache
from ..errors import JwtError
from ..observe import Event, Observer, log_observer
from ..settings import ConfigError, Settings
from .claims import (
    EXPIRED,
    PARSING_CLAIMS_FAILED,
    AuthResult,
    NumericDate,
    RoleClaimPath,
    audience_error,
    numeric_date,
    role_text,
    time_error,
)
from .jwks import DEFAULT_TIMEOUT, JwksCache, JwksFetch, jwks_url
from .tokens import TokenSource, bearer_token

__all__ = ["JwtAuthenticator", "bearer_token"]

EMPTY_JWT: Final = "Empty JWT is sent in Authorization header"
KEY_ERROR: Final = "No suitable key or wrong key type"
NO_SUITABLE_KEY: Final = "No suitable key was found to decode the JWT"
NO_KEY_DECODED: Final = "None of the keys was able to decode the JWT"
BAD_ALGORITHM: Final = "Wrong or unsupported encoding algorithm"
UNSECURED: Final = "JWT is unsecured but expected 'alg' was not 'none'"
BAD_CRYPTO: Final = "JWT cryptographic operation failed"

_decode_json = msgspec.json.Decoder().decode
_encode_json = msgspec.json.Encoder().encode

#: Algorithms per key type (``kty``); only those joserfc implements are kept.
_ALGS_BY_KTY: Final[dict[str, tuple[str, ...]]] = {
    "oct": ("HS256", "HS384", "HS512"),
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512", "ES256K"),
    "OKP": ("EdDSA", "Ed25519", "Ed448"),
}
#: The curve an algorithm needs (EdDSA takes either Edwards curve).
_CURVE: Final[dict[str, tuple[str, ...]]] = {
    "ES256": ("P-256",),
    "ES384": ("P-384",),
    "ES512": ("P-521",),
    "ES256K": ("secp256k1",),
    "EdDSA": ("Ed25519", "Ed448"),
    "Ed25519": ("Ed25519",),
    "Ed448": ("Ed448",),
}
# Each algorithm's verify() is called directly: going through joserfc's registry would
# re-check headers we parse ourselves and warn on every EdDSA token.
_MODELS: Final[dict[str, JWSAlgModel]] = {
    model.name: model
    for model in JWS_ALGORITHMS
    if any(model.name in algs for algs in _ALGS_BY_KTY.values())
}
_KTY_OF_ALG: Final[dict[str, str]] = {
    alg: kty for kty, algs in _ALGS_BY_KTY.items() for alg in algs if alg in _MODELS
}
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*\Z")


# ---------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------


class _Key:
    """One verification key, with what it may verify."""

    __slots__ = ("alg", "curve", "key", "kid", "kty")

    def __init__(
        self, key: Key, kty: str, kid: str | None, alg: str | None, curve: str | None
    ) -> None:
        self.key = key
        self.kty = kty
        self.kid = kid
        self.alg = alg
        self.curve = curve

    def fits(self, alg: str, kid: str | None) -> bool:
        """jose-jwt's ``canDecodeJws``: same ``kid`` (if the token names one), same ``alg``
        (if the key names one) and the right key type."""
        return (
            (kid is None or kid == self.kid)
            and (self.alg is None or self.alg == alg)
            and _KTY_OF_ALG.get(alg) == self.kty
        )

    def verifies(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        curves = _CURVE.get(alg)
        if curves is not None and self.curve not in curves:
            return False
        try:
            return bool(_MODELS[alg].verify(signing_input, signature, self.key))
        except Exception:  # a key that cannot verify this token is simply not the one
            return False


def load_keys(settings: Settings) -> tuple[_Key, ...] | None:
    """The keys ``jwt-secret`` describes; ``None`` when no secret is configured.

    Raises ``ConfigError`` for a secret PostgREST would refuse at start-up.
    """
    secret = settings.jwt_secret
    if secret is None:
        return None
    if not settings.jwt_secret_is_base64 and jwks_url(secret) is not None:
        raise ConfigError("jwt-secret: a URL's keys are fetched, not loaded (see JwksCache)")
    raw = _decode_base64_secret(secret) if settings.jwt_secret_is_base64 else secret.encode()
    stripped = raw.strip()
    if stripped.startswith(b"{"):
        try:
            document = _decode_json(stripped)
        except msgspec.DecodeError:
            document = None
        if isinstance(document, dict) and ("keys" in document or "kty" in document):
            return _load_jwks(document)
    if len(raw) < 32:
        raise ConfigError("jwt-secret: The JWT secret must be at least 32 characters long.")
    try:
        key = OctKey.import_key(raw)
    except ValueError:
        raise ConfigError("jwt-secret: this secret cannot be used as an HMAC key") from None
    # PostgREST turns a text secret into an HS256-only JWK.
    return (_Key(key, "oct", None, "HS256", None),)


def _decode_base64_secret(secret: str) -> bytes:
    text = secret.strip().replace("-", "+").replace("_", "/").replace(".", "=").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("jwt-secret: not valid base64 (jwt-secret-is-base64 is on)") from None


def _load_jwks(document: dict[str, Any]) -> tuple[_Key, ...]:
    entries = document.get("keys", [document])
    if not isinstance(entries, list):
        raise ConfigError("jwt-secret: the JWKS 'keys' member must be an array")
    keys: list[_Key] = []
    for index, jwk in enumerate(entries):
        if not isinstance(jwk, dict):
            raise ConfigError(f"jwt-secret: JWKS key {index} is not a JSON object")
        kty, kid, alg, use = jwk.get("kty"), jwk.get("kid"), jwk.get("alg"), jwk.get("use")
        if not isinstance(kid, str | None):
            raise ConfigError(f"jwt-secret: JWKS key {index} has a non-string 'kid'")
        # Like jose-jwt, keys no JWS can use are ignored rather than refused.
        if kty not in _ALGS_BY_KTY or use == "enc":
            continue
        if alg is not None and (alg not in _KTY_OF_ALG or _KTY_OF_ALG[alg] != kty):
            continue
        curve = jwk.get("crv")
        if kty == "OKP" and curve not in ("Ed25519", "Ed448"):
            continue  # X25519/X448 are key-agreement keys
        try:
            key = JWKRegistry.import_key(jwk)
        except Exception:
            raise ConfigError(f"jwt-secret: JWKS key {index} is not a valid {kty} key") from None
        keys.append(_Key(key, kty, kid, alg, curve if isinstance(curve, str) else None))
    return tuple(keys)


# ---------------------------------------------------------------------------------------
# token decoding
# ---------------------------------------------------------------------------------------


def _b64url(segment: str) -> bytes:
    """Unpadded base64url, strictly (padding or foreign characters fail)."""
    if len(segment) % 4 == 1 or _B64URL.match(segment) is None:
        raise ValueError("bad base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_token(keys: tuple[_Key, ...], token: str) -> dict[str, Any]:
    """Verify ``token`` with ``keys``; return its claims. Raises ``JwtError`` only."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError.decode(f"Expected 3 parts in JWT; got {len(parts)}")
    header_b64, payload_b64, signature_b64 = parts
    try:
        header = _decode_json(_b64url(header_b64))
    except (ValueError, msgspec.DecodeError):
        raise JwtError.decode(BAD_CRYPTO) from None
    if not isinstance(header, dict):
        raise JwtError.decode(BAD_CRYPTO)
    alg = header.get("alg")
    if alg == "none":
        try:
            _b64url(payload_b64)
        except ValueError:
            raise JwtError.decode(BAD_CRYPTO) from None
        raise JwtError.decode(BAD_ALGORITHM, UNSECURED)
    kid = header.get("kid")
    if (
        "enc" in header  # a JWE header; a JWE never has three parts
        or not isinstance(alg, str)
        or alg not in _MODELS
        or not isinstance(kid, str | None)
        or not isinstance(header.get("typ"), str | None)
        or not isinstance(header.get("cty"), str | None)
    ):
        raise JwtError.decode(BAD_CRYPTO)
    try:
        payload = _b64url(payload_b64)
        signature = _b64url(signature_b64)
    except ValueError:
        raise JwtError.decode(BAD_CRYPTO) from None

    candidates = [key for key in keys if key.fits(alg, kid)]
    if not candidates:
        raise JwtError.decode(KEY_ERROR, NO_SUITABLE_KEY)
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    if not any(key.verifies(alg, signing_input, signature) for key in candidates):
        raise JwtError.decode(KEY_ERROR, NO_KEY_DECODED)

    try:
        claims = _decode_json(payload)
    except msgspec.DecodeError:
        raise JwtError.claims(PARSING_CLAIMS_FAILED) from None
    if not isinstance(claims, dict):
        raise JwtError.claims(PARSING_CLAIMS_FAILED)
    return claims


# ---------------------------------------------------------------------------------------
# the verification cache
# ---------------------------------------------------------------------------------------


class _Entry:
    """A verified token: its result and what must be re-checked on every use."""

    __slots__ = ("exp", "iat", "nbf", "result", "static_error")

    def __init__(
        self,
        result: AuthResult | None,
        exp: NumericDate,
        nbf: NumericDate,
        iat: NumericDate,
        static_error: Callable[[], JwtError] | None,
    ) -> None:
        self.result = result
        self.exp, self.nbf, self.iat = exp, nbf, iat
        #: A failure that does not depend on the time (``aud``, anonymous access disabled).
        self.static_error = static_error


class _Failure:
    """A token that failed verification; raising re-creates the error (never shared)."""

    __slots__ = ("code", "details", "message")

    def __init__(self, error: JwtError) -> None:
        self.code = error.code
        self.message = error.message
        self.details: str | None = error.details

    def error(self) -> JwtError:
        if self.code == "PGRST303":
            return JwtError.claims(self.message)
        return JwtError.decode(self.message, self.details)

    @property
    def key_miss(self) -> bool:
        """No key of the set verified the token: a newer key set may (key rotation)."""
        return self.message == KEY_ERROR and self.code == "PGRST301"


_Keys = tuple[_Key, ...]


class _Verified:
    """A key set and the tokens verified with it: a new set starts an empty cache, so no
    answer given with a previous set (a key since removed) outlives it."""

    __slots__ = ("cache", "keys")

    def __init__(self, keys: _Keys, capacity: int) -> None:
        self.keys = keys
        self.cache = BoundedCache[str, _Entry | _Failure](capacity) if capacity > 0 else None


# ---------------------------------------------------------------------------------------
# the authenticator
# ---------------------------------------------------------------------------------------


class JwtAuthenticator:
    """PostgREST's authentication: no token → ``db-anon-role``; a Bearer JWT → its role.

    Raises ``JwtError`` (PGRST300-303) exactly where PostgREST answers one. With
    ``jwt-secret`` an ``http(s)://`` URL the keys are fetched (``auth/jwks.py``): then
    ``authenticate`` may wait for a fetch, ``authenticate_sync`` never does (it uses the keys
    at hand), and the app's start-up and shutdown call ``start``/``stop``.

    For tests: ``clock`` (seconds since the epoch: ``exp``, ``nbf``, ``iat``), ``monotonic``
    (the JWKS cache's clock), ``jwks_fetch`` (GET a URL; authlib's client by default) and
    ``jwks_timeout`` (seconds one fetch may take in all).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        jwks_fetch: JwksFetch | None = None,
        jwks_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._jwks_fetch = jwks_fetch
        self._jwks_timeout = jwks_timeout
        #: Built with settings of its own: ``bind`` does not replace them.
        self._own_settings = settings is not None
        self._observer: Observer = log_observer
        self._jwks: JwksCache[_Keys] | None = None
        self._configure(settings or Settings())

    def bind(self, settings: Settings, observer: Observer | None = None) -> None:
        """Take the app's observer, and its settings unless built with its own.

        Called again with new settings (a configuration reload), it reconfigures: the new
        secret or URL, role claim key, audience… apply to the next request. A JWKS URL that
        did not change keeps its cached key set.
        """
        if observer is not None:
            self._observer = observer
        if not self._own_settings and settings is not self.settings:
            self._configure(settings)

    def _configure(self, settings: Settings) -> None:
        # Everything is read first: a refused setting leaves the previous configuration whole.
        path = RoleClaimPath(settings.jwt_role_claim_key)
        source = TokenSource(settings.jwt_header, settings.jwt_cookie)
        url = None if settings.jwt_secret_is_base64 else jwks_url(settings.jwt_secret)
        keys = None if url is not None else load_keys(settings)
        anon_role = settings.db_anon_role
        anonymous = None if anon_role is None else _result({}, anon_role, anon_role)
        capacity = settings.jwt_cache_max_entries

        old = self._jwks
        jwks: JwksCache[_Keys] | None = None
        if url is not None and old is not None and old.url == url:
            jwks = old
            jwks.configure(
                max_age=settings.jwt_jwks_max_age, min_refresh=settings.jwt_jwks_min_refresh
            )
        elif url is not None:
            jwks = JwksCache(
                url,
                _load_jwks,
                max_age=settings.jwt_jwks_max_age,
                min_refresh=settings.jwt_jwks_min_refresh,
                fetch=self._jwks_fetch,
                timeout=self._jwks_timeout,
                monotonic=self._monotonic,
                emit=self._emit,
            )
        if old is not None and old is not jwks:
            old.close()

        self.settings = settings
        self._path = path
        self._token = source
        self._aud = settings.jwt_aud
        self._anon_role = anon_role
        self._anonymous = anonymous
        self._capacity = capacity
        self._jwks = jwks
        self._verified = None if keys is None else _Verified(keys, capacity)

    def _emit(self, event: Event) -> None:
        self._observer(event)

    @property
    def role_claim_path(self) -> RoleClaimPath:
        return self._path

    def cache_stats(self) -> dict[str, int]:
        """Counters for metrics: ``size``, ``hits``, ``misses``, ``evictions`` (of the
        current key set: a new set fetched from a JWKS URL starts them again)."""
        verified = self._verified
        cache = None if verified is None else verified.cache
        if cache is None:
            return {"size": 0, "hits": 0, "misses": 0, "evictions": 0}
        return {
            "size": len(cache),
            "hits": cache.hits,
            "misses": cache.misses,
            "evictions": cache.evictions,
        }

    # -- lifecycle (a JWKS URL only) ----------------------------------------------------------
    async def start(self) -> None:
        """With a JWKS URL, fetch the key set now rather than on the first token (a failure
        is reported to the observer, not raised: tokens then wait for a later fetch).
        Without one, nothing."""
        if self._jwks is not None:
            await self._jwks.start()

    async def stop(self) -> None:
        """Cancel a JWKS fetch in flight, if any."""
        if self._jwks is not None:
            await self._jwks.stop()

    # -- authentication -----------------------------------------------------------------------
    async def authenticate(
        self, scope: Mapping[str, Any], headers: Mapping[str, str]
    ) -> AuthResult:
        """``headers``: lower-cased names → values.

        ``authenticate_sync``, except that with a JWKS URL a request with a token may first
        wait for a fetch (no key set yet, an expired one, or a token the set cannot verify).
        A request without a token never waits.
        """
        jwks = self._jwks
        if jwks is None:
            return self.authenticate_sync(headers)
        token = self._token(headers)
        if token is None:
            return self._no_token()
        if not token:
            raise JwtError.decode(EMPTY_JWT)
        if jwks.stale():
            await jwks.refresh("expired" if jwks.keys is not None else "first token")
        verified = self._current(jwks)
        entry = self._entry(verified, token)
        if isinstance(entry, _Failure) and entry.key_miss:
            await jwks.refresh("unknown key")
            if jwks.keys is not verified.keys:
                verified = self._current(jwks)
                entry = self._entry(verified, token)
        return self._check(verified, token, entry)

    def authenticate_sync(self, headers: Mapping[str, str]) -> AuthResult:
        """The answer with the keys at hand: no I/O, ever."""
        token = self._token(headers)
        if token is None:
            return self._no_token()
        jwks = self._jwks
        verified = self._verified
        if jwks is None and verified is None:
            raise JwtError.no_secret()
        if not token:
            raise JwtError.decode(EMPTY_JWT)
        if jwks is not None:
            verified = self._current(jwks)
        assert verified is not None
        return self._check(verified, token, self._entry(verified, token))

    def _no_token(self) -> AuthResult:
        if self._anonymous is None:
            raise JwtError.anonymous_disabled()
        return self._anonymous

    def _current(self, jwks: JwksCache[_Keys]) -> _Verified:
        """The fetched key set with its verification cache; raises while there is none."""
        keys = jwks.keys
        if keys is None:
            raise _keys_unavailable(jwks)
        verified = self._verified
        if verified is None or verified.keys is not keys:
            verified = self._verified = _Verified(keys, self._capacity)
        return verified

    def _entry(self, verified: _Verified, token: str) -> _Entry | _Failure:
        cache = verified.cache
        entry = cache.get(token) if cache is not None else None
        if entry is None:
            entry = self._verify(verified.keys, token)
            if cache is not None:
                cache.put(token, entry)
        return entry

    def _check(self, verified: _Verified, token: str, entry: _Entry | _Failure) -> AuthResult:
        if isinstance(entry, _Failure):
            raise entry.error()
        message = (
            time_error(entry.exp, entry.nbf, entry.iat, int(self._clock()))
            if entry.exp is not None or entry.nbf is not None or entry.iat is not None
            else None
        )
        if message is not None:
            if verified.cache is not None and message == EXPIRED:
                verified.cache.discard(token)  # it can never become valid again
            raise JwtError.claims(message)
        if entry.static_error is not None:
            raise entry.static_error()
        assert entry.result is not None
        return entry.result

    def _verify(self, keys: _Keys, token: str) -> _Entry | _Failure:
        try:
            claims = decode_token(keys, token)
        except JwtError as exc:
            return _Failure(exc)
        exp = numeric_date(claims, "exp")
        nbf = numeric_date(claims, "nbf")
        iat = numeric_date(claims, "iat")
        aud_message = audience_error(claims, self._aud)
        if aud_message is not None:
            return _Entry(None, exp, nbf, iat, lambda: JwtError.claims(aud_message))
        found, value = self._path.first(claims)
        if found:
            role = role_text(value)
        elif self._anon_role is not None:
            role = self._anon_role
        else:
            return _Entry(None, exp, nbf, iat, JwtError.anonymous_disabled)
        return _Entry(_result(claims, role, self._anon_role), exp, nbf, iat, None)


def _result(claims: dict[str, Any], role: str, anon_role: str | None) -> AuthResult:
    claims = dict(claims)
    claims["role"] = role
    return AuthResult(
        role=role,
        claims_json=_encode_json(claims).decode("utf-8"),
        anonymous=role == anon_role,
        claims=claims,
    )


def _keys_unavailable(jwks: JwksCache[_Keys]) -> JwtError:
    """A token arrived while no key set could be fetched from the JWKS URL yet: 503 with the
    reason and ``Retry-After`` (the next fetch may succeed)."""
    return JwtError.keys_unavailable(jwks.last_error, jwks.retry_after())
