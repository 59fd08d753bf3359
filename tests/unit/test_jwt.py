"""The JWT authenticator: PostgREST's exact answers, every algorithm family, the cache."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
from joserfc.jwa import JWS_ALGORITHMS
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

from pgrest_asgi.auth import AuthResult, JwtAuthenticator, RoleClaimPath
from pgrest_asgi.auth import jwt as jwt_module
from pgrest_asgi.auth.claims import audience_error, numeric_date, time_error
from pgrest_asgi.auth.tokens import cookie_value
from pgrest_asgi.errors import JwtError
from pgrest_asgi.settings import ConfigError, Settings
from tests.conftest import strict_loads

SECRET = "reallyreallyreallyreallyverysafe-and-long"
NOW = 1_700_000_000
MODELS = {model.name: model for model in JWS_ALGORITHMS}

EMPTY = "Empty JWT is sent in Authorization header"
KEY_ERROR = "No suitable key or wrong key type"
NO_SUITABLE = "No suitable key was found to decode the JWT"
NONE_DECODED = "None of the keys was able to decode the JWT"
BAD_ALG = "Wrong or unsupported encoding algorithm"
UNSECURED = "JWT is unsecured but expected 'alg' was not 'none'"
BAD_CRYPTO = "JWT cryptographic operation failed"


# -- helpers -------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: Any, key: Key | None, alg: str = "HS256", **header: Any) -> str:
    """A compact JWS; the payload is ``claims`` as JSON (or raw bytes)."""
    head = b64(json.dumps({"alg": alg, "typ": "JWT", **header}).encode())
    payload = b64(claims if isinstance(claims, bytes) else json.dumps(claims).encode())
    signing_input = f"{head}.{payload}".encode()
    signature = b"" if key is None else MODELS[alg].sign(signing_input, key)
    return f"{head}.{payload}.{b64(signature)}"


def hs256(claims: Any, secret: str = SECRET, **header: Any) -> str:
    return sign(claims, OctKey.import_key(secret.encode()), "HS256", **header)


def make(clock: Clock | None = None, **settings: Any) -> JwtAuthenticator:
    settings.setdefault("jwt_secret", SECRET)
    settings.setdefault("db_anon_role", "anon")
    return JwtAuthenticator(Settings(**settings), clock=clock or Clock())


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def fails(
    auth: JwtAuthenticator,
    headers: dict[str, str],
    code: str,
    message: str,
    details: str | None = None,
) -> JwtError:
    """Assert the exact PostgREST error: status, code, message, details, hint, headers."""
    with pytest.raises(JwtError) as info:
        auth.authenticate_sync(headers)
    err = info.value
    assert (err.code, err.message, err.details, err.hint) == (code, message, details, None)
    if code == "PGRST300":
        assert err.status == 500
        assert err.headers == []
    elif code == "PGRST302":
        assert err.status == 401
        assert err.headers == [("WWW-Authenticate", "Bearer")]
    else:
        assert err.status == 401
        challenge = f'Bearer error="invalid_token", error_description="{message}"'
        assert err.headers == [("WWW-Authenticate", challenge)]
    return err


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


def jwks(*keys: Key, **params: Any) -> str:
    return json.dumps({"keys": [{**k.as_dict(private=False), **params} for k in keys]})


# -- the Authorization header and anonymous access -----------------------------------------


def test_no_authorization_header_is_the_anonymous_role() -> None:
    result = make().authenticate_sync({})
    assert result == AuthResult(
        role="anon", claims_json='{"role":"anon"}', anonymous=True, claims={"role": "anon"}
    )


@pytest.mark.parametrize(
    "value", ["Basic dXNlcjpwYXNz", "Token abc.def.ghi", "Bearerabc.def.ghi", "Digest x"]
)
def test_other_schemes_are_anonymous(value: str) -> None:
    assert make().authenticate_sync({"authorization": value}).role == "anon"


def test_anonymous_works_without_a_secret() -> None:
    assert make(jwt_secret=None).authenticate_sync({}).role == "anon"


@pytest.mark.parametrize("headers", [{}, {"authorization": "Basic dXNlcjpwYXNz"}])
def test_no_anonymous_role_is_pgrst302(headers: dict[str, str]) -> None:
    fails(make(db_anon_role=None), headers, "PGRST302", "Anonymous access is disabled")


@pytest.mark.parametrize("value", ["Bearer ", "Bearer", "bearer    ", "BEARER\t"])
def test_empty_bearer_token(value: str) -> None:
    fails(make(), {"authorization": value}, "PGRST301", EMPTY)


@pytest.mark.parametrize("value", ["Bearer a.b.c", "Bearer "])
def test_a_token_without_a_secret_is_pgrst300(value: str) -> None:
    fails(make(jwt_secret=None), {"authorization": value}, "PGRST300", "Server lacks JWT secret")


@pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", "BEARER ", "Bearer\t", "bEaReR   "])
def test_the_scheme_is_case_insensitive(scheme: str) -> None:
    token = hs256({"role": "alice"})
    assert make().authenticate_sync({"authorization": scheme + token}).role == "alice"


# -- the token from a cookie or another header (extensions) ---------------------------------


@pytest.mark.parametrize(
    "cookie",
    [
        "session={token}",
        "theme=dark; session={token}; lang=en",
        'session="{token}"',
        "a=1;session={token}",
        "  session = {token} ",
        "broken; session={token}",
        "session={token}; session=second-is-ignored",
    ],
)
def test_the_token_from_a_cookie(cookie: str) -> None:
    auth = make(jwt_cookie="session")
    token = hs256({"role": "alice"})
    assert auth.authenticate_sync({"cookie": cookie.format(token=token)}).role == "alice"


@pytest.mark.parametrize(
    "cookie", ["theme=dark", "Session=x.y.z", "sessions=x.y.z", "session=", 'session=""', ""]
)
def test_no_such_cookie_or_an_empty_one_is_anonymous(cookie: str) -> None:
    assert make(jwt_cookie="session").authenticate_sync({"cookie": cookie}).role == "anon"


def test_the_authorization_header_wins_over_the_cookie() -> None:
    auth = make(jwt_cookie="session")
    header = hs256({"role": "from-header"})
    cookie = f"session={hs256({'role': 'from-cookie'})}"
    assert auth.authenticate_sync({**bearer(header), "cookie": cookie}).role == "from-header"
    # A scheme other than Bearer carries no token: the cookie's is used.
    basic = {"authorization": "Basic dXNlcjpwYXNz", "cookie": cookie}
    assert auth.authenticate_sync(basic).role == "from-cookie"
    # An empty Bearer token is still PostgREST's error.
    fails(auth, {"authorization": "Bearer ", "cookie": cookie}, "PGRST301", EMPTY)


def test_a_bad_cookie_token_fails_like_a_header_token() -> None:
    auth = make(jwt_cookie="session")
    fails(auth, {"cookie": "session=a.b"}, "PGRST301", "Expected 3 parts in JWT; got 2")
    fails(
        make(jwt_cookie="session", jwt_secret=None),
        {"cookie": "session=a.b.c"},
        "PGRST300",
        "Server lacks JWT secret",
    )


def test_cookie_values_are_unquoted_like_http_cookies() -> None:
    for quoted in ['"a\\"b"', '"x\\012y"', '"plain"', '"a b"', '""']:
        expected = SimpleCookie(f"k={quoted}")["k"].value
        assert cookie_value(f"k={quoted}", "k") == expected
    assert cookie_value('k="unterminated', "k") == '"unterminated'
    assert cookie_value("k=a=b", "k") == "a=b"
    assert cookie_value("novalue; k=v", "k") == "v"
    assert cookie_value("k", "k") is None
    # RFC 6265: ";" separates cookies, even inside quotes (no browser sends it in a value).
    assert cookie_value('k="a;b"', "k") == '"a'


@pytest.mark.parametrize("value", ["{token}", "Bearer {token}", "bearer   {token}", " {token} "])
def test_the_token_from_another_header(value: str) -> None:
    auth = make(jwt_header="X-Api-Token")
    token = hs256({"role": "alice"})
    assert auth.authenticate_sync({"x-api-token": value.format(token=token)}).role == "alice"


def test_with_another_header_authorization_is_not_read() -> None:
    auth = make(jwt_header="X-Api-Token")
    assert auth.authenticate_sync(bearer(hs256({"role": "alice"}))).role == "anon"
    assert auth.authenticate_sync(bearer("garbage")).role == "anon"
    fails(auth, {"x-api-token": ""}, "PGRST301", EMPTY)
    fails(auth, {"x-api-token": "Bearer"}, "PGRST301", EMPTY)
    fails(auth, {"x-api-token": "Basic abc"}, "PGRST301", "Expected 3 parts in JWT; got 1")


def test_another_header_falls_back_to_the_cookie() -> None:
    auth = make(jwt_header="X-Api-Token", jwt_cookie="session")
    cookie = {"cookie": f"session={hs256({'role': 'from-cookie'})}"}
    assert auth.authenticate_sync(cookie).role == "from-cookie"
    header = {"x-api-token": hs256({"role": "from-header"})}
    assert auth.authenticate_sync({**header, **cookie}).role == "from-header"


# -- bind: the app's settings, each time -------------------------------------------------------


def test_bind_reconfigures_an_authenticator_built_without_settings() -> None:
    events: list[Any] = []
    auth = JwtAuthenticator()
    auth.bind(Settings(jwt_secret=SECRET, db_anon_role="anon"), events.append)
    token = hs256({"role": "alice"})
    assert auth.authenticate_sync(bearer(token)).role == "alice"
    other = "another-secret-of-at-least-32-characters"
    auth.bind(Settings(jwt_secret=other, db_anon_role="web"))
    assert auth.authenticate_sync({}).role == "web"
    fails(auth, bearer(token), "PGRST301", KEY_ERROR, NONE_DECODED)  # not from the old cache
    assert auth.authenticate_sync(bearer(hs256({"role": "bob"}, secret=other))).role == "bob"


def test_bind_keeps_the_settings_an_authenticator_was_built_with() -> None:
    auth = make()
    auth.bind(Settings(jwt_secret=None, db_anon_role="other"))
    assert auth.authenticate_sync({}).role == "anon"
    assert auth.authenticate_sync(bearer(hs256({"role": "alice"}))).role == "alice"


# -- decode errors (PGRST301) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "parts"), [("abc", 1), ("a.b", 2), ("a.b.c.d", 4), ("a.b.c.d.e", 5), ("..", 3)]
)
def test_wrong_number_of_parts(token: str, parts: int) -> None:
    if parts == 3:
        fails(make(), bearer(token), "PGRST301", BAD_CRYPTO)
    else:
        fails(make(), bearer(token), "PGRST301", f"Expected 3 parts in JWT; got {parts}")


def _segments(header: Any, payload: bytes = b"{}", signature: str = "c2ln") -> str:
    head = header if isinstance(header, str) else b64(json.dumps(header).encode())
    return f"{head}.{b64(payload)}.{signature}"


@pytest.mark.parametrize(
    "token",
    [
        "xyz.abc.def",  # header is not JSON
        "!!!.abc.def",  # not base64url
        _segments(b64(b"[1,2]")),  # header not an object
        _segments(b64(b'{"alg":"HS256"}') + "="),  # padding is not base64url
        _segments({"typ": "JWT"}),  # no alg
        _segments({"alg": "HS999"}),  # unknown alg
        _segments({"alg": 256}),
        _segments({"alg": "RSA-OAEP", "enc": "A128GCM"}),  # a JWE header
        _segments({"alg": "HS256", "kid": 7}),
        _segments({"alg": "HS256", "typ": 1}),
        _segments({"alg": "HS256"}, signature="a+b/"),  # standard alphabet in signature
        _segments({"alg": "HS256"}, signature="abcde"),  # impossible length
        _segments({"alg": "HS256"}).replace(".e30.", ".e30=."),  # padded payload
        _segments({"alg": "HS256"}, signature="sïg"),
    ],
)
def test_undecodable_tokens(token: str) -> None:
    fails(make(), bearer(token), "PGRST301", BAD_CRYPTO)


def test_alg_none_is_refused() -> None:
    token = sign({"role": "admin"}, None, "none")
    fails(make(), bearer(token), "PGRST301", BAD_ALG, UNSECURED)
    # also without a signature segment content, or with a bogus one
    head, payload, _ = token.split(".")
    fails(make(), bearer(f"{head}.{payload}.AAAA"), "PGRST301", BAD_ALG, UNSECURED)


def test_alg_none_with_an_undecodable_payload() -> None:
    head = b64(b'{"alg":"none"}')
    fails(make(), bearer(f"{head}.!!.x"), "PGRST301", BAD_CRYPTO)


def test_wrong_hmac_secret() -> None:
    token = hs256({"role": "alice"}, secret="another-secret-of-at-least-32-characters")
    fails(make(), bearer(token), "PGRST301", KEY_ERROR, NONE_DECODED)


def test_tampered_payload() -> None:
    head, _, sig = hs256({"role": "alice"}).split(".")
    token = f"{head}.{b64(json.dumps({'role': 'postgres'}).encode())}.{sig}"
    fails(make(), bearer(token), "PGRST301", KEY_ERROR, NONE_DECODED)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_a_text_secret_is_hs256_only(alg: str) -> None:
    token = sign({"role": "alice"}, OctKey.import_key(SECRET.encode()), alg)
    fails(make(), bearer(token), "PGRST301", KEY_ERROR, NO_SUITABLE)


def test_asymmetric_token_against_a_text_secret(rsa_key: RSAKey) -> None:
    token = sign({"role": "alice"}, rsa_key, "RS256")
    fails(make(), bearer(token), "PGRST301", KEY_ERROR, NO_SUITABLE)


def test_payload_not_an_object_is_pgrst303() -> None:
    key = OctKey.import_key(SECRET.encode())
    for payload in (b"[1, 2]", b'"role"', b"not json", b"\xff\xfe"):
        token = sign(payload, key)
        fails(make(), bearer(token), "PGRST303", "Parsing claims failed")


def test_joserfc_texts_never_leak(rsa_key: RSAKey) -> None:
    # an RSA public key in an oct slot, a JWE alg on an RSA key... every message is ours
    auth = make(jwt_secret=jwks(rsa_key))
    for token in (
        sign({"role": "a"}, OctKey.import_key(SECRET.encode()), "HS256"),
        _segments({"alg": "RSA1_5"}),
        _segments({"alg": "RS256"}, signature=""),
    ):
        with pytest.raises(JwtError) as info:
            auth.authenticate_sync(bearer(token))
        assert info.value.message in (KEY_ERROR, BAD_CRYPTO)


# -- algorithms and keys --------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_algorithms_with_an_oct_jwk(alg: str) -> None:
    key = OctKey.generate_key(512)
    token = sign({"role": "alice"}, key, alg)
    auth = make(jwt_secret=json.dumps(key.as_dict(private=True)))
    assert auth.authenticate_sync(bearer(token)).role == "alice"


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_rsa_algorithms(alg: str, rsa_key: RSAKey) -> None:
    token = sign({"role": "alice"}, rsa_key, alg)
    single = make(jwt_secret=json.dumps(rsa_key.as_dict(private=False)))
    assert single.authenticate_sync(bearer(token)).role == "alice"
    assert make(jwt_secret=jwks(rsa_key)).authenticate_sync(bearer(token)).role == "alice"


def test_rsa_private_jwk_verifies_too(rsa_key: RSAKey) -> None:
    token = sign({"role": "alice"}, rsa_key, "RS256")
    auth = make(jwt_secret=json.dumps(rsa_key.as_dict(private=True)))
    assert auth.authenticate_sync(bearer(token)).role == "alice"


@pytest.mark.parametrize(
    ("alg", "curve"),
    [("ES256", "P-256"), ("ES384", "P-384"), ("ES512", "P-521"), ("ES256K", "secp256k1")],
)
def test_ec_algorithms(alg: str, curve: str) -> None:
    key = ECKey.generate_key(curve)
    token = sign({"role": "alice"}, key, alg)
    assert make(jwt_secret=jwks(key)).authenticate_sync(bearer(token)).role == "alice"


def test_ec_key_of_the_wrong_curve() -> None:
    p384 = ECKey.generate_key("P-384")
    token = sign({"role": "alice"}, ECKey.generate_key("P-256"), "ES256")
    fails(make(jwt_secret=jwks(p384)), bearer(token), "PGRST301", KEY_ERROR, NONE_DECODED)


@pytest.mark.parametrize(
    ("alg", "curve"), [("EdDSA", "Ed25519"), ("EdDSA", "Ed448"), ("Ed25519", "Ed25519")]
)
def test_eddsa(alg: str, curve: str) -> None:
    key = OKPKey.generate_key(curve)  # type: ignore[arg-type]
    token = sign({"role": "alice"}, key, alg)
    assert make(jwt_secret=jwks(key)).authenticate_sync(bearer(token)).role == "alice"


def test_jwks_without_kid_tries_every_key(rsa_key: RSAKey, other_rsa_key: RSAKey) -> None:
    ec = ECKey.generate_key("P-256")
    auth = make(jwt_secret=jwks(other_rsa_key, ec, rsa_key))
    assert auth.authenticate_sync(bearer(sign({"role": "r"}, rsa_key, "RS256"))).role == "r"
    assert auth.authenticate_sync(bearer(sign({"role": "e"}, ec, "ES256"))).role == "e"
    stranger = RSAKey.generate_key(2048)
    token = sign({"role": "x"}, stranger, "RS256")
    fails(auth, bearer(token), "PGRST301", KEY_ERROR, NONE_DECODED)


def test_jwks_with_kid(rsa_key: RSAKey, other_rsa_key: RSAKey) -> None:
    secret = json.dumps(
        {
            "keys": [
                {**other_rsa_key.as_dict(private=False), "kid": "one"},
                {**rsa_key.as_dict(private=False), "kid": "two"},
            ]
        }
    )
    auth = make(jwt_secret=secret)
    good = sign({"role": "alice"}, rsa_key, "RS256", kid="two")
    assert auth.authenticate_sync(bearer(good)).role == "alice"
    # the kid picks the key: a token signed by key "two" but naming "one" fails
    mislabelled = sign({"role": "alice"}, rsa_key, "RS256", kid="one")
    fails(auth, bearer(mislabelled), "PGRST301", KEY_ERROR, NONE_DECODED)
    unknown = sign({"role": "alice"}, rsa_key, "RS256", kid="three")
    fails(auth, bearer(unknown), "PGRST301", KEY_ERROR, NO_SUITABLE)
    # without a kid every key is tried
    assert auth.authenticate_sync(bearer(sign({"role": "b"}, rsa_key, "RS256"))).role == "b"


def test_a_kid_never_matches_keys_without_one(rsa_key: RSAKey) -> None:
    token = sign({"role": "alice"}, rsa_key, "RS256", kid="k1")
    fails(make(jwt_secret=jwks(rsa_key)), bearer(token), "PGRST301", KEY_ERROR, NO_SUITABLE)


def test_a_kid_never_matches_a_text_secret() -> None:
    # PostgREST's text secret is a JWK without a kid: a token naming one finds no key
    token = hs256({"role": "alice"}, kid="k1")
    fails(make(), bearer(token), "PGRST301", KEY_ERROR, NO_SUITABLE)


def test_a_jwk_alg_restricts_the_key(rsa_key: RSAKey) -> None:
    auth = make(jwt_secret=jwks(rsa_key, alg="RS256"))
    assert auth.authenticate_sync(bearer(sign({"role": "a"}, rsa_key, "RS256"))).role == "a"
    token = sign({"role": "a"}, rsa_key, "RS512")
    fails(auth, bearer(token), "PGRST301", KEY_ERROR, NO_SUITABLE)


def test_encryption_keys_are_ignored(rsa_key: RSAKey) -> None:
    auth = make(jwt_secret=jwks(rsa_key, use="enc"))
    token = sign({"role": "a"}, rsa_key, "RS256")
    fails(auth, bearer(token), "PGRST301", KEY_ERROR, NO_SUITABLE)


def test_jwks_skips_key_types_it_cannot_use(rsa_key: RSAKey) -> None:
    x25519 = OKPKey.generate_key("X25519")
    secret = json.dumps(
        {
            "keys": [
                {"kty": "unknown"},
                x25519.as_dict(private=False),
                rsa_key.as_dict(private=False),
            ]
        }
    )
    auth = make(jwt_secret=secret)
    assert auth.authenticate_sync(bearer(sign({"role": "a"}, rsa_key, "RS256"))).role == "a"


def test_an_empty_jwks_fails_every_token() -> None:
    auth = make(jwt_secret='{"keys": []}')
    fails(auth, bearer(hs256({"role": "a"})), "PGRST301", KEY_ERROR, NO_SUITABLE)


@pytest.mark.parametrize(
    "secret",
    [
        '{"kty": "RSA", "n": "AQAB"}',
        '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA"}]}',
        '{"keys": {"kty": "oct"}}',
        '{"keys": ["x"]}',
        '{"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "kid": 1}]}',
    ],
)
def test_invalid_jwk_is_a_config_error(secret: str) -> None:
    with pytest.raises(ConfigError):
        make(jwt_secret=secret)


def test_json_without_kty_or_keys_is_a_text_secret() -> None:
    secret = '{"not": "a key, just a long secret"}'
    token = hs256({"role": "alice"}, secret=secret)
    assert make(jwt_secret=secret).authenticate_sync(bearer(token)).role == "alice"


def test_base64_secret_standard_and_urlsafe() -> None:
    raw = bytes(range(200, 248))  # not valid UTF-8: only usable through base64
    key = OctKey.import_key(raw)
    token = sign({"role": "alice"}, key, "HS256")
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert "+" in standard or "/" in standard
    for secret in (standard, urlsafe, f"  {standard}\n"):
        auth = make(jwt_secret=secret, jwt_secret_is_base64=True)
        assert auth.authenticate_sync(bearer(token)).role == "alice"
    fails(make(), bearer(token), "PGRST301", KEY_ERROR, NONE_DECODED)


def test_base64_secret_errors() -> None:
    with pytest.raises(ConfigError, match="base64"):
        make(jwt_secret="not base64 at all!", jwt_secret_is_base64=True)
    short = base64.b64encode(b"x" * 31).decode()
    with pytest.raises(ConfigError, match="at least 32 characters"):
        make(jwt_secret=short, jwt_secret_is_base64=True)


def test_base64_jwk_secret(rsa_key: RSAKey) -> None:
    secret = base64.b64encode(jwks(rsa_key).encode()).decode()
    auth = make(jwt_secret=secret, jwt_secret_is_base64=True)
    assert auth.authenticate_sync(bearer(sign({"role": "a"}, rsa_key, "RS256"))).role == "a"


# -- claims validation (PGRST303) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": NOW - 31}, "JWT expired"),
        ({"nbf": NOW + 31}, "JWT not yet valid"),
        ({"iat": NOW + 31}, "JWT issued at future"),
        ({"exp": "tomorrow"}, "The JWT 'exp' claim must be a number"),
        ({"nbf": "soon"}, "The JWT 'nbf' claim must be a number"),
        ({"iat": [1]}, "The JWT 'iat' claim must be a number"),
        ({"exp": True}, "The JWT 'exp' claim must be a number"),
        # the first failing claim wins: exp, nbf, iat, aud
        ({"exp": NOW - 100, "nbf": "x", "aud": 5}, "JWT expired"),
        ({"nbf": NOW + 100, "iat": "x"}, "JWT not yet valid"),
        ({"iat": NOW + 100, "aud": 5}, "JWT issued at future"),
        (
            {"exp": NOW + 100, "aud": 5},
            "The JWT 'aud' claim must be a string or an array of strings",
        ),
    ],
)
def test_claim_errors(claims: dict[str, Any], message: str) -> None:
    fails(make(), bearer(hs256({"role": "a", **claims})), "PGRST303", message)


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": NOW - 30},  # 30 s of skew
        {"nbf": NOW + 30},
        {"iat": NOW + 30},
        {"exp": NOW + 3600.75, "nbf": NOW - 0.5, "iat": NOW},
        {"exp": None, "nbf": None, "iat": None},
    ],
)
def test_claims_within_the_skew_pass(claims: dict[str, Any]) -> None:
    assert make().authenticate_sync(bearer(hs256({"role": "a", **claims}))).role == "a"


@pytest.mark.parametrize(
    ("aud", "ok"),
    [
        ("api", True),
        (["web", "api"], True),
        ([], True),
        (None, True),
        ("web", False),
        (["web"], False),
    ],
)
def test_audience(aud: Any, ok: bool) -> None:
    auth = make(jwt_aud="api")
    token = hs256({"role": "a", "aud": aud})
    if ok:
        assert auth.authenticate_sync(bearer(token)).role == "a"
    else:
        fails(auth, bearer(token), "PGRST303", "JWT not in audience")


def test_missing_aud_passes_when_jwt_aud_is_set() -> None:
    assert make(jwt_aud="api").authenticate_sync(bearer(hs256({"role": "a"}))).role == "a"


@pytest.mark.parametrize("aud", [5, ["api", 5], {"a": 1}, True])
@pytest.mark.parametrize("jwt_aud", ["api", None])
def test_aud_must_be_a_string_or_array_of_strings(aud: Any, jwt_aud: str | None) -> None:
    token = hs256({"role": "a", "aud": aud})
    message = "The JWT 'aud' claim must be a string or an array of strings"
    fails(make(jwt_aud=jwt_aud), bearer(token), "PGRST303", message)


def test_any_aud_passes_without_jwt_aud() -> None:
    token = hs256({"role": "a", "aud": ["x", "y"]})
    assert make().authenticate_sync(bearer(token)).role == "a"


def test_claim_helpers() -> None:
    assert numeric_date({"exp": 5.9}, "exp") == 5
    assert numeric_date({}, "exp") is None
    assert time_error(None, None, None, NOW) is None
    assert time_error(NOW - 31, NOW + 31, None, NOW) == "JWT expired"
    assert audience_error({"aud": "x"}, None) is None


# -- the role --------------------------------------------------------------------------------


def test_role_and_claims_json() -> None:
    token = hs256({"role": "alice", "sub": "42", "exp": NOW + 60})
    result = make().authenticate_sync(bearer(token))
    assert result.role == "alice"
    assert result.anonymous is False
    assert strict_loads(result.claims_json) == {
        "role": "alice",
        "sub": "42",
        "exp": NOW + 60,
    }
    assert result.claims == {"role": "alice", "sub": "42", "exp": NOW + 60}


def test_a_token_without_a_role_claim_runs_as_anon() -> None:
    result = make().authenticate_sync(bearer(hs256({"sub": "42"})))
    assert (result.role, result.anonymous) == ("anon", True)
    assert strict_loads(result.claims_json) == {"sub": "42", "role": "anon"}


def test_a_token_with_the_anon_role_is_anonymous() -> None:
    assert make().authenticate_sync(bearer(hs256({"role": "anon"}))).anonymous is True


def test_no_role_claim_and_no_anon_role_is_pgrst302() -> None:
    fails(
        make(db_anon_role=None),
        bearer(hs256({"sub": "1"})),
        "PGRST302",
        "Anonymous access is disabled",
    )


def test_claim_errors_come_before_the_missing_role() -> None:
    token = hs256({"exp": NOW - 100})
    fails(make(db_anon_role=None), bearer(token), "PGRST303", "JWT expired")


@pytest.mark.parametrize(
    ("value", "role"),
    [
        (5, "5"),
        (2.5, "2.5"),
        (True, "true"),
        (None, "null"),
        (["a"], '["a"]'),
        ({"x": 1}, '{"x":1}'),
    ],
)
def test_non_string_roles_are_json_encoded(value: Any, role: str) -> None:
    result = make().authenticate_sync(bearer(hs256({"role": value})))
    assert result.role == role
    assert strict_loads(result.claims_json)["role"] == role


CLAIMS = {
    "role": "top",
    "app": {"roles": ["reader", "admin", "writer"], "role": "nested"},
    "https://example.com/role": "uri",
    "key with space": "spaced",
    "x-y": "dashed",
    "groups": [{"name": "a", "role": "ga"}, {"name": "b", "role": "gb"}],
}


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("$.role", "top"),
        ("$.app.role", "nested"),
        ("$.app.roles[0]", "reader"),
        ("$.app.roles[-1]", "writer"),
        ("$['https://example.com/role']", "uri"),
        ('$["key with space"]', "spaced"),
        ('$."x-y"', "dashed"),
        ("$.app.roles[?@ == 'admin']", "admin"),
        ("$.app.roles[?(@ != 'reader')]", "admin"),
        ("$.app.roles[?search(@, '^wr')]", "anon"),  # ^ is a literal in I-Regexp
        ("$.app.roles[?match(@, 'wr.*')]", "writer"),
        ("$.groups[?@.name == 'b'].role", "gb"),
        ("$..roles[1]", "admin"),
        ("$.app.roles[1:]", "admin"),
        ("$.app.roles[::-1]", "writer"),
        ("$.app.roles[*]", "reader"),
        ("$.app['missing', 'role']", "nested"),
        (".app.roles[1]", "admin"),  # PostgREST's deprecated DSL
        ('."https://example.com/role"', "uri"),
        ('.app.roles[?(@ ^== "wri")]', "writer"),
        ('.app.roles[?(@ ==^ "min")]', "admin"),
        ('.app.roles[?(@ *== "ead")]', "reader"),
        ('.app.roles[?(@ != "reader")]', "admin"),
        ('.app.roles[?(@ == "writer")]', "writer"),
        ("$.nope", "anon"),
        ("$.app.roles[7]", "anon"),
        ("$.role.deeper", "anon"),
    ],
)
def test_role_claim_paths(path: str, role: str) -> None:
    result = make(jwt_role_claim_key=path).authenticate_sync(bearer(hs256(CLAIMS)))
    assert result.role == role
    assert strict_loads(result.claims_json)["role"] == role


@pytest.mark.parametrize(
    "path",
    [
        "role",
        "$.",
        "$[",
        "$.a[01]",
        "$.a[?@ == ]",
        "$.a[?foo(@)]",
        "$.a[?length(@)]",  # a value function is not a test
        "$.a[?@.* == 1]",  # comparisons need singular queries
        ".a.[0]",
        '.a[?(@ == "x")].b',  # the deprecated filter must come last
        "$['unterminated]",
        "",
    ],
)
def test_invalid_role_claim_paths_fail_at_init(path: str) -> None:
    with pytest.raises(ValueError, match="jwt-role-claim-key"):
        make(jwt_role_claim_key=path)


def test_deeply_nested_claims_under_a_descendant_segment() -> None:
    deep: Any = "r"
    for _ in range(5000):
        deep = [deep]
    assert RoleClaimPath("$..x").first({"a": deep}) == (False, None)


def test_role_claim_path_api() -> None:
    path = RoleClaimPath("$.app.roles[*]")
    assert path.find(CLAIMS) == ["reader", "admin", "writer"]
    assert path.first(CLAIMS) == (True, "reader")
    assert path.first({}) == (False, None)
    assert RoleClaimPath(".a").deprecated and not path.deprecated


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.n[?@ > 1 && @ < 4]", [2, 3]),
        ("$.n[?@ >= 3 || @ <= 1]", [1, 3, 4]),
        ("$.n[?!(@ == 2)]", [1, 3, 4]),
        ("$.o[?@.k == 'v']", [{"k": "v"}]),
        ("$.o[?@.k]", [{"k": "v"}, {"k": None}]),
        ("$.o[?!@.k]", [{}]),
        ("$.o[?@.k == null]", [{"k": None}]),
        ("$.o[?length(@) == 0]", [{}]),
        ("$.o[?count(@.*) == 1]", [{"k": "v"}, {"k": None}]),
        ("$[?value(@[0].k) == 'v']", [[{"k": "v"}, {"k": None}, {}]]),
        ("$[?value(@..k) == 'v']", []),  # two nodes: value() is Nothing
        ("$.s[?match(@, 'a.c')]", ["abc"]),
        ("$.s[?search(@, 'b')]", ["abc", "b\nc"]),
        ("$.s[?match(@, 'b.c')]", []),  # . does not match a newline
        ("$.n[0:4:2]", [1, 3]),
        ("$.n[-2:]", [3, 4]),
        ("$.n[0, 3, 0]", [1, 4, 1]),
        ("$..k", ["v", None]),
        ("$.e[?@ == 'é']", ["é"]),
        ("$.e[?@ == '\\u00e9']", ["é"]),
        ("$.n[?@ == 2.0]", [2]),
        ("$.n[?@ == true]", []),
    ],
)
def test_jsonpath_selection(path: str, expected: list[Any]) -> None:
    doc = {
        "n": [1, 2, 3, 4],
        "o": [{"k": "v"}, {"k": None}, {}],
        "s": ["abc", "b\nc", "xyz"],
        "e": ["é", "e"],
    }
    assert RoleClaimPath(path).find(doc) == expected


# -- the cache --------------------------------------------------------------------------------


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    real: Callable[..., Any] = jwt_module.decode_token

    def spy(keys: Any, token: str) -> Any:
        calls.append(token)
        return real(keys, token)

    monkeypatch.setattr(jwt_module, "decode_token", spy)
    yield calls


def test_a_cache_hit_does_not_verify_again(count_decodes: list[str]) -> None:
    auth = make()
    token = hs256({"role": "alice", "exp": NOW + 60})
    first = auth.authenticate_sync(bearer(token))
    second = auth.authenticate_sync(bearer(token))
    assert first is second
    assert count_decodes == [token]
    assert auth.cache_stats() == {"size": 1, "hits": 1, "misses": 1, "evictions": 0}


def test_a_cached_token_still_expires(count_decodes: list[str]) -> None:
    clock = Clock()
    auth = make(clock)
    token = hs256({"role": "alice", "exp": NOW + 60})
    assert auth.authenticate_sync(bearer(token)).role == "alice"
    clock.now = NOW + 90
    assert auth.authenticate_sync(bearer(token)).role == "alice"  # within the skew
    clock.now = NOW + 91
    fails(auth, bearer(token), "PGRST303", "JWT expired")
    assert count_decodes == [token]
    assert auth.cache_stats()["size"] == 0  # an expired token is dropped
    fails(auth, bearer(token), "PGRST303", "JWT expired")


def test_a_cached_token_becomes_valid(count_decodes: list[str]) -> None:
    clock = Clock()
    auth = make(clock)
    token = hs256({"role": "alice", "nbf": NOW + 100})
    fails(auth, bearer(token), "PGRST303", "JWT not yet valid")
    clock.now = NOW + 70
    assert auth.authenticate_sync(bearer(token)).role == "alice"
    assert count_decodes == [token]


def test_failures_are_cached_and_errors_are_fresh(count_decodes: list[str]) -> None:
    auth = make()
    token = hs256({"role": "alice"}, secret="another-secret-of-at-least-32-characters")
    first = fails(auth, bearer(token), "PGRST301", KEY_ERROR, NONE_DECODED)
    second = fails(auth, bearer(token), "PGRST301", KEY_ERROR, NONE_DECODED)
    assert first is not second
    assert count_decodes == [token]
    aud = make(jwt_aud="api")
    bad_aud = hs256({"role": "a", "aud": "web"})
    fails(aud, bearer(bad_aud), "PGRST303", "JWT not in audience")
    fails(aud, bearer(bad_aud), "PGRST303", "JWT not in audience")


def test_the_cache_is_bounded_with_sieve_eviction() -> None:
    auth = make(jwt_cache_max_entries=2)
    a, b, c, d = (hs256({"role": name}) for name in "abcd")
    auth.authenticate_sync(bearer(a))
    auth.authenticate_sync(bearer(b))
    auth.authenticate_sync(bearer(a))  # a is visited: it survives the next eviction
    auth.authenticate_sync(bearer(c))  # evicts b
    stats = auth.cache_stats()
    assert (stats["size"], stats["evictions"]) == (2, 1)
    hits = stats["hits"]
    auth.authenticate_sync(bearer(a))
    assert auth.cache_stats()["hits"] == hits + 1
    auth.authenticate_sync(bearer(b))  # a miss again
    assert auth.cache_stats()["hits"] == hits + 1
    for token in (d, a, b, c, d):
        assert auth.authenticate_sync(bearer(token)).role in "abcd"
    assert auth.cache_stats()["size"] == 2


def test_the_cache_can_be_disabled(count_decodes: list[str]) -> None:
    auth = make(jwt_cache_max_entries=0)
    token = hs256({"role": "alice"})
    auth.authenticate_sync(bearer(token))
    auth.authenticate_sync(bearer(token))
    assert count_decodes == [token, token]
    assert auth.cache_stats() == {"size": 0, "hits": 0, "misses": 0, "evictions": 0}


# -- the async entry point ----------------------------------------------------------------------


async def test_authenticate_is_authenticate_sync() -> None:
    auth = make()
    result = await auth.authenticate({"type": "http"}, bearer(hs256({"role": "alice"})))
    assert result.role == "alice"
    assert (await auth.authenticate({"type": "http"}, {})).role == "anon"
    with pytest.raises(JwtError):
        await auth.authenticate({"type": "http"}, bearer("a.b"))
