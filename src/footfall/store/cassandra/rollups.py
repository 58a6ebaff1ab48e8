"""The rollup tables on Cassandra: which hours changed since their rollups were built, the
rebuild of an hour (delete the partitions, write the cells, record what they were built from)
and the cells a report reads."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from footfall.rollup.answer import RollupRow
from footfall.rollup.cells import DIMENSION_SETS, CellKey, Packed
from footfall.store.cassandra.base import CassandraBase, _insert

CELL_COLUMNS = (
    "property_id",
    "dimension_set",
    "hour",
    "event_date",
    "event_hour",
    "dims",
    *Packed._fields,
)


class HourWork(msgspec.Struct, frozen=True):
    """An hour to rebuild: ``updated_at`` is the event_hours value it is built from; None when
    the hour has no events any more (its rollups are deleted)."""

    property_id: str
    hour: int
    updated_at: int | None
    since: int  # µs: the hour's last change (its updated_at), or when it was last built


def insert_cells(base: CassandraBase, cells: Iterable[tuple[CellKey, Packed]], ts: int) -> int:
    rows = [
        (k.property_id, k.dimension_set, k.hour, k.event_date, k.event_hour, list(k.dims), *p)
        for k, p in cells
    ]
    base._many(_insert("rollups", CELL_COLUMNS, " USING TIMESTAMP ?"), [(*r, ts) for r in rows])
    return len(rows)


class RollupTables(CassandraBase):
    def rollup_work(self, *, everything: bool = False) -> list[HourWork]:
        """Every hour whose events changed since its rollups were built (or that lost them);
        with ``everything``, every hour there is (a full rebuild)."""
        properties = {
            r.property_id for r in self._one("SELECT DISTINCT property_id FROM event_hours")
        }
        properties |= {
            r.property_id for r in self._one("SELECT DISTINCT property_id FROM rollup_hours")
        }
        work: list[HourWork] = []
        for p in sorted(properties):
            changed = {
                r.hour: r.updated_at
                for r in self._one(
                    "SELECT hour, updated_at FROM event_hours WHERE property_id = ?", (p,)
                )
            }
            built = {
                r.hour: r
                for r in self._one(
                    "SELECT hour, built_from, built_at FROM rollup_hours WHERE property_id = ?",
                    (p,),
                )
            }
            for hour, updated in changed.items():
                b = built.get(hour)
                if everything or b is None or b.built_from != updated:
                    work.append(HourWork(p, hour, updated, updated))
            for hour, b in built.items():
                if hour not in changed:
                    work.append(HourWork(p, hour, None, b.built_at))
        return work

    def clear_rollups(self, work: Sequence[HourWork], ts: int) -> None:
        """Delete the rollups of these hours as of ``ts`` (the rebuild writes at ``ts + 1``).

        The hours are first marked unbuilt, so a run that dies before it finishes leaves them
        to the next run instead of empty and current."""
        self._many(
            "DELETE FROM rollup_hours WHERE property_id = ? AND hour = ?",
            [(w.property_id, w.hour) for w in work],
        )
        self._many(
            "DELETE FROM rollups USING TIMESTAMP ? WHERE property_id = ? AND dimension_set = ? "
            "AND hour = ?",
            [(ts, w.property_id, name, w.hour) for w in work for name in DIMENSION_SETS],
        )

    def write_cells(self, cells: Iterable[tuple[CellKey, Packed]], ts: int) -> int:
        return insert_cells(self, cells, ts)

    def finish_rollups(self, work: Sequence[HourWork]) -> None:
        now = time.time_ns() // 1000
        self._many(
            _insert("rollup_hours", ("property_id", "hour", "built_from", "built_at")),
            [(w.property_id, w.hour, w.updated_at, now) for w in work if w.updated_at is not None],
        )

    def rollup_cells(
        self, property_id: str, dimension_set: str, hours: Sequence[int]
    ) -> list[RollupRow]:
        found = self._many(
            f"SELECT event_date, event_hour, dims, {', '.join(Packed._fields)} FROM rollups "
            "WHERE property_id = ? AND dimension_set = ? AND hour = ?",
            [(property_id, dimension_set, h) for h in hours],
        )
        return [
            RollupRow(r.event_date.date(), r.event_hour, r.dims or (), _packed(r))
            for rows in found
            for r in rows
        ]


def _packed(r: Any) -> Packed:
    return Packed(
        r.events,
        r.views,
        r.key_events,
        r.engagement_ms,
        r.revenue_micros,
        bytes(r.users),
        bytes(r.active_users),
        bytes(r.new_users),
        bytes(r.sessions),
    )
