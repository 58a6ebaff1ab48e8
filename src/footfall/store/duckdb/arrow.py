"""Columnar batches for DuckDB: lists of structs become Arrow tables (bulk insert in one scan)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from footfall.schema.events import EnrichedEvent, Session

_EVENT_TYPES: dict[str, pa.DataType] = {
    "event_time": pa.int64(),
    "received_at": pa.int64(),
    "event_date": pa.date32(),
    "event_hour": pa.int8(),
    "engagement_time_ms": pa.int64(),
    "is_key_event": pa.bool_(),
    "value": pa.float64(),
    "params": pa.map_(pa.string(), pa.string()),
}
EVENT_SCHEMA = pa.schema(
    [(name, _EVENT_TYPES.get(name, pa.string())) for name in EnrichedEvent.__struct_fields__]
)

_SESSION_TYPES: dict[str, pa.DataType] = {
    "start_time": pa.int64(),
    "end_time": pa.int64(),
    "event_count": pa.int32(),
    "page_views": pa.int32(),
    "engagement_ms": pa.int64(),
    "key_events": pa.int32(),
    "engaged": pa.bool_(),
}
SESSION_SCHEMA = pa.schema(
    [(name, _SESSION_TYPES.get(name, pa.string())) for name in Session.__struct_fields__]
)


def events_table(events: Sequence[EnrichedEvent]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA.names}
    for ev in events:
        for name in EVENT_SCHEMA.names:
            columns[name].append(getattr(ev, name))
    columns["params"] = [list(p.items()) for p in columns["params"]]
    return pa.table(columns, schema=EVENT_SCHEMA)


def sessions_table(sessions: Sequence[Session]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in SESSION_SCHEMA.names}
    for s in sessions:
        for name in SESSION_SCHEMA.names:
            columns[name].append(getattr(s, name))
    return pa.table(columns, schema=SESSION_SCHEMA)


def rows_table(
    names: Sequence[str], types: Sequence[pa.DataType], rows: Sequence[Sequence[Any]]
) -> pa.Table:
    return pa.table(
        {
            name: pa.array([r[i] for r in rows], type=t)
            for i, (name, t) in enumerate(zip(names, types, strict=True))
        }
    )
