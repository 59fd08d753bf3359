"""PostgREST's fuzzy hints: its doctests for noRpcHint's parameter lists, and name matching."""

from __future__ import annotations

from pgrest_asgi.plan.fuzzy import closest, similarity

OVERLOADS = ["(name, param, val)", "(attr, id)"]


def test_parameter_lists_as_in_postgrests_doctests() -> None:
    assert closest("(nam, pqaram, vall)", OVERLOADS, 0.33) == "(name, param, val)"
    assert closest("(param, val)", OVERLOADS, 0.33) == "(name, param, val)"
    assert closest("(attrs, id)", OVERLOADS, 0.33) == "(attr, id)"
    assert closest("(id)", OVERLOADS, 0.33) == "(attr, id)"
    assert closest("(noclosealternative)", OVERLOADS, 0.33) is None


def test_names() -> None:
    assert closest("sayhell", ["sayhello", "add_them"], 0.75) == "sayhello"
    assert closest("nope", ["noop", "hello"], 0.75) is None  # 1 - 2/4 = 0.5
    assert closest("add_theme", ["add_them", "hello"], 0.75) == "add_them"
    assert closest("xyz", ["noop"], 0.75) is None
    assert similarity("ABC", "abc") == 1.0
    assert similarity("", "") == 1.0
