"""What this app serves of a parsed request, decided before planning. Pure."""

from __future__ import annotations

import msgspec

from ..errors import ApiRequestError
from ..settings import Settings
from .model import ApiRequest

__all__ = ["applicable"]


def applicable(request: ApiRequest, settings: Settings) -> ApiRequest:
    """The request with the preferences this app will not apply taken out: with
    ``db-exact-count`` off, ``count=exact`` is an invalid preference (ignored, or 400
    ``PGRST122`` under ``handling=strict``)."""
    prefs = request.preferences
    if prefs.count == "exact" and not settings.db_exact_count:
        prefs = msgspec.structs.replace(prefs, count=None, invalid=(*prefs.invalid, "count=exact"))
        request = msgspec.structs.replace(request, preferences=prefs)
    if prefs.handling == "strict" and prefs.invalid:
        raise ApiRequestError.invalid_preferences(prefs.invalid)
    return request
