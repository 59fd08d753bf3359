"""The examples' tests use the package's pytest plugin (``pgrest_asgi.pytest_plugin``, loaded
through its entry point): each test module names its example's SQL (``pgrest_sql``) and
builds the example's app (``pgrest_app``); the plugin clones a database per test from a
template loaded once, and gives the client (``pgrest_client``) and tokens (``pgrest_token``).

The plugin's cluster is the session's own (``pg_cluster``), not a second one: overriding
``pgrest_cluster`` is all it takes.
"""

from __future__ import annotations

import pytest

from pgrest_asgi.testing import PostgresCluster


@pytest.fixture(scope="session")
def pgrest_cluster(pg_cluster: PostgresCluster) -> PostgresCluster:
    return pg_cluster
