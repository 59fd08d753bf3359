"""Mount the REST API under /api in a FastAPI app, next to your own endpoints.

`mount_into` mounts the app and chains its start-up (pool, schema cache, listener) into the
parent's lifespan — mounted apps never receive lifespan events on their own.
`include_in_openapi` makes FastAPI's own /docs (its `app.openapi()`) show the database's API
next to your endpoints: its paths under /api and its models as `api.<table>`, as the anonymous
role may use them (see `pgrest_asgi.contrib.fastapi`).

    uvicorn examples.fastapi_mount:app      # with PGRST_DB_URI etc. in the environment
"""

from __future__ import annotations

from fastapi import FastAPI

from pgrest_asgi import PgRestApp, Settings
from pgrest_asgi.contrib.fastapi import include_in_openapi


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="My service")
    rest = PgRestApp(settings=settings or Settings.from_env())

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": rest.schema_cache is not None}

    rest.mount_into(app, "/api")
    include_in_openapi(app, rest)  # after mounting: the prefix is the mount's
    return app
