"""The filter operator table. Plain data: a host adds an operator in one place, the table it
gives the grammar, and it works end to end::

    grammar = PostgrestGrammar(operators={**OPERATORS, "startswith": Operator("^@")})

The grammar attaches the operator's entry to each filter it parses, and the planner uses that
entry. (``SqlglotPlanner(operators=...)`` is only consulted for filters built by a grammar of
a host's own that attaches no entry; an operator no table defines is 400 ``PGRST100``.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

__all__ = ["FTS_FUNCTIONS", "OPERATORS", "Operator"]


#: What ``Operator.sql`` may be: PostgreSQL operator characters, or upper-case keywords.
_SQL_OPERATOR = re.compile(r"[-+*/<>=~!@#%^&|`?]{1,63}|[A-Z]+(?: [A-Z]+)*")


class Operator(msgspec.Struct, frozen=True):
    """One filter operator: ``<column> <sql> <value parameter>``."""

    #: The SQL operator placed between the column and the value: operator characters
    #: (``^@``, ``&&``) or keywords (``ILIKE``, ``IS DISTINCT FROM``); checked, since it is
    #: written into the SQL as it is.
    sql: str
    #: Whether ``(any)``/``(all)`` may follow the name (``eq(any).{1,2}``).
    quantifiable: bool = False
    #: ``like``/``ilike``: ``*`` in the value means ``%``.
    wildcard: bool = False

    def __post_init__(self) -> None:
        if not _SQL_OPERATOR.fullmatch(self.sql):
            raise ValueError(
                f"Operator(sql={self.sql!r}): an operator is PostgreSQL operator characters "
                "(e.g. '^@') or upper-case keywords (e.g. 'ILIKE'), nothing else"
            )


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
