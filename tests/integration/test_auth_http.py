"""Every JWT failure PostgREST answers, answered over HTTP with PostgREST's exact body and
WWW-Authenticate header, and without touching the database."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import make_token


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bearer_at_now(claims: Callable[[int], dict[str, Any]]) -> Callable[[], str]:
    """A token whose time claims are relative to the moment the test runs (never to import
    time: on a busy machine the suite may reach a test long after collecting it)."""
    return lambda: "Bearer " + make_token(claims(int(time.time())))


def challenge(message: str) -> str:
    return f'Bearer error="invalid_token", error_description="{message}"'


CASES = [
    (
        "empty token",
        lambda: "Bearer ",
        "PGRST301",
        "Empty JWT is sent in Authorization header",
        None,
    ),
    ("two parts", lambda: "Bearer aaa.bbb", "PGRST301", "Expected 3 parts in JWT; got 2", None),
    (
        "random parts",
        lambda: "Bearer aaa.bbb.ccc",
        "PGRST301",
        "JWT cryptographic operation failed",
        None,
    ),
    (
        "alg none",
        lambda: "Bearer " + _b64({"alg": "none"}) + "." + _b64({"role": "web_user"}) + ".",
        "PGRST301",
        "Wrong or unsupported encoding algorithm",
        "JWT is unsecured but expected 'alg' was not 'none'",
    ),
    (
        "wrong secret",
        lambda: "Bearer " + make_token({"role": "web_user"}, secret="x" * 40),
        "PGRST301",
        "No suitable key or wrong key type",
        "None of the keys was able to decode the JWT",
    ),
    (
        "expired",
        bearer_at_now(lambda now: {"role": "web_user", "exp": now - 35}),
        "PGRST303",
        "JWT expired",
        None,
    ),
    (
        "not yet valid",
        bearer_at_now(lambda now: {"role": "web_user", "nbf": now + 35}),
        "PGRST303",
        "JWT not yet valid",
        None,
    ),
    (
        "issued in the future",
        bearer_at_now(lambda now: {"role": "web_user", "iat": now + 35}),
        "PGRST303",
        "JWT issued at future",
        None,
    ),
    (
        "exp not a number",
        lambda: "Bearer " + make_token({"role": "web_user", "exp": "tomorrow"}),
        "PGRST303",
        "The JWT 'exp' claim must be a number",
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "authorization", "code", "message", "details"), CASES, ids=[c[0] for c in CASES]
)
async def test_jwt_failures(
    client: httpx.AsyncClient,
    name: str,
    authorization: Callable[[], str],
    code: str,
    message: str,
    details: str | None,
) -> None:
    resp = await client.get("/items", headers={"Authorization": authorization()})
    assert resp.status_code == 401
    assert resp.json() == {"code": code, "details": details, "hint": None, "message": message}
    assert resp.headers["www-authenticate"] == challenge(message)
    assert resp.headers["proxy-status"] == f"PostgREST; error={code}"


async def test_clock_skew_is_tolerated(client: httpx.AsyncClient) -> None:
    token = make_token({"role": "web_user", "exp": int(time.time()) - 10})
    resp = await client.get("/items?id=eq.1", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200


async def test_lower_case_bearer_and_basic_scheme(client: httpx.AsyncClient) -> None:
    token = make_token({"role": "web_user"})
    resp = await client.get("/secrets", headers={"Authorization": f"bearer {token}"})
    assert resp.status_code == 200
    basic = await client.get("/whoami?select=role", headers={"Authorization": "Basic dTpw"})
    assert basic.json() == [{"role": "web_anon"}]


async def test_audience(app_factory: Any) -> None:
    async with app_factory(jwt_aud="my-api") as (_, http):
        wrong = make_token({"role": "web_user", "aud": "other"})
        resp = await http.get("/items", headers={"Authorization": f"Bearer {wrong}"})
        assert (resp.status_code, resp.json()["message"]) == (401, "JWT not in audience")
        listed = make_token({"role": "web_user", "aud": ["x", "my-api"]})
        resp = await http.get("/items?id=eq.1", headers={"Authorization": f"Bearer {listed}"})
        assert resp.status_code == 200


async def test_anonymous_disabled(app_factory: Any) -> None:
    async with app_factory(db_anon_role=None) as (_, http):
        resp = await http.get("/items")
        assert resp.status_code == 401
        assert resp.content == (
            b'{"code":"PGRST302","details":null,"hint":null,'
            b'"message":"Anonymous access is disabled"}'
        )
        assert resp.headers["www-authenticate"] == "Bearer"


async def test_no_secret_configured(app_factory: Any) -> None:
    async with app_factory(jwt_secret=None) as (_, http):
        token = make_token({"role": "web_user"})
        resp = await http.get("/items", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 500
        assert resp.json() == {
            "code": "PGRST300",
            "details": None,
            "hint": None,
            "message": "Server lacks JWT secret",
        }


async def test_role_claim_key(app_factory: Any) -> None:
    async with app_factory(jwt_role_claim_key="$.app_metadata.roles[1]") as (_, http):
        token = make_token({"app_metadata": {"roles": ["x", "web_user"]}})
        resp = await http.get("/whoami?select=role", headers={"Authorization": f"Bearer {token}"})
        assert resp.json() == [{"role": "web_user"}]
        missing = make_token({"sub": "someone"})
        resp = await http.get("/whoami?select=role", headers={"Authorization": f"Bearer {missing}"})
        assert resp.json() == [{"role": "web_anon"}]


async def test_algorithm_confusion_is_refused(app_factory: Any) -> None:
    """SEC-08: with an RSA key configured, an HS256 token whose HMAC key is that RSA public
    key (its PEM, or its JWK text: what an attacker can download) is refused."""
    import hashlib
    import hmac

    from joserfc.jwk import RSAKey

    rsa = RSAKey.generate_key(2048)
    public_jwk = json.dumps(rsa.as_dict(private=False))
    jwks = json.dumps({"keys": [rsa.as_dict(private=False)]})
    public_pem = rsa.as_pem(private=False)
    head = _b64({"alg": "HS256", "typ": "JWT"})
    body = _b64({"role": "web_user"})
    signing_input = f"{head}.{body}".encode()
    async with app_factory(jwt_secret=jwks) as (_, http):
        for secret in (public_pem, public_jwk.encode(), jwks.encode()):
            mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
            signature = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
            token = f"{head}.{body}.{signature}"
            resp = await http.get("/secrets", headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 401
            assert resp.json() == {
                "code": "PGRST301",
                "details": "No suitable key was found to decode the JWT",
                "hint": None,
                "message": "No suitable key or wrong key type",
            }
            assert resp.headers["www-authenticate"] == challenge(
                "No suitable key or wrong key type"
            )
