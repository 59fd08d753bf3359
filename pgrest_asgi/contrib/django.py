"""Host ``PgRestApp`` inside a Django project (Django has no ASGI mount and no lifespan).

In ``asgi.py``::

    from django.core.asgi import get_asgi_application
    from pgrest_asgi import PgRestApp
    from pgrest_asgi.contrib.django import combine

    rest = PgRestApp(dsn, schemas=["api"], db_anon_role="web_anon")
    application = combine(get_asgi_application(), {"/api": rest})

Requests under a prefix go to that app, with ``root_path`` extended by the prefix (so links
and ``Location`` headers keep it); everything else goes to Django. Lifespan events are
answered here and forwarded to each mounted app — Django never sees them (it would raise).
Prefixes match whole path segments: ``/api`` and ``/api/...`` but not ``/apix``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from contextlib import AsyncExitStack
from typing import Any

__all__ = ["combine"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def combine(default: ASGIApp, mounts: Mapping[str, Any]) -> ASGIApp:
    """An ASGI app that routes path prefixes to ``mounts`` and the rest to ``default``."""
    table = sorted(((p.rstrip("/"), app) for p, app in mounts.items()), key=lambda i: -len(i[0]))

    async def lifespan(receive: Receive, send: Send) -> None:
        stack = AsyncExitStack()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for _, app in table:
                        if hasattr(app, "lifespan"):
                            await stack.enter_async_context(app.lifespan())
                except Exception as exc:
                    await stack.aclose()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def dispatcher(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "") or ""
        route = path[len(root) :] if root and path.startswith(root) else path
        for prefix, app in table:
            if route == prefix or route.startswith(prefix + "/"):
                child = dict(scope)
                child["root_path"] = root + prefix
                await app(child, receive, send)
                return
        await default(scope, receive, send)

    return dispatcher
