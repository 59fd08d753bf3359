"""The OpenAPI 3.1.0 document, rendered from the same model as the Swagger 2.0 one."""

from __future__ import annotations

from typing import Any

import msgspec
from openapi_spec_validator import validate

from pgrest_asgi.openapi import openapi31_document
from pgrest_asgi.settings import Settings

from .test_openapi import SCHEMA

SETTINGS = Settings(db_schemas=("api", "other"), openapi_mode="ignore-privileges")


def document(settings: Settings = SETTINGS, **kw: Any) -> Any:
    kw.setdefault("version", "13.0.5")
    return msgspec.json.decode(openapi31_document(SCHEMA, settings, **kw))


def test_the_swagger_fixture_renders_a_valid_document() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)
