"""The metrics collector: PostgREST's names, types and help texts, read from their sources
when scraped; the request counter and histogram; registries that do not collide."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pgrest_asgi import ExecutorWrapper, Metrics, PgRestApp

#: PostgREST's metrics: name → (type, help).
POSTGREST = {
    "pgrst_db_pool_timeouts": ("counter", "The total number of pool connection timeouts"),
    "pgrst_db_pool_available": ("gauge", "Available connections in the pool"),
    "pgrst_db_pool_waiting": ("gauge", "Requests waiting to acquire a pool connection"),
    "pgrst_db_pool_max": ("gauge", "Max pool connections"),
    "pgrst_schema_cache_loads": (
        "counter",
        "The total number of times the schema cache was loaded",
    ),
    "pgrst_schema_cache_query_time_seconds": (
        "gauge",
        "The query time in seconds of the last schema cache load",
    ),
    "pgrst_jwt_cache_requests": ("counter", "The total number of JWT cache lookups"),
    "pgrst_jwt_cache_hits": ("counter", "The total number of JWT cache hits"),
    "pgrst_jwt_cache_evictions": ("counter", "The total number of JWT cache evictions"),
}


class Pool:
    def __init__(self, **stats: int) -> None:
        self.stats = stats
        self.reads = 0

    def pool_stats(self) -> dict[str, int]:
        self.reads += 1
        return self.stats


class Schema:
    def __init__(self, success: int = 0, fail: int = 0, seconds: float | None = None) -> None:
        self.loads = {"SUCCESS": success, "FAIL": fail}
        self.load_seconds = seconds


class Jwt:
    def __init__(self, **stats: int) -> None:
        self.stats = stats

    def cache_stats(self) -> dict[str, int]:
        return self.stats


def scrape(source: Any) -> dict[str, Any]:
    """name → family, from the text format (as Prometheus reads it)."""
    text = generate_latest(source).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict[str, Any], sample: str, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == sample and s.labels == labels:
                return float(s.value)
    raise AssertionError(f"no sample {sample}{labels}")


def full() -> Metrics:
    return Metrics(
        Pool(available=3, waiting=2, max=10, timeouts=4),
        Schema(success=2, fail=1, seconds=0.0125),  # type: ignore[arg-type]
        Jwt(hits=5, misses=2, evictions=1, size=1),
    )


def test_postgrests_metrics_names_types_and_help() -> None:
    families = scrape(full().registry)
    for name, (kind, text) in POSTGREST.items():
        assert (families[name].type, families[name].documentation) == (kind, text), name


def test_values_come_from_their_sources() -> None:
    families = scrape(full().registry)
    assert value(families, "pgrst_db_pool_timeouts_total") == 4
    assert value(families, "pgrst_db_pool_available") == 3
    assert value(families, "pgrst_db_pool_waiting") == 2
    assert value(families, "pgrst_db_pool_max") == 10
    assert value(families, "pgrst_schema_cache_loads_total", status="SUCCESS") == 2
    assert value(families, "pgrst_schema_cache_loads_total", status="FAIL") == 1
    assert value(families, "pgrst_schema_cache_query_time_seconds") == 0.0125
    assert value(families, "pgrst_jwt_cache_requests_total") == 7  # hits + misses
    assert value(families, "pgrst_jwt_cache_hits_total") == 5
    assert value(families, "pgrst_jwt_cache_evictions_total") == 1


def test_figures_are_read_when_scraped_not_before() -> None:
    pool = Pool(available=1, waiting=0, max=2, timeouts=0)
    metrics = Metrics(pool)
    for _ in range(5):
        metrics.observe_request("GET", 200, 0.001)
    assert pool.reads == 0
    pool.stats["available"] = 0
    assert value(scrape(metrics.registry), "pgrst_db_pool_available") == 0
    assert pool.reads == 1


def test_requests_counter_and_histogram() -> None:
    metrics = Metrics()
    for seconds in (0.0003, 0.0005, 0.004, 0.2, 30.0):
        metrics.observe_request("GET", 200, seconds)
    metrics.observe_request("POST", 201, 0.01)
    metrics.observe_request("GET", 404, 0.001)
    families = scrape(metrics.registry)
    assert families["pgrst_requests"].type == "counter"
    assert families["pgrst_request_duration_seconds"].type == "histogram"
    assert value(families, "pgrst_requests_total", method="GET", status="200") == 5
    assert value(families, "pgrst_requests_total", method="POST", status="201") == 1
    assert value(families, "pgrst_requests_total", method="GET", status="404") == 1
    get = {"method": "GET", "status": "200"}
    buckets = {
        s.labels["le"]: s.value
        for s in families["pgrst_request_duration_seconds"].samples
        if s.name.endswith("_bucket") and {**s.labels, "le": ""} == {**get, "le": ""}
    }
    # Cumulative, with the upper bound included (0.0005 counts in le="0.0005").
    assert buckets["0.0005"] == 2
    assert buckets["0.001"] == 2
    assert buckets["0.005"] == 3
    assert buckets["0.25"] == 4
    assert buckets["10.0"] == 4
    assert buckets["+Inf"] == 5
    assert value(families, "pgrst_request_duration_seconds_count", **get) == 5
    assert value(families, "pgrst_request_duration_seconds_sum", **get) == pytest.approx(30.2048)


def test_made_up_methods_share_one_series() -> None:
    metrics = Metrics()
    for method in ("BREW", "PROPFIND", "X" * 50):
        metrics.observe_request(method, 405, 0.001)
    families = scrape(metrics.registry)
    assert value(families, "pgrst_requests_total", method="OTHER", status="405") == 3
    assert len(families["pgrst_requests"].samples) == 1


def test_sources_a_hook_lacks_are_left_out() -> None:
    families = scrape(Metrics(object(), None, object()).registry)
    assert set(families) == {"pgrst_requests", "pgrst_request_duration_seconds"}


def test_a_failing_source_leaves_out_its_metrics_only() -> None:
    class Broken:
        def pool_stats(self) -> dict[str, int]:
            raise RuntimeError("no")

    families = scrape(Metrics(Broken(), Schema(1)).registry)  # type: ignore[arg-type]
    assert "pgrst_db_pool_available" not in families
    assert value(families, "pgrst_schema_cache_loads_total", status="SUCCESS") == 1


def test_a_wrapped_executors_pool_is_found() -> None:
    class Wrapper:
        def __init__(self, inner: object) -> None:
            self.inner = inner

    pool = Pool(available=1, waiting=0, max=5, timeouts=0)
    families = scrape(Metrics(Wrapper(Wrapper(pool))).registry)
    assert value(families, "pgrst_db_pool_max") == 5
    # An ExecutorWrapper not bound yet has no executor: no pool metrics, no error.
    assert "pgrst_db_pool_max" not in scrape(Metrics(ExecutorWrapper()).registry)


def test_apps_have_registries_of_their_own() -> None:
    one = PgRestApp("postgresql://nobody@/none", schemas=["api"])
    two = PgRestApp("postgresql://nobody@/none", schemas=["api"])
    assert one.metrics.registry is not two.metrics.registry
    one.metrics.observe_request("GET", 200, 0.001)
    assert "pgrst_requests_total{" in one.metrics.exposition().decode()
    assert "pgrst_requests_total{" not in two.metrics.exposition().decode()


def test_a_host_joins_its_registry() -> None:
    host = CollectorRegistry()  # auto_describe, as prometheus_client's global REGISTRY
    pool = Pool(available=1, waiting=0, max=5, timeouts=0)
    metrics = Metrics(pool, Schema(1))  # type: ignore[arg-type]
    host.register(metrics.collector)
    assert pool.reads == 0  # registering names the metrics without reading them
    metrics.observe_request("GET", 200, 0.001)
    families = scrape(host)
    assert value(families, "pgrst_requests_total", method="GET", status="200") == 1
    assert value(families, "pgrst_db_pool_max") == 5
    # A second app's unlabelled metrics would collide...
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        host.register(Metrics(pool).collector)
    # ...so apps that share a registry register one collector, their samples labelled.
    other = CollectorRegistry()
    other.register(Metrics.combined({"one": metrics, "two": Metrics(Pool(max=7))}))
    families = scrape(other)
    assert value(families, "pgrst_db_pool_max", app="one") == 5
    assert value(families, "pgrst_db_pool_max", app="two") == 7
    assert value(families, "pgrst_requests_total", app="one", method="GET", status="200") == 1
    assert families["pgrst_db_pool_max"].documentation == "Max pool connections"


class Replicas:
    def __init__(self, healthy: int, lag: float | None) -> None:
        self.figures = [
            {"replica": "r1:5432", "healthy": healthy, "lag": lag, "available": 2, "max": 3}
        ]

    def replica_stats(self) -> list[dict[str, Any]]:
        return self.figures


class PoolAndReplicas(Pool, Replicas):
    def __init__(self, healthy: int, lag: float | None, **stats: int) -> None:
        Pool.__init__(self, **stats)
        Replicas.__init__(self, healthy, lag)


def test_workers_snapshots_add_up() -> None:
    """``serve --workers``: the first worker's scrape with the others' snapshots (through
    JSON, as the files carry them): counters, histograms and pool gauges add up; the schema
    load time and a replica's lag are the largest, its health the smallest; an unknown lag
    gives way to a known one."""
    from pgrest_asgi.metrics import read_snapshot

    first = Metrics(
        PoolAndReplicas(1, None, available=3, waiting=0, max=10, timeouts=1),
        Schema(success=1, seconds=0.02),  # type: ignore[arg-type]
        Jwt(hits=5, misses=2, evictions=0),
    )
    second = Metrics(
        PoolAndReplicas(0, 2.5, available=1, waiting=4, max=10, timeouts=2),
        Schema(success=2, seconds=0.05),  # type: ignore[arg-type]
        Jwt(hits=1, misses=1, evictions=1),
    )
    for metrics, times in ((first, (0.001, 0.2)), (second, (0.001, 0.001, 7.0))):
        for seconds in times:
            metrics.observe_request("GET", 200, seconds)
    second.observe_request("POST", 201, 0.01)
    first.peers = lambda: [read_snapshot(second.snapshot())]
    families = scrape(first.registry)
    assert value(families, "pgrst_db_pool_timeouts_total") == 3
    assert value(families, "pgrst_db_pool_available") == 4
    assert value(families, "pgrst_db_pool_waiting") == 4
    assert value(families, "pgrst_db_pool_max") == 20
    assert value(families, "pgrst_schema_cache_loads_total", status="SUCCESS") == 3
    assert value(families, "pgrst_schema_cache_query_time_seconds") == 0.05
    assert value(families, "pgrst_jwt_cache_requests_total") == 9
    assert value(families, "pgrst_requests_total", method="GET", status="200") == 5
    assert value(families, "pgrst_requests_total", method="POST", status="201") == 1
    get = {"method": "GET", "status": "200"}
    assert value(families, "pgrst_request_duration_seconds_count", **get) == 5
    assert value(families, "pgrst_request_duration_seconds_sum", **get) == pytest.approx(7.203)
    assert value(families, "pgrst_request_duration_seconds_bucket", le="+Inf", **get) == 5
    assert value(families, "pgrst_db_replica_healthy", replica="r1:5432") == 0
    assert value(families, "pgrst_db_replica_lag_seconds", replica="r1:5432") == 2.5
    assert value(families, "pgrst_db_replica_pool_max", replica="r1:5432") == 6
    # Without peers, the first worker's own figures only.
    first.peers = None
    assert value(scrape(first.registry), "pgrst_db_pool_max") == 10
    # Both lags unknown: NaN, as for one worker.
    second.executor.figures[0]["lag"] = None  # type: ignore[attr-defined]
    first.peers = lambda: [read_snapshot(second.snapshot())]
    lag = value(scrape(first.registry), "pgrst_db_replica_lag_seconds", replica="r1:5432")
    assert lag != lag  # NaN
    # Peers that cannot be read are left out: the scrape answers this worker's figures.
    first.peers = lambda: [read_snapshot(b"not json")]
    assert value(scrape(first.registry), "pgrst_db_pool_max") == 10
