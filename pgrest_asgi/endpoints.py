"""Host endpoints: Python callables the router sends a path to. I/O.

A router returns ``Target.endpoint(handler)`` for a path of the host's; the app authenticates
the request as usual, reads its body, and calls ``await handler(request)`` with an
``EndpointRequest``. The handler returns a ``Response`` (``Response.json(...)`` for JSON). It
may run SQL as the caller: ``await request.query(sql, params)`` runs ``sql`` in a transaction
exactly like the API's own (the caller's role and JWT claims, the request GUCs, the
pre-request function, PostgREST's error mapping) and returns the rows as a JSON array built
by PostgreSQL. Errors it raises (``PgRestError`` subclasses) are answered like the API's::

    async def order_stats(request: EndpointRequest) -> Response:
        body = await request.query(
            "SELECT customer_id, count(*) AS orders FROM shop.orders GROUP BY 1"
        )
        return Response.json(body)

    class Router(DefaultRouter):
        def match(self, method, path, headers):
            if path == b"/order-stats":
                return Target.endpoint(order_stats)
            return super().match(method, path, headers)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from .asgi import query_params
from .context import RequestContext
from .plan.tx import TransactionPlanner
from .response.build import Response, apply_response_gucs
from .schema.model import SchemaCache
from .sql.build import DbResult, host_statement

if TYPE_CHECKING:
    from .hooks import Executor

__all__ = ["Endpoint", "EndpointRequest"]


class EndpointRequest:
    """What a host endpoint receives: the request context, the body, and SQL as the caller."""

    __slots__ = ("_executor", "_schema", "_transactions", "body", "context")

    def __init__(
        self,
        context: RequestContext,
        body: bytes | None,
        executor: Executor,
        transactions: TransactionPlanner,
        schema: SchemaCache,
    ) -> None:
        #: Who is asking and what for (``context.auth`` is the authenticated caller).
        self.context = context
        #: The request body (``None`` for GET, HEAD and OPTIONS).
        self.body = body
        self._executor = executor
        self._transactions = transactions
        self._schema = schema

    async def answer(self) -> Response:
        """Call the target's handler with this request; a HEAD is answered without a body."""
        handler = self.context.target.handler
        response = await handler(self)
        if not isinstance(response, Response):
            raise TypeError(f"endpoint {handler!r} returned {response!r}, not a Response")
        response.head = response.head or self.context.method == "HEAD"
        return response

    @property
    def params(self) -> list[tuple[str, str]]:
        """The query string as decoded ``(name, value)`` pairs, in order (400 when it is not
        UTF-8)."""
        return query_params(self.context.query_string)

    async def query(
        self, sql: str, params: Sequence[Any] = (), *, read_only: bool | None = None
    ) -> bytes:
        """Run ``sql`` (``$1``… placeholders for ``params``) in a transaction of its own, as
        the caller; returns its rows as JSON array bytes. ``read_only`` defaults to the
        method: GET and HEAD read only, the others read-write.

        Parameters are sent as text for PostgreSQL to type: ``None`` is NULL, ``bool`` is
        ``true``/``false``, a ``dict`` is JSON, a ``list``/``tuple`` a PostgreSQL array of
        its elements' text (pass ``json.dumps(x)`` for a JSON array), anything else ``str()``.
        """
        return (await self.run(sql, params, read_only=read_only)).body

    async def respond(
        self, sql: str, params: Sequence[Any] = (), *, read_only: bool | None = None
    ) -> Response:
        """``query``, answered as the API answers: the rows as a JSON response, with the
        status and headers a function may have set (``response.status``,
        ``response.headers``)."""
        result = await self.run(sql, params, read_only=read_only)
        response = Response.json(result.body)
        return apply_response_gucs(response, result.response_headers, result.response_status)

    async def run(
        self, sql: str, params: Sequence[Any] = (), *, read_only: bool | None = None
    ) -> DbResult:
        """``query``'s whole result: the body, the row count (``page_total``) and the
        response settings."""
        tx = self._transactions.plan(self.context, self._schema)
        if read_only is not None and read_only != tx.read_only:
            tx = msgspec.structs.replace(tx, read_only=read_only)
        values = tuple(_text(value) for value in params)
        return await self._executor.execute(host_statement(sql, values), tx, self.context)


def _text(value: Any) -> str | bytes | None:
    if value is None or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _json(value).decode()
    if isinstance(value, (list, tuple)):
        items = [_text(item) for item in value]
        if any(isinstance(item, bytes) for item in items):
            raise TypeError("EndpointRequest.query: bytes inside a list parameter")
        return "{" + ",".join("NULL" if i is None else _array_item(str(i)) for i in items) + "}"
    return str(value)


def _array_item(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_json = msgspec.json.Encoder().encode


#: ``async def handler(request: EndpointRequest) -> Response``.
Endpoint = Callable[[EndpointRequest], Awaitable[Response]]
