"""Relationships between exposed relations, derived from the schema cache's foreign keys. Pure.

Every foreign key ``T(cols) → F(fcols)`` gives two relationships: many-to-one from ``T`` and
one-to-many from ``F`` (one-to-one both ways when ``cols`` is also a key of ``T``). A junction
table ``J`` with foreign keys to ``A`` and to ``B`` whose columns all lie in ``J``'s primary key
gives many-to-many ``A ↔ B``. Views carry the keys derived for them by the loader, so they
take part like tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from .model import ForeignKey, Junction, QualifiedName, Relationship, Routine, Table

__all__ = ["relationships_by_source"]


def relationships_by_source(
    tables: Mapping[QualifiedName, Table],
    foreign_keys: Iterable[ForeignKey],
    routines: Iterable[Routine] = (),
) -> dict[QualifiedName, tuple[Relationship, ...]]:
    """Every relationship among ``tables``, grouped by the relation that embeds.

    Computed relationships come from functions ``f(parent) RETURNS [SETOF] target``: to-many
    when they return a set (unless declared ``ROWS 1``), and they replace a detected
    relationship to a target of the same name.
    """
    out: dict[QualifiedName, list[Relationship]] = defaultdict(list)
    keys = [fk for fk in foreign_keys if fk.table in tables and fk.foreign_table in tables]
    for fk in keys:
        out[fk.table].append(
            Relationship(
                table=fk.table,
                foreign_table=fk.foreign_table,
                cardinality="o2o" if fk.one_to_one else "m2o",
                constraint=fk.constraint,
                columns=fk.columns,
                foreign_columns=fk.foreign_columns,
            )
        )
        out[fk.foreign_table].append(
            Relationship(
                table=fk.foreign_table,
                foreign_table=fk.table,
                cardinality="o2o" if fk.one_to_one else "o2m",
                constraint=fk.constraint,
                columns=fk.foreign_columns,
                foreign_columns=fk.columns,
            )
        )
    by_junction: dict[QualifiedName, list[ForeignKey]] = defaultdict(list)
    for fk in keys:
        by_junction[fk.table].append(fk)
    for junction_name, fks in by_junction.items():
        primary_key = set(tables[junction_name].primary_key)
        inside = [fk for fk in fks if primary_key and set(fk.columns) <= primary_key]
        for left in inside:
            for right in inside:
                if left is right or left.constraint == right.constraint:
                    continue
                out[left.foreign_table].append(
                    Relationship(
                        table=left.foreign_table,
                        foreign_table=right.foreign_table,
                        cardinality="m2m",
                        constraint=right.constraint,
                        columns=left.foreign_columns,
                        foreign_columns=right.foreign_columns,
                        junction=Junction(
                            table=junction_name,
                            source_constraint=left.constraint,
                            source_columns=left.columns,
                            target_constraint=right.constraint,
                            target_columns=right.columns,
                        ),
                    )
                )
    for routine in routines:
        source = routine.row_argument
        if (
            source is None
            or source not in tables
            or len(routine.params) != 1
            or routine.return_kind != "composite"
            or routine.return_type_schema is None
        ):
            continue
        target = QualifiedName(routine.return_type_schema, routine.return_type)
        if target not in tables:
            continue
        to_many = routine.returns_set and routine.rows != 1
        # It overrides a relationship found from foreign keys under the same name — not
        # another computed one.
        out[source] = [
            rel
            for rel in out[source]
            if rel.function is not None or rel.foreign_table.name != routine.name
        ]
        out[source].append(
            Relationship(
                table=source,
                foreign_table=target,
                cardinality="o2m" if to_many else "m2o",
                constraint=routine.name,
                columns=(),
                foreign_columns=(),
                function=QualifiedName(routine.schema, routine.name),
            )
        )
    return {source: tuple(rels) for source, rels in out.items()}
