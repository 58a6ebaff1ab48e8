"""Columnar batches for DuckDB: lists of structs become Arrow tables (bulk insert in one scan)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pyarrow as pa

from footfall.schema.events import EnrichedEvent, Session

_EVENT_TYPES: dict[str, pa.DataType] = {
    "event_time": pa.int64(),
    "received_at": pa.int64(),
    "event_date": pa.date32(),
    "event_hour": pa.int8(),
    "engagement_time_ms": pa.int64(),
    "is_key_event": pa.bool_(),
    "value_micros": pa.int64(),
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


def _columns(structs: Sequence[Any], schema: pa.Schema) -> dict[str, list[Any]]:
    """Struct fields as columns, transposed in C (astuple, zip) rather than per-field getattr."""
    rows = [msgspec.structs.astuple(s) for s in structs]
    return {
        name: list(column)
        for name, column in zip(schema.names, zip(*rows, strict=True), strict=True)
    }


def events_table(events: Sequence[EnrichedEvent]) -> pa.Table:
    columns = _columns(events, EVENT_SCHEMA)
    columns["params"] = [list(p.items()) for p in columns["params"]]
    return pa.table(columns, schema=EVENT_SCHEMA)


def sessions_table(sessions: Sequence[Session]) -> pa.Table:
    return pa.table(_columns(sessions, SESSION_SCHEMA), schema=SESSION_SCHEMA)


def rows_table(
    names: Sequence[str], types: Sequence[pa.DataType], rows: Sequence[Sequence[Any]]
) -> pa.Table:
    return pa.table(
        {
            name: pa.array([r[i] for r in rows], type=t)
            for i, (name, t) in enumerate(zip(names, types, strict=True))
        }
    )
