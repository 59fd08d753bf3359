"""docs/how-to/mounting.md: each recipe, as the page shows it, serves the API under /api and
the host's own routes beside it, with the API started by the host's lifespan."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB

PAGE = Path(__file__).parents[2] / "docs" / "how-to" / "mounting.md"


def python_blocks() -> dict[str, str]:
    """The page's Python blocks, by the section they are in."""
    blocks = {}
    for section in re.split(r"^## ", PAGE.read_text(encoding="utf-8"), flags=re.M)[1:]:
        title = section.split("\n", 1)[0]
        for code in re.findall(r"```python\n(.*?)```", section, re.S):
            assert title not in blocks, f"one Python block per section: {title}"
            blocks[title] = code
    return blocks


def test_the_page_has_the_three_recipes() -> None:
    assert sorted(python_blocks()) == ["Django", "FastAPI", "Starlette"]


@pytest.fixture
def pgrst_env(api_db: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = {
        "PGRST_DB_URI": api_db.dsn(API_DB, user="authenticator"),
        "PGRST_DB_SCHEMAS": "api",
        "PGRST_DB_ANON_ROLE": "web_anon",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env


@pytest.mark.parametrize(("section", "own_path"), [("FastAPI", "/health"), ("Starlette", "/")])
def test_starlette_hosts(pgrst_env: dict[str, str], section: str, own_path: str) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_mounting"}
    exec(compile(python_blocks()[section], "mounting.md", "exec"), namespace)
    rest = namespace["rest"]
    with TestClient(namespace["app"]) as client:  # runs the host's lifespan
        assert rest.schema_cache is not None, "the host's lifespan started the API"
        resp = client.get("/api/items?select=id&id=eq.1")
        assert (resp.status_code, resp.content) == (200, b'[{"id":1}]')
        assert resp.headers["content-location"] == "/items?id=eq.1&select=id"
        assert client.get(own_path).status_code == 200
    assert rest.schema_cache is not None


DJANGO_DRIVER = """
import asyncio, sys

import django
import httpx
from django.conf import settings

urlpatterns = []
settings.configure(ROOT_URLCONF="__main__", ALLOWED_HOSTS=["*"], SECRET_KEY="t" * 50)
django.setup()
namespace = {"__name__": "asgi"}
exec(compile(sys.stdin.read(), "asgi.py", "exec"), namespace)
application = namespace["application"]


async def lifespan(messages, sent):
    async def receive():
        return messages.pop(0) if messages else await asyncio.Event().wait()

    async def send(message):
        sent.append(message["type"])

    return await application({"type": "lifespan"}, receive, send)


async def main():
    sent = []
    task = asyncio.create_task(lifespan([{"type": "lifespan.startup"}], sent))
    while not sent:
        await asyncio.sleep(0.01)
    print(sent[0])
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.get("/api/items?select=id&id=eq.1")
        print(resp.status_code, resp.text)
        print((await client.get("/apix")).status_code)
    task.cancel()
    await namespace["rest"].shutdown()


asyncio.run(main())
"""


def test_django(pgrst_env: dict[str, str]) -> None:
    """In a process of its own: Django's settings are global to a process."""
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_DRIVER],
        input=python_blocks()["Django"],
        env={**os.environ, **pgrst_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == 'lifespan.startup.complete\n200 [{"id":1}]\n404\n', done.stderr
