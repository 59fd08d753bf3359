"""The OpenAPI description of the API (``GET /``), built from the schema cache. Pure.

``model.py`` reads the schema cache (and what the requesting role may use) into a
version-neutral model that the document renderers start from.
"""

from .model import ApiModel, Privileges, build_api_model

__all__ = ["ApiModel", "Privileges", "build_api_model"]
