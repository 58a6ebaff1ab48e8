"""Tenancy records, usage counts, small facts (salts, the schema version) and exchange rates on
DuckDB: the lookups the gateway and the processor make on every request and batch, on the
store's own lookup cursor. :class:`DuckDBStore` mixes these methods in."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from footfall.store import R, RateRow, UsageRow
from footfall.store.duckdb import arrow
from footfall.tenancy.model import Record, decode_record, record_row


class TenancyTables:
    """The :class:`footfall.store.TenancyStore`, ``UsageStore``, ``MetaStore`` and
    ``RateStore`` ports."""

    if TYPE_CHECKING:  # provided by DuckDBStore

        def _transaction(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]: ...

        def _lookup_reader(
            self,
        ) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]: ...

        @staticmethod
        def _insert(con: duckdb.DuckDBPyConnection, sql: str, table: pa.Table) -> None: ...

    # -- TenancyStore ------------------------------------------------------------------------

    def insert(self, record: Record) -> bool:
        """Checked under the writer lock, with the primary key and the unique lookup index
        behind the check: a clash is never written over."""
        try:
            with self._transaction() as con:
                taken = con.execute(
                    "SELECT count(*) FROM tenancy WHERE kind = ? "
                    "AND (id = ? OR (lookup <> '' AND lookup = ?))",
                    [record.KIND, record.record_id, record.lookup],
                ).fetchall()
                if taken[0][0]:
                    return False
                con.execute("INSERT INTO tenancy VALUES (?, ?, ?, ?, ?, ?)", record_row(record))
        except duckdb.ConstraintException:
            return False  # the transaction was rolled back
        return True

    def put(self, record: Record) -> None:
        with self._transaction() as con:
            con.execute(
                "INSERT INTO tenancy VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET "
                "lookup = excluded.lookup, account_id = excluded.account_id, "
                "property_id = excluded.property_id, doc = excluded.doc",
                record_row(record),
            )

    def _records(self, where: str, params: list[Any]) -> list[Record]:
        with self._lookup_reader() as cur:
            rows = cur.execute(
                f"SELECT doc FROM tenancy WHERE {where} ORDER BY id", params
            ).fetchall()
        return [decode_record(r[0]) for r in rows]

    def get(self, kind: type[R], record_id: str) -> R | None:
        found = self._records("kind = ? AND id = ?", [kind.KIND, record_id])
        return found[0] if found and isinstance(found[0], kind) else None

    def find(self, kind: type[R], lookup: str) -> R | None:
        if not lookup:
            return None
        found = self._records("kind = ? AND lookup = ?", [kind.KIND, lookup])
        return found[0] if found and isinstance(found[0], kind) else None

    def records(
        self, kind: type[R], *, account_id: str | None = None, property_id: str | None = None
    ) -> list[R]:
        where, params = ["kind = ?"], [kind.KIND]
        if account_id is not None:
            where.append("account_id = ?")
            params.append(account_id)
        if property_id is not None:
            where.append("property_id = ?")
            params.append(property_id)
        return [r for r in self._records(" AND ".join(where), params) if isinstance(r, kind)]

    # -- UsageStore --------------------------------------------------------------------------

    def add_usage(self, rows: Sequence[UsageRow]) -> None:
        table = arrow.rows_table(
            ["property_id", "hour", "metric", "value"],
            [pa.string(), pa.int64(), pa.string(), pa.int64()],
            rows,
        )
        with self._transaction() as con:
            self._insert(
                con,
                "INSERT INTO usage SELECT * FROM _batch ON CONFLICT DO UPDATE SET value = usage.value + excluded.value",
                table,
            )

    def usage(self, property_id: str, start_us: int, end_us: int) -> list[UsageRow]:
        with self._lookup_reader() as cur:
            rows = cur.execute(
                "SELECT property_id, hour, metric, value FROM usage WHERE property_id = ? "
                "AND hour >= ? AND hour < ? ORDER BY hour, metric",
                [property_id, start_us, end_us],
            ).fetchall()
        return [(r[0], int(r[1]), r[2], int(r[3])) for r in rows]

    # -- MetaStore ---------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lookup_reader() as cur:
            rows = cur.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str, *, only_if_absent: bool = False) -> str:
        with self._transaction() as con:
            if only_if_absent:
                con.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT DO NOTHING", [key, value])
            else:
                con.execute(
                    "INSERT INTO meta VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                    [key, value],
                )
            rows = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return str(rows[0][0])

    # -- RateStore ---------------------------------------------------------------------------

    def put_rates(self, base: str, rates: Sequence[RateRow]) -> None:
        table = arrow.rows_table(
            ["base", "currency", "day", "rate"],
            [pa.string(), pa.string(), pa.date32(), pa.string()],
            [(base, c, d, r) for c, d, r in rates],
        )
        with self._transaction() as con:
            self._insert(
                con,
                "INSERT INTO exchange_rates SELECT * FROM _batch "
                "ON CONFLICT DO UPDATE SET rate = excluded.rate",
                table,
            )

    def exchange_rates(self, base: str) -> list[RateRow]:
        with self._lookup_reader() as cur:
            rows = cur.execute(
                "SELECT currency, day, rate FROM exchange_rates WHERE base = ? "
                "ORDER BY currency, day",
                [base],
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]
