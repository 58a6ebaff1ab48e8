"""Who the visitor is: the client's first-party ``client_id``, an app's ``app_instance_id``,
or a cookieless hash.

An app installation counts as a device the way a browser's client_id does: its id is the
visitor id, so users and sessions count app instances.

Without a client_id the visitor id is a keyed hash of a daily salt, the property, the client
address and the user agent, as Plausible counts visitors: it identifies a device for one day
(UTC) and cannot be reversed or linked across days once the salt is gone. The salt of a day is
random and kept in the store, so re-processing that day gives the same ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Callable

from footfall.process.draft import Draft, Drop
from footfall.store import MetaStore

COOKIELESS_PREFIX = "~"


class SaltSource:
    def __init__(self, meta: MetaStore) -> None:
        self._meta = meta
        self._cache: dict[dt.date, bytes] = {}
        self._lock = threading.Lock()

    def forget_before(self, day: dt.date) -> None:
        """Drop cached salts of earlier days (the store forgets them on the same schedule)."""
        with self._lock:
            for old in [d for d in self._cache if d < day]:
                del self._cache[old]

    def salt_for(self, day: dt.date) -> bytes:
        salt = self._cache.get(day)
        if salt is None:
            with self._lock:
                stored = self._meta.set_meta(
                    f"salt:{day.isoformat()}", secrets.token_hex(32), only_if_absent=True
                )
                salt = self._cache[day] = bytes.fromhex(stored)
        return salt


def cookieless_visitor_id(salt: bytes, property_id: str, ip: str, user_agent: str) -> str:
    digest = hashlib.blake2b(
        "\x1f".join((property_id, ip, user_agent)).encode(), key=salt, digest_size=16
    ).hexdigest()
    return COOKIELESS_PREFIX + digest


def make_put_identity(salts: SaltSource) -> Callable[[Draft], Drop | None]:
    def put_identity(d: Draft) -> Drop | None:
        raw = d.raw
        device_id = raw.client_id or raw.app_instance_id  # the collector allows one of them
        if device_id:
            d.event.visitor_id = device_id
        else:
            day = dt.datetime.fromtimestamp(raw.event_time / 1e6, dt.UTC).date()
            d.event.visitor_id = cookieless_visitor_id(
                salts.salt_for(day), raw.property_id, raw.ip, raw.user_agent
            )
        return None

    return put_identity
