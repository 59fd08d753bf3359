"""The filter operator table. Plain data: a host may copy it, add an entry and pass it to
``PostgrestGrammar(operators=...)`` and ``SqlglotPlanner(operators=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

__all__ = ["FTS_FUNCTIONS", "OPERATORS", "Operator"]


class Operator(msgspec.Struct, frozen=True):
    #: The SQL operator placed between the column and the value.
    sql: str
    #: Whether ``(any)``/``(all)`` may follow the name (``eq(any).{1,2}``).
    quantifiable: bool = False
    #: ``like``/``ilike``: ``*`` in the value means ``%``.
    wildcard: bool = False


OPERATORS: Mapping[str, Operator] = {
    "eq": Operator("=", quantifiable=True),
    "gt": Operator(">", quantifiable=True),
    "gte": Operator(">=", quantifiable=True),
    "lt": Operator("<", quantifiable=True),
    "lte": Operator("<=", quantifiable=True),
    "neq": Operator("<>"),
    "like": Operator("LIKE", quantifiable=True, wildcard=True),
    "ilike": Operator("ILIKE", quantifiable=True, wildcard=True),
    "match": Operator("~", quantifiable=True),
    "imatch": Operator("~*", quantifiable=True),
    "isdistinct": Operator("IS DISTINCT FROM"),
    "cs": Operator("@>"),
    "cd": Operator("<@"),
    "ov": Operator("&&"),
    "sl": Operator("<<"),
    "sr": Operator(">>"),
    "nxr": Operator("&<"),
    "nxl": Operator("&>"),
    "adj": Operator("-|-"),
}

#: Full-text operators and the tsquery constructor each one calls.
FTS_FUNCTIONS: Mapping[str, str] = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}

#: ``is.<value>`` keywords (lower-cased) → SQL keyword. Inlined, never a parameter.
IS_VALUES: Mapping[str, str] = {
    "null": "NULL",
    "not_null": "NOT NULL",
    "true": "TRUE",
    "false": "FALSE",
    "unknown": "UNKNOWN",
}
