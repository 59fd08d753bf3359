"""The OpenAPI description of the API (``GET /``), built from the schema cache. Pure.

``model.py`` reads the schema cache (and what the requesting role may use) into a
version-neutral model; ``swagger.py`` renders it as the Swagger 2.0 document PostgREST serves,
``openapi31.py`` as an OpenAPI 3.1.0 document stating the same facts, and more.
"""

from .model import ApiModel, Privileges, build_api_model
from .openapi31 import openapi31_document, openapi31_object
from .swagger import (
    OpenApiDisabledError,
    ServerLocation,
    server_location,
    swagger_document,
    swagger_object,
)

__all__ = [
    "ApiModel",
    "OpenApiDisabledError",
    "Privileges",
    "ServerLocation",
    "build_api_model",
    "openapi31_document",
    "openapi31_object",
    "server_location",
    "swagger_document",
    "swagger_object",
]
