"""Raw history and generations on DuckDB: what re-processing reads and the switch it makes.

Every derived row (events, sessions, visitors, dead letters) carries its property's generation.
``generations`` holds each property's live one (0 when absent) and ``rebuilds`` each property's
latest rebuild: its target generation, its cursor into raw events and its counts, written in
the transaction of the rows they cover. :class:`DuckDBStore` mixes these methods in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import duckdb
import msgspec

from footfall.store import (
    DONE,
    REBUILD_COLUMNS,
    RUNNING,
    LostRebuild,
    RawRow,
    Rebuild,
    rebuild_of,
    rebuild_values,
)
from footfall.store.duckdb.generation_upgrade import DERIVED

_RAW_COLUMNS = "property_id, event_id, received_at, event_time, ip, payload"
_REBUILD_COLUMNS = ", ".join(("property_id", *REBUILD_COLUMNS))
_REBUILD_PLACES = ", ".join("?" * (1 + len(REBUILD_COLUMNS)))
DROP_CHUNK = 50_000  # rows of an old generation deleted per transaction


def live_generations(cur: duckdb.DuckDBPyConnection, property_ids: Sequence[str]) -> dict[str, int]:
    """The live generation of each property that has one other than 0."""
    wanted = sorted(set(property_ids))
    if not wanted:
        return {}
    rows = cur.execute(
        "SELECT property_id, live FROM generations WHERE list_contains(?, property_id)",
        [wanted],
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def save_rebuild(con: duckdb.DuckDBPyConnection, r: Rebuild) -> None:
    con.execute(
        f"INSERT OR REPLACE INTO rebuilds ({_REBUILD_COLUMNS}) VALUES ({_REBUILD_PLACES})",
        [r.property_id, *rebuild_values(r)],
    )


class HistoryTables:
    """The :class:`footfall.store.RawHistory` and :class:`footfall.store.Generations` ports."""

    if TYPE_CHECKING:  # provided by DuckDBStore

        def _transaction(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]: ...

        def _history_reader(
            self,
        ) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]: ...

        def _lookup_reader(
            self,
        ) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]: ...

    # -- RawHistory ------------------------------------------------------------------------

    def raw_page(self, property_id: str, after: tuple[int, str] | None, limit: int) -> list[RawRow]:
        received, event_id = after or (-1, "")
        with self._history_reader() as cur:
            rows = cur.execute(
                f"SELECT {_RAW_COLUMNS} FROM raw_events "
                "WHERE property_id = ? AND (received_at > ? OR (received_at = ? AND event_id > ?)) "
                "ORDER BY received_at, event_id LIMIT ?",
                [property_id, received, received, event_id, limit],
            ).fetchall()
        return [RawRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def raw_unbuilt(self, property_id: str, generation: int, limit: int) -> list[RawRow]:
        with self._history_reader() as cur:
            rows = cur.execute(
                f"SELECT {_RAW_COLUMNS} FROM raw_events r WHERE r.property_id = ? "
                "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.property_id = r.property_id "
                "AND e.generation = ? AND e.event_id = r.event_id) "
                "AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.property_id = r.property_id "
                "AND d.generation = ? AND d.event_id = r.event_id) "
                "ORDER BY received_at, event_id LIMIT ?",
                [property_id, generation, generation, limit],
            ).fetchall()
        return [RawRow(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    # -- Generations -----------------------------------------------------------------------

    def rebuilds(self, property_id: str | None = None) -> list[Rebuild]:
        where, params = ("WHERE property_id = ?", [property_id]) if property_id else ("", [])
        with self._lookup_reader() as cur:
            rows = cur.execute(
                f"SELECT {_REBUILD_COLUMNS} FROM rebuilds {where} ORDER BY property_id", params
            ).fetchall()
        return [rebuild_of(r[0], r[1:]) for r in rows]

    def claim_rebuilds(self, now_us: int) -> list[Rebuild]:
        return [r for r in self.rebuilds() if r.state == RUNNING]  # one process writes the file

    def unsettled(self, now_us: int) -> list[Rebuild]:
        return [r for r in self.rebuilds() if r.state != RUNNING and r.settled_at is None]

    def begin_rebuild(self, property_id: str, now_us: int) -> Rebuild:
        with self._transaction() as con:
            found = con.execute(
                f"SELECT {_REBUILD_COLUMNS} FROM rebuilds WHERE property_id = ?", [property_id]
            ).fetchall()
            last = rebuild_of(found[0][0], found[0][1:]) if found else None
            if last is not None and last.state == RUNNING:
                return last
            live = live_generations(con, [property_id]).get(property_id, 0)
            (total,) = con.execute(
                "SELECT count(*) FROM raw_events WHERE property_id = ?", [property_id]
            ).fetchall()[0]
            rebuild = Rebuild(
                property_id=property_id,
                # above the live generation and any earlier rebuild's, whose rows may remain
                generation=max(live, last.generation if last else 0) + 1,
                state=RUNNING,
                raw_total=int(total),
                started_at=now_us,
                updated_at=now_us,
            )
            save_rebuild(con, rebuild)
        return rebuild

    def generation_ready(self, rebuild: Rebuild) -> bool:
        return True  # reports read the events themselves: a generation is ready once written

    def switch_generation(self, rebuild: Rebuild) -> bool:
        with self._transaction() as con:
            found = con.execute(
                "SELECT generation, state FROM rebuilds WHERE property_id = ?",
                [rebuild.property_id],
            ).fetchall()
            if not found or found[0] != (rebuild.generation, RUNNING):
                raise LostRebuild(rebuild.property_id)
            con.execute(
                "INSERT OR REPLACE INTO generations VALUES (?, ?)",
                [rebuild.property_id, rebuild.generation],
            )
            save_rebuild(con, msgspec.structs.replace(rebuild, state=DONE))
        return True

    def drop_generations(self, property_id: str) -> int:
        with self._lookup_reader() as cur:
            live = live_generations(cur, [property_id]).get(property_id, 0)
            building = cur.execute(
                "SELECT generation FROM rebuilds WHERE property_id = ? AND state = ?",
                [property_id, RUNNING],
            ).fetchall()
        keep = [live, *(int(r[0]) for r in building)]
        dropped = 0
        for table in DERIVED:
            while True:  # in chunks: the processor's batches never wait long for the lock
                with self._transaction() as con:
                    (n,) = con.execute(
                        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                        "WHERE property_id = ? AND NOT list_contains(?, generation) LIMIT ?)",
                        [property_id, keep, DROP_CHUNK],
                    ).fetchall()[0]
                dropped += int(n)
                if n < DROP_CHUNK:
                    break
        return dropped
