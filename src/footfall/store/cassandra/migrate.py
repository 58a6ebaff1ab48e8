"""Versioned schema migrations for the Cassandra store, applied by ``footfall migrate``.

Each file ``migrations/NNNN_name.cql`` is one version; statements are idempotent
(``IF NOT EXISTS``), and the applied versions are recorded in ``schema_migrations``.
"""

from __future__ import annotations

import re
import time
from importlib import resources
from typing import Any

_FILE = re.compile(r"(\d{4})_(\w+)\.cql")


def replication(spec: str) -> dict[str, Any]:
    """``NetworkTopologyStrategy:dc1=3,dc2=3`` or ``SimpleStrategy:1`` as a CQL replication map."""
    strategy, _, rest = spec.partition(":")
    if strategy == "SimpleStrategy":
        return {"class": strategy, "replication_factor": int(rest or "1")}
    if strategy == "NetworkTopologyStrategy":
        dcs = {}
        for part in rest.split(","):
            dc, _, factor = part.partition("=")
            if not dc or not factor.isdigit():
                raise ValueError(f"replication {spec!r}: write NetworkTopologyStrategy:dc1=3,dc2=3")
            dcs[dc.strip()] = int(factor)
        return {"class": strategy, **dcs}
    raise ValueError(f"replication {spec!r}: use NetworkTopologyStrategy:dc=N or SimpleStrategy:N")


def migrations() -> list[tuple[int, str, list[str]]]:
    folder = resources.files("footfall.store.cassandra").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        m = _FILE.fullmatch(entry.name)
        if not m:
            continue
        text = "\n".join(
            line for line in entry.read_text().splitlines() if not line.strip().startswith("--")
        )
        statements = [s.strip() for s in text.split(";") if s.strip()]
        found.append((int(m.group(1)), m.group(2), statements))
    return sorted(found)


def latest_version() -> int:
    return max((v for v, _n, _s in migrations()), default=0)


def applied_version(session: Any, keyspace: str) -> int:
    rows = session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s AND table_name = 'schema_migrations'",
        (keyspace,),
    )
    if not list(rows):
        return 0
    versions = [
        r.version for r in session.execute(f'SELECT version FROM "{keyspace}".schema_migrations')
    ]
    return max(versions, default=0)


def migrate(session: Any, keyspace: str, replication_spec: str) -> list[int]:
    """Create the keyspace if needed and apply every migration not applied yet."""
    options = replication(replication_spec)
    params = ", ".join(
        f"'{k}': {v!r}" if isinstance(v, str) else f"'{k}': {v}" for k, v in options.items()
    )
    session.execute(f'CREATE KEYSPACE IF NOT EXISTS "{keyspace}" WITH replication = {{{params}}}')
    session.execute(
        f'CREATE TABLE IF NOT EXISTS "{keyspace}".schema_migrations '
        "(version int PRIMARY KEY, name text, applied_at bigint)"
    )
    done = applied_version(session, keyspace)
    applied = []
    session.set_keyspace(keyspace)
    for version, name, statements in migrations():
        if version <= done:
            continue
        for statement in statements:
            session.execute(statement, timeout=120)
        session.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
            (version, name, time.time_ns() // 1000),
        )
        applied.append(version)
    return applied
