"""pgrest_asgi configured from the environment, for the benchmark's uvicorn."""

from __future__ import annotations

import os

from pgrest_asgi import PgRestApp

app = PgRestApp(
    os.environ["BENCH_DSN"],
    schemas=["api"],
    db_anon_role="web_anon",
    # Row a sends HS256 tokens whose role claim is web_user; the other rows are anonymous.
    jwt_secret=os.environ.get("BENCH_JWT_SECRET", "x" * 32),
    db_pool=int(os.environ.get("BENCH_POOL", "10")),
    db_pool_min=int(os.environ.get("BENCH_POOL", "10")),
    db_channel_enabled=False,
    # BENCH_CANCEL=0 measures without the disconnect watcher (server-cancel-on-disconnect).
    server_cancel_on_disconnect=os.environ.get("BENCH_CANCEL", "1") == "1",
)
