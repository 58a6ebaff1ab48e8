"""Raw history (re-processing) and retention on Cassandra. Derived rows are stored under a
generation's data key (:mod:`.generations`); ``_forget_events`` takes one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from footfall.store import RawRow
from footfall.store.cassandra.base import HOUR_US, CassandraBase, hour_of, month_of

DAY_US = 24 * HOUR_US


class HistoryTables(CassandraBase):
    if TYPE_CHECKING:  # GenerationTables

        def retained_keys(self, property_id: str) -> list[str]: ...

    # -- RawHistory ---------------------------------------------------------------------------

    def raw_hour(self, property_id: str, hour: int, after: tuple[int, str] | None) -> list[RawRow]:
        """One hour's raw events after ``after``, by (received_at, event_id), with addresses."""
        received, event_id = after or (-1, "")
        keys = [(property_id, hour, shard, received, event_id) for shard in range(self.shards)]
        rows = [
            r
            for found in self._many(
                "SELECT received_at, event_id, event_time, payload FROM raw_events WHERE property_id = ? "
                "AND hour = ? AND shard = ? AND (received_at, event_id) > (?, ?)",
                keys,
            )
            for r in found
        ]
        ips = {
            (r.received_at, r.event_id): r.ip
            for found in self._many(
                "SELECT received_at, event_id, ip FROM raw_ips WHERE property_id = ? AND hour = ? AND shard = ? "
                "AND (received_at, event_id) > (?, ?)",
                keys,
            )
            for r in found
        }
        rows.sort(key=lambda r: (r.received_at, r.event_id))
        return [
            RawRow(
                property_id,
                r.event_id,
                r.received_at,
                r.event_time,
                ips.get((r.received_at, r.event_id)),
                bytes(r.payload),
            )
            for r in rows
        ]

    def raw_page(self, property_id: str, after: tuple[int, str] | None, limit: int) -> list[RawRow]:
        received = after[0] if after else -1
        page: list[RawRow] = []
        for hour in self._hours("raw_hours", property_id):
            if hour + HOUR_US <= received:
                continue
            page += self.raw_hour(property_id, hour, after)
            if len(page) >= limit:
                break
        return page[:limit]

    def _forget_events(self, property_id: str, hours: Sequence[int]) -> None:
        """Delete the events of these hours and everything derived from them."""
        partitions = [(property_id, h, s) for h in hours for s in range(self.shards)]
        found = self._many(
            "SELECT visitor_id, event_id, event_time FROM events WHERE property_id = ? AND hour = ? AND shard = ?",
            partitions,
        )
        events = [r for rows in found for r in rows]
        visitors = {r.visitor_id for r in events}
        self._many(
            "DELETE FROM event_ids WHERE property_id = ? AND event_id = ?",
            [(property_id, r.event_id) for r in events],
        )
        self._many(
            "DELETE FROM visitor_events WHERE property_id = ? AND visitor_id = ? AND month = ? "
            "AND event_time = ? AND event_id = ?",
            [
                (property_id, r.visitor_id, month_of(r.event_time), r.event_time, r.event_id)
                for r in events
            ],
        )
        oldest_kept = max(hours, default=0) + HOUR_US
        for visitor in visitors:
            for s in self._one(
                "SELECT start_time, session_key, end_time FROM sessions WHERE property_id = ? "
                "AND visitor_id = ?",
                (property_id, visitor),
            ):
                if s.end_time < oldest_kept:
                    self._one(
                        "DELETE FROM sessions WHERE property_id = ? AND visitor_id = ? AND start_time = ? "
                        "AND session_key = ?",
                        (property_id, visitor, s.start_time, s.session_key),
                    )
        self._many(
            "DELETE FROM visitors WHERE property_id = ? AND visitor_id = ?",
            [(property_id, v) for v in visitors],
        )
        self._many(
            "DELETE FROM events WHERE property_id = ? AND hour = ? AND shard = ?", partitions
        )
        self._many(
            "DELETE FROM event_hours WHERE property_id = ? AND hour = ?",
            [(property_id, h) for h in hours],
        )

    # -- Retention ------------------------------------------------------------------------------

    def scrub_raw_ips(self, received_before_us: int) -> None:
        """Nothing to do: client addresses are written with a TTL of the raw retention window."""

    def forget_salts(self, before: dt.date) -> None:
        days = [before - dt.timedelta(days=n) for n in range(1, 62)]
        self._many("DELETE FROM meta WHERE key = ?", [(f"salt:{d.isoformat()}",) for d in days])

    def delete_before(self, property_id: str, before_us: int) -> None:
        cutoff = hour_of(before_us)
        for key in self.retained_keys(property_id):
            self._forget_events(key, [h for h in self._hours("event_hours", key) if h < cutoff])
        old_raw = [h for h in self._hours("raw_hours", property_id) if h < cutoff]
        partitions = [(property_id, h, s) for h in old_raw for s in range(self.shards)]
        self._many(
            "DELETE FROM raw_events WHERE property_id = ? AND hour = ? AND shard = ?", partitions
        )
        self._many(
            "DELETE FROM raw_ips WHERE property_id = ? AND hour = ? AND shard = ?", partitions
        )
        self._many(
            "DELETE FROM raw_hours WHERE property_id = ? AND hour = ?",
            [(property_id, h) for h in old_raw],
        )
