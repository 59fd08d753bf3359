"""The soft-delete example: deleted rows stay hidden wherever their table's rows appear."""

from __future__ import annotations

import psycopg

from examples.soft_delete_pass import create_app
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB, app_settings, client_for, make_token


def _exists(cluster: PostgresCluster, reply_id: int) -> bool:
    with psycopg.connect(cluster.dsn(API_DB)) as conn:
        row = conn.execute("SELECT count(*) FROM api.post_replies WHERE id = %s", [reply_id])
        found = row.fetchone()
    return found is not None and found[0] == 1


async def test_deleted_rows_are_hidden_at_every_depth(api_db: PostgresCluster) -> None:
    cfg = app_settings(api_db)
    app = create_app(cfg.pop("db_uri"), **cfg)
    async with app.lifespan(), client_for(app) as http:
        resp = await http.get("/posts?select=id,title&order=id")
        assert resp.json() == [{"id": 1, "title": "kept"}, {"id": 3, "title": "also kept"}]
        # Tables without deleted_at are untouched.
        assert len((await http.get("/items?select=id")).json()) == 20
        # Embedded rows are filtered too, and a deleted parent hides its live children.
        resp = await http.get("/posts?select=id,post_replies(body)&order=id")
        assert resp.json() == [
            {"id": 1, "post_replies": [{"body": "live reply"}]},
            {"id": 3, "post_replies": []},
        ]
        resp = await http.get("/post_replies?select=id,posts(title)&order=id")
        assert resp.json() == [
            {"id": 1, "posts": {"title": "kept"}},
            {"id": 3, "posts": None},
        ]
        resp = await http.get("/posts?select=id,post_replies!inner(id)&post_replies.id=eq.2")
        assert resp.json() == []


async def test_writes_cannot_reach_deleted_rows(api_db: PostgresCluster) -> None:
    cfg = app_settings(api_db)
    app = create_app(cfg.pop("db_uri"), **cfg)
    user = {"Authorization": f"Bearer {make_token({'role': 'web_user'})}"}
    async with app.lifespan(), client_for(app) as http:
        resp = await http.patch(
            "/post_replies?id=in.(1,2)",
            json={"body": "edited"},
            headers={**user, "Prefer": "return=representation"},
        )
        assert (resp.status_code, resp.json()) == (
            200,
            [{"id": 1, "post_id": 1, "body": "edited", "deleted_at": None}],
        )
        resp = await http.delete("/post_replies?id=eq.2", headers=user)
        assert resp.status_code == 204
        assert _exists(api_db, 2)
