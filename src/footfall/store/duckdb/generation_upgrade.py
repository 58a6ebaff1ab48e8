"""Upgrade of a data directory written before generations existed.

The derived tables (events, sessions, visitors, dead letters) gained a ``generation`` column,
part of their primary keys. DuckDB cannot change a primary key in place, so each older table
is renamed, created again from the schema, filled with its rows as generation 0 (the live one
of every property without a rebuild) and dropped. It is step 3 of the store's migrations
(:mod:`.migrate`), which runs it in one transaction with the new schema version: a crash leaves
the old tables as they were, and the next start upgrades them again.
"""

from __future__ import annotations

from typing import Any

DERIVED = ("events", "sessions", "visitors", "dead_letters")


def add_generations(con: Any, schema: str) -> list[str]:
    """Upgrade the derived tables that have no ``generation`` column (inside the caller's
    transaction); returns their names."""
    rows = con.execute(
        "SELECT DISTINCT table_name FROM duckdb_columns() WHERE schema_name = 'main' "
        "AND column_name = 'generation'"
    ).fetchall()
    have = {r[0] for r in rows}
    old = [t for t in DERIVED if t not in have]
    if not old:
        return []
    for table in old:
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_before_generations")
    con.execute(schema)
    for table in old:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {table}_before_generations")
        con.execute(f"DROP TABLE {table}_before_generations")
    return old
