"""``jwt-role-claim-key``: RFC 9535 JSONPath, PostgREST's deprecated DSL, and their errors."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from pgrest_asgi.auth import JwtAuthenticator, RoleClaimPath
from pgrest_asgi.auth.claims import role_text
from pgrest_asgi.errors import JwtError
from pgrest_asgi.settings import ConfigError, Settings

SECRET = "reallyreallyreallyreallyverysafe-and-long"

CLAIMS: dict[str, Any] = {
    "role": "top",
    "app": {"roles": ["reader", "admin", "writer"], "role": "nested", "level": 3},
    "key with space": "spaced",
    "x-y": "dashed",
    "it's": "apostrophe",
    "groups": [
        {"name": "a", "role": "ga", "size": 1},
        {"name": "b", "role": "gb", "size": 5},
        {"name": "c", "role": "gc", "size": 9},
    ],
    "odd": ["^wr", "a$", "wr"],
    "num": 5,
    "flag": True,
    "nothing": None,
    "obj": {"x": 1},
}


def role_of(path: str, claims: Any = CLAIMS) -> str | None:
    """The role a token with ``claims`` runs as (``None`` when the path selects nothing)."""
    found, value = RoleClaimPath(path).first(claims)
    return role_text(value) if found else None


# -- RFC 9535 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # names and indexes
        ("$.role", ["top"]),
        ("$.app.role", ["nested"]),
        ("$['app']['role']", ["nested"]),
        ("$.app.roles[0]", ["reader"]),
        ("$.app.roles[2]", ["writer"]),
        ("$.app.roles[-1]", ["writer"]),
        ("$.app.roles[-3]", ["reader"]),
        ("$.app.roles[3]", []),
        ("$.app.roles[-4]", []),
        # quoted keys
        ("$['key with space']", ["spaced"]),
        ('$["key with space"]', ["spaced"]),
        ("$['x-y']", ["dashed"]),
        ("$['it\\'s']", ["apostrophe"]),
        ('$["it\'s"]', ["apostrophe"]),
        ("$['\\u0078-y']", ["dashed"]),
        # the ."quoted" extension, also inside a filter; string literals are left alone
        ('$."x-y"', ["dashed"]),
        ('$.app."role"', ["nested"]),
        ("$.groups[?@.\"name\" == 'b'].role", ["gb"]),
        ("$.app.roles[?@ == '.\"role\"']", []),
        # wildcard, slices, unions
        ("$.app.roles[*]", ["reader", "admin", "writer"]),
        ("$.app.roles.*", ["reader", "admin", "writer"]),
        ("$.app.roles[1:]", ["admin", "writer"]),
        ("$.app.roles[:2]", ["reader", "admin"]),
        ("$.app.roles[::-1]", ["writer", "admin", "reader"]),
        ("$.app.roles[0:3:2]", ["reader", "writer"]),
        ("$.app.roles[-2:]", ["admin", "writer"]),
        ("$.app.roles[2, 0]", ["writer", "reader"]),
        ("$.app['missing', 'role']", ["nested"]),
        # descendants
        ("$..roles[1]", ["admin"]),
        ("$..name", ["a", "b", "c"]),
        ("$.groups..role", ["ga", "gb", "gc"]),
        # filters: comparisons, &&, ||, !, existence, functions
        ("$.app.roles[?@ == 'admin']", ["admin"]),
        ("$.app.roles[?(@ != 'reader')]", ["admin", "writer"]),
        ("$.groups[?@.size > 1 && @.size < 9].role", ["gb"]),
        ("$.groups[?@.size <= 1 || @.size >= 9].role", ["ga", "gc"]),
        ("$.groups[?!(@.name == 'a')].role", ["gb", "gc"]),
        ("$.groups[?@.size > $.app.level].name", ["b", "c"]),
        ("$.groups[?@.role].name", ["a", "b", "c"]),
        ("$.groups[?!@.missing].name", ["a", "b", "c"]),
        ("$.app.roles[?match(@, 'wr.*')]", ["writer"]),
        ("$.app.roles[?match(@, 'ad')]", []),  # match is anchored
        ("$.app.roles[?search(@, 'd')]", ["reader", "admin"]),
        ("$.app.roles[?search(@, '[rw]it')]", ["writer"]),
        ("$.app.roles[?length(@) == 5]", ["admin"]),
        ("$.groups[?length(@.name) == 1 && @.size == 5].role", ["gb"]),
        ("$.groups[?count(@.*) == 3].name", ["a", "b", "c"]),
        ("$.groups[?count(@.*) == 2].name", []),
        ("$.groups[?value(@.size) == 9].name", ["c"]),
        ("$", [CLAIMS]),
    ],
)
def test_rfc9535_paths(path: str, expected: list[Any]) -> None:
    query = RoleClaimPath(path)
    assert not query.deprecated
    assert query.find(CLAIMS) == expected
    assert query.first(CLAIMS) == ((True, expected[0]) if expected else (False, None))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # RFC 9485: ^ and $ are ordinary characters in match() and search()
        ("$.odd[?search(@, '^wr')]", ["^wr"]),
        ("$.odd[?match(@, 'a$')]", ["a$"]),
        ("$.odd[?match(@, '[$a]+')]", ["a$"]),
        ("$.odd[?match(@, '[^a$]+')]", ["^wr", "wr"]),
        ("$.odd[?match(@, '\\\\^wr')]", ["^wr"]),
        # Unicode property classes are I-Regexp too
        ("$.app.roles[?match(@, '\\\\p{Ll}+')]", ["reader", "admin", "writer"]),
        # an invalid I-Regexp matches nothing
        ("$.app.roles[?match(@, '(?i)ADMIN')]", []),
        # a pattern taken from the document
        ("$.odd[?match(@, $.odd[2])]", ["wr"]),
    ],
)
def test_regular_expressions_are_i_regexp(path: str, expected: list[Any]) -> None:
    assert RoleClaimPath(path).find(CLAIMS) == expected


def test_blanks_around_the_query_are_ignored() -> None:
    assert role_of(" \t$.app.role\n") == "nested"
    assert role_of("$ .app [ 'role' ]") == "nested"


# -- PostgREST's deprecated DSL ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".role", ["top"]),
        (".app.role", ["nested"]),
        (".app.roles[0]", ["reader"]),
        (".app.roles[02]", ["writer"]),
        ('."x-y"', ["dashed"]),
        ('."key with space"', ["spaced"]),
        ('.app."role"', ["nested"]),
        ('."it\'s"', ["apostrophe"]),
        ('.app.roles[?(@ == "admin")]', ["admin"]),
        ('.app.roles[?(@ != "reader")]', ["admin", "writer"]),
        ('.app.roles[?(@ ^== "wri")]', ["writer"]),
        ('.app.roles[?(@ ==^ "er")]', ["reader", "writer"]),
        ('.app.roles[?(@ *== "d")]', ["reader", "admin"]),
        ('.app.roles[?(@=="admin")]', ["admin"]),
        ('.app.roles[?(@   ==   "admin")]', ["admin"]),
        ('.app.roles[?(@ == "nobody")]', []),
        ('.app.role[?(@ == "nested")]', []),  # a filter looks into arrays only
        ('.groups[?(@ == "a")]', []),  # and at their strings only
        (".app.roles[0][1:]", ["eader"]),
        (".app.roles[0][:-1]", ["reade"]),
        (".app.roles[0][:]", ["reader"]),
        (".app.roles[0][4:2]", [""]),
        (".app.roles[1:]", []),  # a slice cuts strings, not arrays
        ('.app.roles[?(@ ^== "wr")][:2]', ["wr"]),
        (".nope", []),
        (".app.roles[9]", []),
        (".role.deeper", []),
    ],
)
def test_deprecated_dsl(path: str, expected: list[Any]) -> None:
    query = RoleClaimPath(path)
    assert query.deprecated
    assert query.find(CLAIMS) == expected
    assert query.first(CLAIMS) == ((True, expected[0]) if expected else (False, None))


# -- PostgREST's documented examples (docs/references/auth.rst, configuration.rst) --------

POSTGREST = {"postgrest": {"roles": ["other", "author"]}}
URI = {"https://www.example.com/role": {"key": "author"}}
WLCG = {"postgrest": {"wlcg": ["/groupa", "/groupb/"]}}
KEYCLOAK = {"realm_access": {"roles": ["offline_access", "web_user"]}}


@pytest.mark.parametrize(
    ("claims", "path", "role"),
    [
        ({"role": "user123"}, "$.role", "user123"),  # the default
        (POSTGREST, ".postgrest.roles[1]", "author"),
        (URI, '."https://www.example.com/role".key', "author"),
        (POSTGREST, '.postgrest.roles[?(@ == "author")]', "author"),
        (POSTGREST, '.postgrest.roles[?(@ != "other")]', "author"),
        (POSTGREST, '.postgrest.roles[?(@ ^== "aut")]', "author"),
        (POSTGREST, '.postgrest.roles[?(@ ==^ "hor")]', "author"),
        (POSTGREST, '.postgrest.roles[?(@ *== "utho")]', "author"),
        (WLCG, ".postgrest.wlcg[0][1:]", "groupa"),
        (WLCG, ".postgrest.wlcg[1][1:-1]", "groupb"),
        (KEYCLOAK, '.realm_access.roles[?(@ ^== "web_")]', "web_user"),
        # and the same in RFC 9535
        (POSTGREST, "$.postgrest.roles[1]", "author"),
        (URI, "$['https://www.example.com/role'].key", "author"),
        (URI, '$."https://www.example.com/role".key', "author"),
        (POSTGREST, "$.postgrest.roles[?@ == 'author']", "author"),
        (POSTGREST, "$.postgrest.roles[?@ != 'other']", "author"),
        (POSTGREST, "$.postgrest.roles[?match(@, 'aut.*')]", "author"),
        (POSTGREST, "$.postgrest.roles[?match(@, '.*hor')]", "author"),
        (POSTGREST, "$.postgrest.roles[?search(@, 'utho')]", "author"),
        (KEYCLOAK, "$.realm_access.roles[?match(@, 'web_.*')]", "web_user"),
    ],
)
def test_postgrest_documented_examples(claims: dict[str, Any], path: str, role: str) -> None:
    assert role_of(path, claims) == role


# -- roles that are not strings, and no role ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("$.num", "5"),
        ("$.flag", "true"),
        ("$.nothing", "null"),
        ("$.obj", '{"x":1}'),
        ("$.app.roles", '["reader","admin","writer"]'),
        ("$.groups[0]", '{"name":"a","role":"ga","size":1}'),
        (".num", "5"),
        (".obj", '{"x":1}'),
    ],
)
def test_a_non_string_role_is_json_encoded(path: str, role: str) -> None:
    assert role_of(path) == role


def token(claims: dict[str, Any]) -> dict[str, str]:
    encoded = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(SECRET.encode()))
    return {"authorization": f"Bearer {encoded}"}


def authenticator(path: str, anon: str | None = "anon") -> JwtAuthenticator:
    settings = Settings(jwt_secret=SECRET, db_anon_role=anon, jwt_role_claim_key=path)
    return JwtAuthenticator(settings)


@pytest.mark.parametrize(
    "path",
    ["$.nope", "$.app.roles[7]", "$.role.deeper", "$..nope", ".nope", '.app.roles[?(@ == "x")]'],
)
def test_no_match_runs_as_the_anonymous_role(path: str) -> None:
    assert RoleClaimPath(path).first(CLAIMS) == (False, None)
    assert RoleClaimPath(path).find(CLAIMS) == []
    result = authenticator(path).authenticate_sync(token(CLAIMS))
    assert (result.role, result.anonymous, result.claims["role"]) == ("anon", True, "anon")
    with pytest.raises(JwtError):
        authenticator(path, anon=None).authenticate_sync(token(CLAIMS))


def test_the_selected_role_is_the_token_role() -> None:
    result = authenticator(".groups[1].role").authenticate_sync(token(CLAIMS))
    assert (result.role, result.anonymous, result.claims["role"]) == ("gb", False, "gb")
    result = authenticator("$.num").authenticate_sync(token(CLAIMS))
    assert (result.role, result.claims["role"]) == ("5", "5")


# -- invalid paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("", "position 0"),
        ("role", "position 0"),
        ("$.", "position 2"),
        ("$[", "position 2"),
        ("$.a[01]", "position"),
        ("$.a[-0]", "position"),
        ("$.a[?@ == ]", "position"),
        ("$.a[?foo(@)]", "foo"),
        ("$.a[?length(@)]", "position"),
        ("$.a[?@.* == 1]", "position"),
        ("$.a[?@ == 'x' && true]", "position"),
        ("$['unterminated]", "position"),
        ('$."unterminated', "position"),
        ("$.a | $.b", "position"),
        ("$.a[?@ =~ /x/]", "position"),
        ("$.a.. ", "position 5"),
        ("  $.a[01]", "position 6"),
        (".", "position 0"),
        (".a.", "position 2"),
        (".a.[0]", "position 2"),
        ('."unterminated', "position 0"),
        (".a[-1]", "position 2"),
        (".a[x]", "position 2"),
        (".a b", "position 2"),
        (" .a", "position 0"),
        ('.a[?(@ = "x")]', "position 2"),
        (".a[?(@ == 'x')]", "position 2"),
        ('.a[?(@ == "x")', "position 2"),
        ('.a[?(@ == "x")].b', "follows a filter or slice at position 15"),
        (".a[1:].b", "follows a filter or slice at position 6"),
        (".a[99999999999999999999]", "out of range"),
    ],
)
def test_invalid_paths_fail_with_a_config_error(path: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        RoleClaimPath(path)
    message = str(info.value)
    assert message.startswith(
        f"jwt-role-claim-key: failed to parse role-claim-key value ({path}): "
    )
    assert why in message
    assert "\n" not in message.removeprefix(
        f"jwt-role-claim-key: failed to parse role-claim-key value ({path})"
    )


def test_an_invalid_path_fails_the_authenticator_at_init() -> None:
    with pytest.raises(ConfigError, match="jwt-role-claim-key"):
        authenticator("$.a[")


def test_repr_and_text() -> None:
    query = RoleClaimPath('."x-y"')
    assert (query.text, repr(query)) == ('."x-y"', "RoleClaimPath('.\"x-y\"')")
