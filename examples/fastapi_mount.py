"""Mount the REST API under /api in a FastAPI app, next to your own endpoints.

`mount_into` mounts the app and chains its start-up (pool, schema cache, listener) into the
parent's lifespan — mounted apps never receive lifespan events on their own.

    uvicorn examples.fastapi_mount:app      # with PGRST_DB_URI etc. in the environment
"""

from __future__ import annotations

from fastapi import FastAPI

from pgrest_asgi import PgRestApp, Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="My service")
    rest = PgRestApp(settings=settings or Settings.from_env())

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": rest.schema_cache is not None}

    rest.mount_into(app, "/api")
    return app
