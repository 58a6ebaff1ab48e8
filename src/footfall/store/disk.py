"""Free space on the disks that hold the local queue and store, and the reserve kept for
draining.

Everything the collector accepts must still fit in the store, so the collector refuses new
events (503 with ``Retry-After``) while the free space of any of those disks is below
``disk_reserve_bytes``: the processor drains what is queued into the reserve, and the collector
accepts again by itself once space returns. ``os.statvfs`` is asked at most every
``CHECK_EVERY_S``, so the check costs nothing on the hot path.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from footfall.errors import ApiError

CHECK_EVERY_S = 0.25
RETRY_AFTER_S = 5
_FULL_MESSAGES = ("no space left on device", "database or disk is full", "disk is full")


def local_dirs(queue_url: str, store_url: str) -> list[Path]:
    """The directories of the ``local://`` queue file and the ``duckdb://`` store file (none
    for in-memory, Kafka and Cassandra)."""
    dirs = []
    for url, scheme in ((queue_url, "local"), (store_url, "duckdb")):
        parts = urlsplit(url)
        path = parts.netloc + parts.path
        if parts.scheme == scheme and path and path != ":memory:":
            dirs.append(Path(path).expanduser().resolve().parent)
    return list(dict.fromkeys(dirs))


def available_bytes(path: Path) -> int:
    """Free bytes for unprivileged writers on the file system of ``path`` (or of its nearest
    existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def is_disk_full(exc: BaseException) -> bool:
    """Did ``exc`` come from a full disk (ENOSPC, or how SQLite and DuckDB report it)?"""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen).lower()
        if any(m in text for m in _FULL_MESSAGES):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class DiskSpace:
    """The least free space among ``dirs``, cached for ``CHECK_EVERY_S``."""

    def __init__(
        self,
        dirs: Iterable[Path],
        reserve_bytes: int,
        *,
        measure: Callable[[Path], int] = available_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dirs = tuple(dirs)
        self.reserve_bytes = reserve_bytes
        self._measure = measure
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = -float("inf")
        self._free: int | None = None

    def free_bytes(self) -> int | None:
        """None when there is nothing local to watch, or the file system cannot say."""
        if not self.dirs:
            return None
        now = self._clock()
        with self._lock:
            if now - self._checked < CHECK_EVERY_S:
                return self._free
        try:
            free: int | None = min(self._measure(d) for d in self.dirs)
        except OSError:
            free = None
        with self._lock:
            self._free, self._checked = free, now
        return free

    @property
    def low(self) -> bool:
        free = self.free_bytes()
        return self.reserve_bytes > 0 and free is not None and free < self.reserve_bytes

    def admit(self) -> None:
        """Raise 503 while the disk is below the reserve (checked before publishing)."""
        if self.low:
            raise ApiError(
                503,
                "the server's disk is nearly full, so new events are refused until space is "
                "freed; retry later",
                retry_after=RETRY_AFTER_S,
            )

    def readiness(self) -> dict[str, Any]:
        free = self.free_bytes()
        return {
            "status": "low" if self.low else "ok",
            "free_bytes": free,
            "reserve_bytes": self.reserve_bytes,
        }
