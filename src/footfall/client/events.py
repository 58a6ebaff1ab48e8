"""One tracked event, encoded once at ``track`` time, and the envelope it travels in.

The collector applies ``client_id``, ``user_id``, ``user_agent`` and ``ip_override`` to every
event of a request, so events are batched per :class:`Envelope`. The checks here are the ones
that would make the collector refuse a *whole* request (docs/events.md): a bad envelope field or
too many parameters in one event would take every other event of its batch down with it, so they
fail at ``track`` with a :class:`ValueError`. Everything the collector judges per event (names,
value lengths, the time window) is left to it; its rejections are counted and logged.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import threading
from collections.abc import Mapping

import msgspec

# the envelope bounds of docs/events.md
MAX_CLIENT_ID_CHARS = 128
MAX_USER_ID_CHARS = 256
MAX_USER_AGENT_CHARS = 512

ParamValue = str | int | float | bool
Timestamp = dt.datetime | int

_encoder = msgspec.json.Encoder()


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """The request-level fields a batch shares; events with equal envelopes share requests."""

    client_id: str | None = None
    user_id: str | None = None
    user_agent: str | None = None
    ip_override: str | None = None


class Event(msgspec.Struct, frozen=True):
    """An event ready to send: its id, and its JSON as it goes in the request's ``events``."""

    event_id: str
    json: bytes


def _bounded(field: str, value: str | None, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise ValueError(f"{field} must be 1 to {limit} printable characters")


def make_envelope(
    client_id: str | None,
    user_id: str | None,
    user_agent: str | None,
    ip_override: str | None,
    *,
    server_side: bool,
) -> Envelope:
    _bounded("client_id", client_id, MAX_CLIENT_ID_CHARS)
    _bounded("user_id", user_id, MAX_USER_ID_CHARS)
    if (user_agent is not None or ip_override is not None) and not server_side:
        raise ValueError(
            "user_agent and ip_override need server-side credentials: give the Client an "
            "api_secret or an api_key"
        )
    if user_agent is not None and (not isinstance(user_agent, str) or len(user_agent) > 512):
        raise ValueError(
            f"user_agent must be a string of at most {MAX_USER_AGENT_CHARS} characters"
        )
    if ip_override is not None:
        try:
            ipaddress.ip_address(ip_override)
        except ValueError:
            raise ValueError("ip_override must be an IPv4 or IPv6 address") from None
    return Envelope(client_id, user_id, user_agent or None, ip_override)


def timestamp_micros(timestamp: Timestamp) -> int:
    """Microseconds since the epoch, UTC, of a datetime (naive means UTC) or epoch micros."""
    if isinstance(timestamp, bool):
        raise TypeError("timestamp must be a datetime or epoch microseconds")
    if isinstance(timestamp, int):
        if timestamp <= 0:
            raise ValueError("timestamp must be positive epoch microseconds")
        return timestamp
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=dt.UTC)
        delta = timestamp - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise TypeError("timestamp must be a datetime or epoch microseconds")


class _Ids:
    """128 random bits per id, from the OS's generator 4 KiB at a time (one ``urandom`` call
    per event costs more than the rest of ``track``). A forked child draws afresh, never the
    parent's bytes, so two processes never share an id."""

    CHUNK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._pool = b""
        self._at = 0

    def next(self) -> str:
        with self._lock:
            if self._at + 16 > len(self._pool) or self._pid != os.getpid():
                self._pid, self._pool, self._at = os.getpid(), os.urandom(self.CHUNK), 0
            start = self._at
            self._at += 16
            return self._pool[start : start + 16].hex()


_ids = _Ids()


def new_event_id() -> str:
    """A random id (32 hex digits), fixed at ``track`` time so every retry carries the same."""
    return _ids.next()


def make_event(
    name: str,
    params: Mapping[str, ParamValue] | None,
    *,
    event_id: str | None,
    time_us: int,
    max_params: int,
) -> Event:
    if not isinstance(name, str) or not name:
        raise ValueError("an event needs a name")
    values = dict(params or {})
    if len(values) > max_params:
        raise ValueError(
            f"event {name[:40]!r} has {len(values)} params; the limit is {max_params} "
            "(max_params_per_event)"
        )
    for key, value in values.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise TypeError(f"params.{key}: values must be str, int, float or bool")
    eid = event_id if event_id is not None else new_event_id()
    body: dict[str, object] = {"name": name, "event_id": eid, "timestamp_micros": time_us}
    if values:
        body["params"] = values
    return Event(eid, _encoder.encode(body))


def envelope_json(envelope: Envelope) -> bytes:
    """The envelope's fields as JSON object members (no braces), or b"" when it has none."""
    return _encoder.encode(envelope)[1:-1]
