"""PostgREST's fuzzy hints: its doctests for noRpcHint and noRelBetweenHint, and the fuzzy set's
rules (grams first, then the edit distance; an exact match; the minimum score)."""

from pgrest_asgi.plan.fuzzy import MIN_SCORE, NAME_MIN_SCORE, closest, matches, similarity

OVERLOADS = ["(name, param, val)", "(attr, id)"]


def test_parameter_lists() -> None:
    assert closest("(nam, pqaram, vall)", OVERLOADS) == "(name, param, val)"
    assert closest("(param, val)", OVERLOADS) == "(name, param, val)"
    assert closest("(attrs, id)", OVERLOADS) == "(attr, id)"
    assert closest("(id)", OVERLOADS) == "(attr, id)"
    assert closest("(noclosealternative)", OVERLOADS) is None


def test_function_names() -> None:
    procs = ["test", "another"]
    assert closest("testt", procs, NAME_MIN_SCORE) == "test"
    assert closest("noclosealternative", procs, NAME_MIN_SCORE) is None
    assert closest("sayhell", ["sayhello", "add_them"], NAME_MIN_SCORE) == "sayhello"
    assert closest("nope", ["noop", "hello"], NAME_MIN_SCORE) is None  # 1 - 2/4 = 0.5


def test_relationship_names() -> None:
    children = ["directors", "roles", "actors"]
    assert closest("role", children) == "roles"
    assert closest("noclosealternative", children) is None
    assert closest("film", ["films"]) == "films"
    # A weak match is still a hint at the default bar (0.33), not at the names' (0.75).
    assert closest("ee_car_model_sales_202101", ["ee_car_model_sales"]) == "ee_car_model_sales"
    assert closest("ee_car_model_sales_202101", ["ee_car_model_sales"], NAME_MIN_SCORE) is None


def test_exact_matches_score_one_and_ignore_case() -> None:
    assert matches("Films", ["x", "films"]) == [(1.0, "films")]


def test_no_shared_gram_no_match() -> None:
    # "()" and "(a)" are one edit apart, but their grams ("--" against "-a", "a-") share
    # nothing, so the fuzzy set never scores the pair.
    assert similarity("(a)", "()") > MIN_SCORE
    assert closest("(a)", ["()"]) is None


def test_best_first() -> None:
    found = matches("rolez", ["roles", "rolls", "directors"])
    assert [name for _, name in found][:2] == ["roles", "rolls"]
    assert all(score > MIN_SCORE for score, _ in found)


def test_similarity() -> None:
    assert similarity("ABC", "abc") == 1.0
    assert similarity("", "") == 1.0
