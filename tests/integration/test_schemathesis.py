"""The demo API, fuzzed from its own OpenAPI 3.1 document with Schemathesis: every documented
operation, with requests generated from the document, answers no 5xx, and every response
matches what the document says (status, content type, body schema).

Bounded: a fixed number of derandomized examples per operation, so a run is repeatable and
takes seconds. The demo gets a cluster of its own (its SQL creates roles the fixture has).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pgrest_asgi import PgRestApp
from pgrest_asgi.cli import DEMO_JWT_SECRET
from pgrest_asgi.testing import PostgresCluster

EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def demo_dsn() -> Iterator[str]:
    cluster = PostgresCluster()
    cluster.start()
    try:
        cluster.create_database("demo")
        sql = resources.files("pgrest_asgi").joinpath("demo.sql").read_text()
        cluster.run_sql(sql, dbname="demo")
        yield cluster.dsn("demo", user="authenticator")
    finally:
        cluster.stop()


def test_the_demo_api_conforms_to_its_document(demo_dsn: str) -> None:
    app = PgRestApp(
        demo_dsn,
        schemas=["api"],
        db_anon_role="web_anon",
        jwt_secret=DEMO_JWT_SECRET,
        openapi_version="3.1",
    )
    schema = schemathesis.openapi.from_asgi("/", app)
    checked: list[str] = []
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation: Any = result.ok()
        name = f"{operation.method.upper()} {operation.path}"

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def conforms(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            conforms()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures[name] = str(exc)[:2000]
        checked.append(name)
    assert failures == {}
    assert {"GET /films", "POST /todos", "PATCH /todos", "POST /rpc/films_since"} <= set(checked)
