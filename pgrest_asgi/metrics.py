"""An app's metrics, in Prometheus' format through ``prometheus_client``.

PostgREST's metrics, with its names, types, help texts and labels, and two of ours::

    pgrst_db_pool_timeouts_total                      counter
    pgrst_db_pool_available                           gauge
    pgrst_db_pool_waiting                             gauge
    pgrst_db_pool_max                                 gauge
    pgrst_schema_cache_loads_total{status}            counter   SUCCESS | FAIL
    pgrst_schema_cache_query_time_seconds             gauge
    pgrst_jwt_cache_requests_total                    counter
    pgrst_jwt_cache_hits_total                        counter
    pgrst_jwt_cache_evictions_total                   counter
    pgrst_requests_total{method,status}               counter   (ours)
    pgrst_request_duration_seconds{method,status}     histogram (ours)
    pgrst_db_replica_healthy{replica}                 gauge     (ours, with db-replica-uris)
    pgrst_db_replica_lag_seconds{replica}             gauge     (ours)
    pgrst_db_replica_pool_available{replica}          gauge     (ours)
    pgrst_db_replica_pool_waiting{replica}            gauge     (ours)
    pgrst_db_replica_pool_max{replica}                gauge     (ours)

Everything is one ``prometheus_client`` *collector*, ``Metrics.collector``, registered in the
app's own ``CollectorRegistry`` (``Metrics.registry``, what ``/metrics`` on ``app.admin``
answers) and never in prometheus_client's global ``REGISTRY``, so any number of apps live in
one process. A host joins its own registry with ``REGISTRY.register(app.metrics.collector)``
(or ``Metrics.combined({"a": a.metrics, "b": b.metrics})`` when two apps share one).

Under ``pgrest-asgi serve --workers N`` every worker is a process of its own: the workers
without the admin server write a snapshot of their figures (``snapshot``) every second, and
the one with it adds theirs (``peers``) to its own when scraped, so ``/metrics`` counts every
worker (``merge``: counters and histograms add up, as do the pool gauges; a lag or a load
time is the largest, a replica is healthy when it is for every worker).

What already lives elsewhere is read when scraped, never pushed per request: the pool's
figures from the executor (``pool_stats()``), the JWT cache's counters from the authenticator
(``cache_stats()``), the schema cache's loads from ``SchemaState``. Hooks that do not have
these simply leave those metrics out. The only per-request work is ``observe_request``: one
dict lookup and a few additions on plain numbers (no ``prometheus_client`` child, no lock:
requests run on the event loop's thread, and the additions never await).
"""

from __future__ import annotations

import bisect
import copy
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .schema.state import SchemaState

__all__ = ["DURATION_BUCKETS", "Metrics"]

#: Upper bounds (seconds) of ``pgrst_request_duration_seconds``' buckets: a cached read
#: answers in about a millisecond in process, a slow transaction in seconds.
DURATION_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: Methods counted under their own name; any other is counted as ``OTHER`` (a client cannot
#: make up new series).
_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"})


class _Series:
    """One ``{method, status}``: its count, its sum and its (non-cumulative) bucket counts."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self, size: int) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * size


class Metrics:
    """The metrics of one app (``app.metrics``). ``executor``, ``schema`` and
    ``authenticator`` are read when scraped, through ``pool_stats()``, ``loads`` /
    ``load_seconds`` and ``cache_stats()`` when they have them."""

    def __init__(
        self,
        executor: object = None,
        schema: SchemaState | None = None,
        authenticator: object = None,
        *,
        buckets: Iterable[float] = DURATION_BUCKETS,
    ) -> None:
        self.executor = executor
        self.schema = schema
        self.authenticator = authenticator
        self.bounds: tuple[float, ...] = tuple(sorted(buckets))
        self._series: dict[tuple[str, int], _Series] = {}
        #: Other processes' figures to add to this one's when scraped (``serve --workers``):
        #: a callable giving one list of families per process (see ``read_snapshot``).
        self.peers: Callable[[], Iterable[list[Metric]]] | None = None
        self.collector = _Collector(self)
        #: The app's own registry: what ``/metrics`` answers.
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)

    # -- per request ---------------------------------------------------------------------------
    def observe_request(self, method: str, status: int, seconds: float) -> None:
        """Count a request answered with ``status`` after ``seconds``."""
        series = self._series.get((method, status))
        if series is None:
            series = self._new_series(method, status)
        series.count += 1
        series.total += seconds
        series.buckets[bisect.bisect_left(self.bounds, seconds)] += 1

    def _new_series(self, method: str, status: int) -> _Series:
        if method not in _METHODS:
            method = "OTHER"
        series = self._series.get((method, status))
        if series is None:
            series = self._series[(method, status)] = _Series(len(self.bounds) + 1)
        return series

    # -- scrapes -------------------------------------------------------------------------------
    @staticmethod
    def combined(apps: Mapping[str, Metrics], label: str = "app") -> Collector:
        """One collector for several apps' metrics, each sample labelled with its app's
        name (``Metrics.combined({"orders": a.metrics, "users": b.metrics})``): a registry
        refuses two collectors of the same metric names, so apps that share one registry
        register this instead of their own collectors."""
        return _Combined(dict(apps), label)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format (version 0.0.4)."""
        from prometheus_client.exposition import generate_latest

        return generate_latest(self.registry)

    def families(self) -> Iterator[Metric]:
        """Every metric, with the figures of this moment (and the peers' last snapshots,
        when there are peers)."""
        peers = self.peers
        if peers is None:
            return self.own_families()
        try:
            others = list(peers())
        except Exception:  # a scrape answers whatever one source does
            others = []
        return merge([list(self.own_families()), *others])

    def snapshot(self) -> bytes:
        """This process's figures (``own_families``) as JSON, for ``read_snapshot``."""
        return _SNAPSHOT.encode(
            [
                (
                    f.name,
                    f.documentation,
                    f.type,
                    f.unit,
                    [(x.name, x.labels, x.value) for x in f.samples],
                )
                for f in self.own_families()
            ]
        )

    def own_families(self) -> Iterator[Metric]:
        """This process's metrics, with the figures of this moment."""
        stats = _read(_unwrapped(self.executor, "pool_stats"))
        if stats is not None:
            yield from _pool_families(stats)
        replicas = _unwrapped(self.executor, "replica_stats")
        if replicas is not None:
            try:
                figures = replicas()
            except Exception:  # a scrape answers whatever one source does
                figures = []
            yield from _replica_families(figures)
        schema = self.schema
        if schema is not None:
            yield from _schema_families(schema.loads, schema.load_seconds or 0.0)
        stats = _read(getattr(self.authenticator, "cache_stats", None))
        if stats is not None:
            yield from _jwt_families(stats)
        yield from _request_families(self._series, self.bounds)


def _pool_families(stats: dict[str, int]) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "pgrst_db_pool_timeouts",
        "The total number of pool connection timeouts",
        value=stats.get("timeouts", 0),
    )
    for name, key, text in (
        ("pgrst_db_pool_available", "available", "Available connections in the pool"),
        ("pgrst_db_pool_waiting", "waiting", "Requests waiting to acquire a pool connection"),
        ("pgrst_db_pool_max", "max", "Max pool connections"),
    ):
        yield GaugeMetricFamily(name, text, value=stats.get(key, 0))


def _replica_families(replicas: list[dict[str, Any]]) -> Iterator[Metric]:
    """One sample per read replica, labelled with its ``host:port/dbname``; nothing without
    replicas. The lag is NaN while unknown (down, or not measurable)."""
    if not replicas:
        return
    for name, key, text in (
        ("pgrst_db_replica_healthy", "healthy", "1 when the replica takes reads"),
        ("pgrst_db_replica_lag_seconds", "lag", "Replay lag at the last check"),
        ("pgrst_db_replica_pool_available", "available", "Available connections"),
        ("pgrst_db_replica_pool_waiting", "waiting", "Requests waiting for a connection"),
        ("pgrst_db_replica_pool_max", "max", "Max connections of the replica's pool"),
    ):
        family = GaugeMetricFamily(name, text, labels=["replica"])
        for replica in replicas:
            value = replica.get(key)
            family.add_metric([str(replica["replica"])], math.nan if value is None else value)
        yield family


def _schema_families(loads: dict[str, int], seconds: float) -> Iterator[Metric]:
    family = CounterMetricFamily(
        "pgrst_schema_cache_loads",
        "The total number of times the schema cache was loaded",
        labels=["status"],
    )
    for status, count in loads.items():
        family.add_metric([status], count)
    yield family
    yield GaugeMetricFamily(
        "pgrst_schema_cache_query_time_seconds",
        "The query time in seconds of the last schema cache load",
        value=seconds,
    )


def _jwt_families(stats: dict[str, int]) -> Iterator[Metric]:
    hits = stats.get("hits", 0)
    lookups = hits + stats.get("misses", 0)
    evictions = stats.get("evictions", 0)
    for name, value, text in (
        ("pgrst_jwt_cache_requests", lookups, "The total number of JWT cache lookups"),
        ("pgrst_jwt_cache_hits", hits, "The total number of JWT cache hits"),
        ("pgrst_jwt_cache_evictions", evictions, "The total number of JWT cache evictions"),
    ):
        yield CounterMetricFamily(name, text, value=value)


def _request_families(
    by_labels: dict[tuple[str, int], _Series], bounds: tuple[float, ...]
) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "pgrst_requests",
        "The total number of requests answered, by method and status",
        labels=["method", "status"],
    )
    durations = HistogramMetricFamily(
        "pgrst_request_duration_seconds",
        "The time from receiving a request to sending its answer, by method and status",
        labels=["method", "status"],
    )
    les = [*(repr(float(b)) for b in bounds), "+Inf"]
    for (method, status), series in sorted(by_labels.items()):
        labels = [method, str(status)]
        requests.add_metric(labels, series.count)
        cumulative, running = [], 0
        for le, count in zip(les, series.buckets, strict=True):
            running += count
            cumulative.append((le, running))
        durations.add_metric(labels, cumulative, series.total)
    yield requests
    yield durations


class _Collector(Collector):
    """The ``prometheus_client`` collector of a ``Metrics``. ``describe`` names the metrics
    without reading anything, so registering it in a registry that checks for duplicate
    names touches neither the pool nor the caches."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self.metrics.families()

    def describe(self) -> Iterator[Metric]:
        yield from _pool_families({})
        yield from _schema_families({}, 0.0)
        yield from _jwt_families({})
        yield from _request_families({}, ())


class _Combined(_Collector):
    """Several apps' metrics as one family per name, their samples labelled by app."""

    def __init__(self, apps: dict[str, Metrics], label: str) -> None:
        self.apps = apps
        self.label = label

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for app, metrics in self.apps.items():
            for family in metrics.families():
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = copy.copy(family)
                    into.samples = []
                into.samples += [
                    s._replace(labels={self.label: app, **s.labels}) for s in family.samples
                ]
        return iter(merged.values())


_SNAPSHOT = msgspec.json.Encoder()
#: JSON has no NaN: an unknown value (a lag) is written as ``null``.
_Snapshot = list[tuple[str, str, str, str, list[tuple[str, dict[str, str], float | None]]]]


def read_snapshot(data: bytes) -> list[Metric]:
    """The families ``Metrics.snapshot`` wrote (``msgspec.ValidationError`` or
    ``msgspec.DecodeError`` for anything else)."""
    families = []
    for name, documentation, kind, unit, samples in msgspec.json.decode(data, type=_Snapshot):
        family = Metric(name, documentation, kind, unit)
        for sample, labels, value in samples:
            family.add_sample(sample, labels, math.nan if value is None else value)
        families.append(family)
    return families


#: Gauges that do not add up across processes: the largest value is the one to report…
_GAUGE_MAX = frozenset({"pgrst_schema_cache_query_time_seconds", "pgrst_db_replica_lag_seconds"})
#: …or the smallest (a replica takes reads only where every process finds it healthy).
_GAUGE_MIN = frozenset({"pgrst_db_replica_healthy"})


def merge(groups: Iterable[list[Metric]]) -> Iterator[Metric]:
    """Several processes' families as one set, in the first group's order (then new names):
    samples of the same name and labels add up, except for the gauges of ``_GAUGE_MAX`` and
    ``_GAUGE_MIN``. A NaN (unknown) gives way to a known value."""
    merged: dict[str, tuple[Metric, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for families in groups:
        for family in families:
            entry = merged.get(family.name)
            if entry is None:
                entry = merged[family.name] = (family, {})
            values = entry[1]
            pick = max if family.name in _GAUGE_MAX else min if family.name in _GAUGE_MIN else None
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                old = values.get(key)
                value = sample.value
                if old is None or math.isnan(old):
                    values[key] = value
                elif math.isnan(value):
                    continue
                else:
                    values[key] = pick(old, value) if pick is not None else old + value
    for family, values in merged.values():
        out = Metric(family.name, family.documentation, family.type, family.unit)
        for (name, labels), value in values.items():
            out.add_sample(name, dict(labels), value)
        yield out


def _read(source: Callable[[], dict[str, int]] | None) -> dict[str, int] | None:
    """A source's figures; ``None`` when there is no source or it failed (a scrape must
    answer whatever one source does)."""
    if source is None:
        return None
    try:
        return source()
    except Exception:
        return None


def _unwrapped(executor: object, name: str) -> Any:
    """``executor.<name>``, or that of the executor it wraps (``ExecutorWrapper.inner``)."""
    for _ in range(8):
        found = getattr(executor, name, None)
        if found is not None:
            return found
        try:
            executor = getattr(executor, "inner", None)
        except Exception:  # an unbound ExecutorWrapper
            return None
        if executor is None:
            return None
    return None
