"""Fuzzy "Perhaps you meant …" matching, as PostgREST's hints find it (the ``fuzzyset``
library's default set: trigrams, then bigrams, rescored by Levenshtein distance, a minimum
score of 0.33). Pure.

For each gram size (3, then 2) the candidates sharing a gram with the word are ranked by the
cosine similarity of their gram counts (on the lower-cased word with everything but letters,
digits, spaces and commas removed, enclosed in ``-``); the best 50 are scored again as one
minus the Levenshtein distance over the longer length (on the lower-cased names as they are),
and those scoring above the minimum are the answer, best first. An exact match
(case-insensitive) scores 1. Hints are only built for errors, never on the request path of a
good request."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

__all__ = ["MIN_SCORE", "NAME_MIN_SCORE", "closest", "matches", "similarity"]

#: The fuzzy set's default minimum score: a match must score above it. PostgREST uses it for
#: relationship and parameter hints.
MIN_SCORE = 0.33
#: PostgREST's higher bar for table and function names (hints should not reveal names that
#: merely resemble the one asked for).
NAME_MIN_SCORE = 0.75
_GRAM_SIZES = (3, 2)
_RESCORED = 50


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
    """One minus the Levenshtein distance over the longer length, case-insensitively."""
    a, b = a.lower(), b.lower()
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - _distance(a, b) / longest


def _grams(text: str, size: int) -> Counter[str]:
    kept = "".join(c for c in text.lower() if c.isalnum() or c.isspace() or c == ",")
    padded = f"-{kept}-"
    return Counter(padded[i : i + size] for i in range(len(padded) - size + 1))


def _norm(grams: Counter[str]) -> float:
    return math.sqrt(sum(n * n for n in grams.values()))


def matches(
    word: str, candidates: Iterable[str], min_score: float = MIN_SCORE
) -> list[tuple[float, str]]:
    """The candidates matching ``word``, best first, with their scores."""
    by_key: dict[str, str] = {}
    for candidate in candidates:
        by_key.setdefault(candidate.lower(), candidate)  # the first of equal names
    key = word.lower()
    if key in by_key:
        return [(1.0, by_key[key])]
    for size in _GRAM_SIZES:
        wanted = _grams(key, size)
        if not wanted:
            continue
        wanted_norm = _norm(wanted)
        cosine: list[tuple[float, str]] = []
        for lowered in by_key:
            grams = _grams(lowered, size)
            dot = sum(n * grams[g] for g, n in wanted.items() if g in grams)
            if dot:
                cosine.append((dot / (wanted_norm * _norm(grams)), lowered))
        cosine.sort(key=lambda pair: pair[0], reverse=True)  # stable: ties keep their order
        rescored = sorted(
            ((similarity(lowered, key), lowered) for _, lowered in cosine[:_RESCORED]),
            key=lambda pair: pair[0],
            reverse=True,
        )
        found = [(score, by_key[lowered]) for score, lowered in rescored if score > min_score]
        if found:
            return found
    return []


def closest(word: str, candidates: Iterable[str], min_score: float = MIN_SCORE) -> str | None:
    """The best match for ``word`` (see :func:`matches`), or ``None``."""
    found = matches(word, candidates, min_score)
    return found[0][1] if found else None
