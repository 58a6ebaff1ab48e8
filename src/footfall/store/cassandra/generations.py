"""Generations on Cassandra: derived rows under generation-qualified data keys, the live
generation of each property, and rebuilds owned by one processor at a time.

There are no multi-partition transactions, so what DuckDB does in one transaction is done here
in an order that keeps it safe: a rebuild's page writes its rows first and its cursor last
(a crash re-reads the page, and the dedupe markers make that harmless); the switch is the one
write of the property's ``generations`` row, made once the new generation's rollups are built,
so reports, which read that row first, see the old generation whole or the new one whole. The
rebuild's row is written with a lightweight transaction on its owner: a processor that lost it
(its lease ran out and another took it over) stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from footfall.store import (
    DONE,
    REBUILD_COLUMNS,
    RUNNING,
    Generation,
    LostRebuild,
    RawRow,
    Rebuild,
    rebuild_of,
    rebuild_values,
)
from footfall.store.cassandra.base import DAY_US, HOUR_US
from footfall.store.cassandra.history import HistoryTables

LEASE_US = 120_000_000  # a rebuild's owner renews it with every page; others wait this long
LATE_US = 3_600_000_000  # raw events received this long before a rebuild began are in its range
_COLUMNS = (*REBUILD_COLUMNS, "owner", "lease_until")
_SELECT = f"SELECT property_id, {', '.join(_COLUMNS)} FROM rebuilds"
_SET = ", ".join(f"{c} = ?" for c in _COLUMNS)


def data_key(property_id: str, generation: int) -> str:
    """The key a generation's derived rows are stored under."""
    return property_id if generation == 0 else f"{property_id}~{generation}"


def property_of(key: str) -> str:
    return key.split("~", 1)[0]


def _rebuild(row: Any) -> Rebuild:
    return rebuild_of(row.property_id, [getattr(row, c) for c in REBUILD_COLUMNS])


class GenerationTables(HistoryTables):
    _switch_marks: dict[str, dict[int, int]]  # data key → its hours' changes at the first try

    def live_generations(self, property_ids: Iterable[str]) -> dict[str, int]:
        """Each property's live generation (0 when it never switched)."""
        wanted = sorted(set(property_ids))
        found = self._many(
            "SELECT live FROM generations WHERE property_id = ?", [(p,) for p in wanted]
        )
        return {p: rows[0].live if rows else 0 for p, rows in zip(wanted, found, strict=True)}

    def data_keys(self, property_ids: Iterable[str], generation: Generation) -> dict[str, str]:
        """The data key of each property, of the generation ``generation`` names for it
        (:data:`footfall.store.Generation`)."""
        ids = set(property_ids)
        if isinstance(generation, int):
            return {p: data_key(p, generation) for p in ids}
        pinned = generation or {}
        live = self.live_generations(ids - pinned.keys()) if ids - pinned.keys() else {}
        return {p: data_key(p, pinned[p] if p in pinned else live[p]) for p in ids}

    # -- Generations ---------------------------------------------------------------------------

    def _stored(self, property_id: str) -> Any:
        rows = self._one(f"{_SELECT} WHERE property_id = ?", (property_id,))
        return rows[0] if rows else None

    def rebuilds(self, property_id: str | None = None) -> list[Rebuild]:
        if property_id is not None:
            row = self._stored(property_id)
            return [_rebuild(row)] if row is not None else []
        return sorted((_rebuild(r) for r in self._one(_SELECT)), key=lambda r: r.property_id)

    def _values(self, r: Rebuild, lease_until: int) -> list[Any]:
        return [*rebuild_values(r), self.writer, lease_until]

    def begin_rebuild(self, property_id: str, now_us: int) -> Rebuild:
        last = self._stored(property_id)
        if last is not None and last.state == RUNNING:
            return _rebuild(last)
        live = self.live_generations([property_id])[property_id]
        hours = self._hours("raw_hours", property_id)
        counts = self._many(
            "SELECT count(*) AS n FROM raw_events WHERE property_id = ? AND hour = ? AND shard = ?",
            [(property_id, h, s) for h in hours for s in range(self.shards)],
        )
        rebuild = Rebuild(
            property_id=property_id,
            generation=max(live, last.generation if last is not None else 0) + 1,
            state=RUNNING,
            raw_total=sum(rows[0].n for rows in counts),
            started_at=now_us,
            updated_at=now_us,
        )
        values = self._values(rebuild, now_us + LEASE_US)
        if last is None:
            columns = ("property_id", *_COLUMNS)
            applied = self.session.execute(
                self._stmt(
                    f"INSERT INTO rebuilds ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))}) IF NOT EXISTS"
                ),
                [property_id, *values],
            ).was_applied
        else:
            applied = self.session.execute(
                self._stmt(
                    f"UPDATE rebuilds SET {_SET} WHERE property_id = ? IF generation = ? "
                    "AND state = ?"
                ),
                [*values, property_id, last.generation, last.state],
            ).was_applied
        if not applied:  # another process began one first: that one runs
            return _rebuild(self._stored(property_id))
        return rebuild

    def save_rebuild(self, r: Rebuild) -> None:
        """Store the rebuild's progress and renew this process's lease on it."""
        applied = self.session.execute(
            self._stmt(f"UPDATE rebuilds SET {_SET} WHERE property_id = ? IF owner = ?"),
            [*self._values(r, r.updated_at + LEASE_US), r.property_id, self.writer],
        ).was_applied
        if not applied:
            raise LostRebuild(r.property_id)

    def claim_rebuilds(self, now_us: int) -> list[Rebuild]:
        return self._claim(now_us, lambda row: row.state == RUNNING)

    def unsettled(self, now_us: int) -> list[Rebuild]:
        return self._claim(now_us, lambda row: row.state != RUNNING and row.settled_at is None)

    def _claim(self, now_us: int, wanted: Callable[[Any], bool]) -> list[Rebuild]:
        """The wanted rebuilds this process owns, or takes over from an owner whose lease ran
        out (a lightweight transaction, so one process takes each)."""
        mine = []
        for row in self._one(_SELECT):
            if not wanted(row):
                continue
            if row.owner != self.writer:
                if (row.lease_until or 0) >= now_us:
                    continue  # its owner is alive
                taken = self.session.execute(
                    self._stmt(
                        "UPDATE rebuilds SET owner = ?, lease_until = ? WHERE property_id = ? "
                        "IF owner = ?"
                    ),
                    [self.writer, now_us + LEASE_US, row.property_id, row.owner],
                ).was_applied
                if not taken:
                    continue
            mine.append(_rebuild(row))
        return mine

    def _rolled_up(self, key: str) -> bool:
        """Every hour of the data key has rollups built from (at least) the change it had
        when first asked. Later changes roll up with the rollup job's usual lag, as the live
        generation's do: waiting for them could wait for ever under steady traffic."""
        marks = self._switch_marks.get(key)
        if marks is None:
            marks = self._switch_marks[key] = {
                r.hour: r.updated_at
                for r in self._one(
                    "SELECT hour, updated_at FROM event_hours WHERE property_id = ?", (key,)
                )
            }
        built = {
            r.hour: r.built_from
            for r in self._one(
                "SELECT hour, built_from FROM rollup_hours WHERE property_id = ?", (key,)
            )
        }
        return all((built.get(h) or -1) >= updated for h, updated in marks.items())

    def generation_ready(self, rebuild: Rebuild) -> bool:
        pid = rebuild.property_id
        stored = self._stored(pid)
        if (
            stored is None
            or stored.generation != rebuild.generation
            or stored.state != RUNNING
            or stored.owner != self.writer
        ):
            raise LostRebuild(pid)
        if not self._rolled_up(data_key(pid, rebuild.generation)):
            # not yet: renew the lease, keep the rebuild as stored (running)
            self.save_rebuild(
                msgspec.structs.replace(_rebuild(stored), updated_at=rebuild.updated_at)
            )
            return False
        return True

    def switch_generation(self, rebuild: Rebuild) -> bool:
        pid = rebuild.property_id
        if not self.generation_ready(rebuild):
            return False
        self._one(
            "INSERT INTO generations (property_id, live) VALUES (?, ?)", (pid, rebuild.generation)
        )
        self.save_rebuild(msgspec.structs.replace(rebuild, state=DONE))
        return True

    def drop_generations(self, property_id: str) -> int:
        live = self.live_generations([property_id])[property_id]
        stored = self._stored(property_id)
        keep = {live}
        if stored is not None and stored.state == RUNNING:
            keep.add(stored.generation)
        highest = max(keep | {stored.generation if stored is not None else 0})
        dropped = 0
        for generation in range(highest + 1):
            if generation in keep:
                continue
            key = data_key(property_id, generation)
            hours = self._hours("event_hours", key)
            if hours:
                self._forget_events(key, hours)  # its rollups go with the next rollup run
                dropped += len(hours)
            days = [
                r.day
                for r in self._one("SELECT day FROM dead_letter_days WHERE property_id = ?", (key,))
            ]
            self._many(
                "DELETE FROM dead_letters WHERE property_id = ? AND day = ?",
                [(key, d) for d in days],
            )
            self._many(
                "DELETE FROM dead_letter_days WHERE property_id = ? AND day = ?",
                [(key, d) for d in days],
            )
        return dropped

    # -- RawHistory (what a rebuild still lacks) -----------------------------------------------

    def raw_unbuilt(self, property_id: str, generation: int, limit: int) -> list[RawRow]:
        """The raw events received since the rebuild began (less ``LATE_US``) that the
        generation holds no event or dead letter of: the earlier ones are all behind the
        cursor of a rebuild that has caught up."""
        stored = self._stored(property_id)
        since = (stored.started_at if stored is not None else 0) - LATE_US
        key = data_key(property_id, generation)
        days = range(max(0, since) // DAY_US, 2**31)
        dead_days = [
            r.day
            for r in self._one("SELECT day FROM dead_letter_days WHERE property_id = ?", (key,))
            if r.day in days
        ]
        dead = {
            r.event_id
            for rows in self._many(
                "SELECT event_id FROM dead_letters WHERE property_id = ? AND day = ?",
                [(key, d) for d in dead_days],
            )
            for r in rows
        }
        found: list[RawRow] = []
        for hour in sorted(h for h in self._hours("raw_hours", property_id) if h + HOUR_US > since):
            rows = [r for r in self.raw_hour(property_id, hour, None) if r.event_id not in dead]
            known = self._many(
                "SELECT event_id FROM event_ids WHERE property_id = ? AND event_id = ?",
                [(key, r.event_id) for r in rows],
            )
            found += [r for r, hit in zip(rows, known, strict=True) if not hit]
            if len(found) >= limit:
                break
        return found[:limit]

    def retained_keys(self, property_id: str) -> list[str]:
        """The data keys retention applies to: the live generation's and a running rebuild's."""
        keys = [data_key(property_id, self.live_generations([property_id])[property_id])]
        stored = self._stored(property_id)
        if stored is not None and stored.state == RUNNING:
            keys.append(data_key(property_id, stored.generation))
        return keys
