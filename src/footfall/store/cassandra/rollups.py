"""The rollup tables on Cassandra: which hours changed since their rollups were built, the
rebuild of an hour (write a new build of its cells, switch to it, delete the older builds) and
the cells of the current builds that a report reads."""

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
    "build",
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


def insert_cells(base: CassandraBase, cells: Iterable[tuple[CellKey, Packed]], build: int) -> int:
    """Write cells as part of ``build`` (not visible to reports until the build is switched to)."""
    rows = [
        (
            k.property_id,
            k.dimension_set,
            k.hour,
            build,
            k.event_date,
            k.event_hour,
            list(k.dims),
            *p,
        )
        for k, p in cells
    ]
    base._many(_insert("rollups", CELL_COLUMNS), rows)
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

    def finish_rollups(self, work: Sequence[HourWork], build: int) -> None:
        """Switch the hours to ``build`` (hours without events lose their rollups), then delete
        the older builds. The switch is written at timestamp ``build``: of two runs, the newer
        build wins, and it is never one the other run deletes."""
        now = time.time_ns() // 1000
        live = [w for w in work if w.updated_at is not None]
        self._many(
            _insert(
                "rollup_hours",
                ("property_id", "hour", "build", "built_from", "built_at"),
                " USING TIMESTAMP ?",
            ),
            [(w.property_id, w.hour, build, w.updated_at, now, build) for w in live],
        )
        self._many(
            "DELETE FROM rollup_hours USING TIMESTAMP ? WHERE property_id = ? AND hour = ?",
            [(build, w.property_id, w.hour) for w in work if w.updated_at is None],
        )
        self._many(
            "DELETE FROM rollups WHERE property_id = ? AND dimension_set = ? AND hour = ? "
            "AND build < ?",
            [(w.property_id, name, w.hour, build) for w in live for name in DIMENSION_SETS],
        )
        self._many(
            "DELETE FROM rollups USING TIMESTAMP ? WHERE property_id = ? AND dimension_set = ? "
            "AND hour = ?",
            [
                (build, w.property_id, name, w.hour)
                for w in work
                if w.updated_at is None
                for name in DIMENSION_SETS
            ],
        )

    def rollup_builds(self, property_id: str) -> dict[int, int]:
        """The current build of each hour that has rollups."""
        return {
            r.hour: r.build
            for r in self._one(
                "SELECT hour, build FROM rollup_hours WHERE property_id = ?", (property_id,)
            )
        }

    def rollup_cells(
        self, property_id: str, dimension_set: str, builds: dict[int, int]
    ) -> list[RollupRow]:
        """The cells of one dimension set in the given builds of hours (hour -> build)."""
        found = self._many(
            f"SELECT event_date, event_hour, dims, {', '.join(Packed._fields)} FROM rollups "
            "WHERE property_id = ? AND dimension_set = ? AND hour = ? AND build = ?",
            [(property_id, dimension_set, h, b) for h, b in builds.items()],
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
        r.revenue_micros or 0,
        r.refund_micros or 0,  # cells built before 0003_money: no refunds
        bytes(r.users),
        bytes(r.active_users),
        bytes(r.new_users),
        bytes(r.sessions),
    )
