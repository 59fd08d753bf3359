"""The OpenAPI description of the API (``GET /``), built from the schema cache. Pure.

``model.py`` reads the schema cache (and what the requesting role may use) into a
version-neutral model; ``swagger.py`` renders it as the Swagger 2.0 document PostgREST serves.
"""

from .model import ApiModel, Privileges, build_api_model
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
    "server_location",
    "swagger_document",
    "swagger_object",
]
