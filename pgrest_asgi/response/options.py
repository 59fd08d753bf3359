"""``OPTIONS`` on a table, view, function or the root: the ``Allow`` header. Pure."""

from __future__ import annotations

from ..plan.calls import resolve_routine
from ..plan.read import find_table
from ..request.model import ApiRequest
from ..schema.model import SchemaCache
from .build import Response, allow_header

__all__ = ["options_response"]


def options_response(request: ApiRequest, schema: SchemaCache) -> Response:
    target = request.target
    if target.kind == "root":
        allow = allow_header(None)
    elif target.kind == "rpc":
        # The function is found as a GET would find it (its query-string arguments).
        allow = allow_header((resolve_routine(request, schema).routine,))
    else:
        allow = allow_header(find_table(schema, target))
    return Response(200, [(b"allow", allow), (b"access-control-allow-origin", b"*")])
