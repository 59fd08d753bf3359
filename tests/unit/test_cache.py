"""BoundedCache: SIEVE eviction, counters, removal."""

from __future__ import annotations

import pytest

from pgrest_asgi.cache import BoundedCache


def test_hits_misses_and_capacity() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    assert cache.get("a") is None
    cache.put("a", 1)
    cache.put("b", 2)
    assert (cache.get("a"), cache.get("b"), len(cache)) == (1, 2, 2)
    assert (cache.hits, cache.misses, cache.evictions) == (2, 1, 0)


def test_a_visited_entry_survives_the_next_eviction() -> None:
    cache: BoundedCache[str, int] = BoundedCache(3)
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        cache.put(key, value)
    cache.get("a")  # visited: the hand passes over it (and clears its flag)
    cache.put("d", 4)  # evicts b, the oldest not visited
    assert [k for k in "abcd" if cache.get(k) is not None] == ["a", "c", "d"]
    cache.put("e", 5)  # every survivor was just visited: the hand clears flags, evicts c
    assert [k for k in "acde" if cache.get(k) is not None] == ["a", "d", "e"]
    assert cache.evictions == 2


def test_put_replaces_discard_and_clear() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("a", 2)
    assert (cache.get("a"), len(cache)) == (2, 1)
    cache.discard("a")
    cache.discard("missing")
    assert (cache.get("a"), len(cache)) == (None, 0)
    cache.put("b", 1)
    cache.clear()
    assert len(cache) == 0
    cache.put("c", 3)  # usable after clear
    assert cache.get("c") == 3


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        BoundedCache(0)
