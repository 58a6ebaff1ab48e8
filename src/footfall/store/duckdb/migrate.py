"""The embedded store's schema version and the steps that bring an older file up to it.

``schema.sql`` always describes the latest version, and a new file is created from it. A file
written by an older footfall has the version in ``meta`` (files of version 1 have none); each
step from there on runs in one transaction with the new version, so a crash leaves the file at
the old version or the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from footfall.store.duckdb.generation_upgrade import add_generations

VERSION_KEY = "schema_version"
# version → the statements (or a function of the connection and the latest schema) that bring
# a file from the version before to it
STEPS: dict[int, tuple[str, ...] | Callable[[Any, str], object]] = {
    # event values: DOUBLE in the currency they were sent in → BIGINT micros. Values are copied
    # as they are; re-process a property to convert other currencies with exchange rates.
    2: (
        "ALTER TABLE events ADD COLUMN value_micros BIGINT",
        # half to even, as schema.money.to_micros and the cluster's reads of old rows round
        "UPDATE events SET value_micros = CAST(round_even(value * 1000000, 0) AS BIGINT) "
        "WHERE value IS NOT NULL AND abs(value) < 1e12",
        "ALTER TABLE events DROP COLUMN value",
    ),
    # derived rows tagged with their property's generation, part of their primary keys, so a
    # re-processing builds the next one beside the live one
    3: add_generations,
    # when a finished rebuild's leftover generations were deleted: a start settles only the
    # rebuilds still without it (those of older files, once); a file older than version 3
    # got the whole table from schema.sql already
    4: ("ALTER TABLE rebuilds ADD COLUMN IF NOT EXISTS settled_at BIGINT",),
}
LATEST = max(STEPS)


def _has_events(con: Any) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = 'events'"
    ).fetchall()
    return bool(rows[0][0])


def migrate(con: Any) -> int:
    """Create or upgrade the store's tables on ``con``; returns the version the file had
    (``LATEST`` for a new file)."""
    existing = _has_events(con)
    schema = resources.files("footfall.store.duckdb").joinpath("schema.sql").read_text()
    con.execute(schema)  # creates what is missing; existing tables are left as they are
    found = con.execute("SELECT value FROM meta WHERE key = ?", [VERSION_KEY]).fetchall()
    version = int(found[0][0]) if found else (1 if existing else LATEST)
    if version > LATEST:
        raise RuntimeError(
            f"this store file is at schema version {version}; this footfall reads up to "
            f"{LATEST}: run a newer footfall"
        )
    start = version
    for step in range(version + 1, LATEST + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            todo = STEPS[step]
            if callable(todo):
                todo(con, schema)
            else:
                for statement in todo:
                    con.execute(statement)
            _set_version(con, step)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        version = step
    if not found:
        _set_version(con, version)
    return start


def _set_version(con: Any, version: int) -> None:
    con.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
        [VERSION_KEY, str(version)],
    )
