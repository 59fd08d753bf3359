"""``BoundedCache``: the package's one cache class. Pure.

A bounded map with SIEVE eviction (Zhang et al., NSDI 2024): a hit only sets a flag — no
reordering, so reads need no lock — and an insert past capacity evicts the first entry the
"hand" finds that was not visited since it last passed, scanning from the oldest. Inserts and
removals take a lock, so threads may share one cache. It counts hits, misses and evictions for
metrics.

Used for the SQL text of plan shapes (``sql/build.py``) and for verified JWTs
(``auth/jwt.py``).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["BoundedCache"]

K = TypeVar("K")
V = TypeVar("V")


class _Node(Generic[K, V]):
    __slots__ = ("key", "newer", "older", "value", "visited")

    def __init__(self, key: K, value: V) -> None:
        self.key = key
        self.value = value
        self.visited = False
        self.newer: _Node[K, V] | None = None
        self.older: _Node[K, V] | None = None


class BoundedCache(Generic[K, V]):
    """At most ``capacity`` entries; see the module docstring."""

    def __init__(self, capacity: int = 2048) -> None:
        if capacity < 1:
            raise ValueError(f"a cache holds at least one entry, not {capacity}")
        self.capacity = capacity
        self._map: dict[K, _Node[K, V]] = {}
        self._newest: _Node[K, V] | None = None
        self._oldest: _Node[K, V] | None = None
        self._hand: _Node[K, V] | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._map)

    def get(self, key: K) -> V | None:
        node = self._map.get(key)
        if node is None:
            self.misses += 1
            return None
        self.hits += 1
        node.visited = True
        return node.value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            node = self._map.get(key)
            if node is not None:
                node.value = value
                return
            if len(self._map) >= self.capacity:
                self._evict()
            node = _Node(key, value)
            node.older = self._newest
            if self._newest is not None:
                self._newest.newer = node
            self._newest = node
            if self._oldest is None:
                self._oldest = node
            self._map[key] = node

    def discard(self, key: K) -> None:
        with self._lock:
            node = self._map.get(key)
            if node is not None:
                self._unlink(node)

    def clear(self) -> None:
        with self._lock:
            self._map.clear()
            self._newest = self._oldest = self._hand = None

    def _evict(self) -> None:
        node = self._hand or self._oldest
        assert node is not None
        while node.visited:
            node.visited = False
            node = node.newer or self._oldest
            assert node is not None
        self._hand = node.newer  # the hand resumes from the victim's newer neighbour
        self._unlink(node)
        self.evictions += 1

    def _unlink(self, node: _Node[K, V]) -> None:
        if self._hand is node:
            self._hand = node.newer
        if node.newer is not None:
            node.newer.older = node.older
        else:
            self._newest = node.older
        if node.older is not None:
            node.older.newer = node.newer
        else:
            self._oldest = node.newer
        node.newer = node.older = None
        del self._map[node.key]
