"""Fuzzy "Perhaps you meant …" matching, scored as PostgREST's fuzzy set scores it: one minus
the Levenshtein distance over the longer length, case-insensitively. Pure."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["closest", "similarity"]


def _distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    a, b = a.lower(), b.lower()
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - _distance(a, b) / longest


def closest(word: str, candidates: Iterable[str], min_score: float) -> str | None:
    """The most similar candidate scoring at least ``min_score`` (the first of equals)."""
    best, best_score = None, min_score
    for candidate in candidates:
        score = similarity(word, candidate)
        if score > best_score or (best is None and score >= best_score):
            best, best_score = candidate, score
    return best
