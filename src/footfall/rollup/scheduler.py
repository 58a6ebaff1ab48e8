"""The rollup scheduler (``footfall rollup``): every ``rollup_interval`` seconds, find the hours
whose events changed since their rollups were built and run the Spark rollup job over them.

The lag is the age of the oldest change not yet rolled up: zero when every hour is current.
The scheduler looks at the changed hours every few seconds (``OBSERVE_EVERY_S``) and dates each
from the first time it saw it pending (or the hour's last change, if earlier); an hour that
changed again while a run was rebuilding it is dated from the start of that run. It is exposed
as ``footfall_rollup_lag_seconds`` and in ``/readyz``; the role reports not ready when the lag
passes an hour (the metrics promise) or the last run failed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from footfall.settings import Settings

if TYPE_CHECKING:
    from footfall.spark.rollup_job import RollupRun
    from footfall.store.cassandra import CassandraStore
    from footfall.store.cassandra.rollups import HourWork

log = logging.getLogger(__name__)
LAG_LIMIT_S = 3600.0
OBSERVE_EVERY_S = 5.0


class RollupScheduler:
    def __init__(self, settings: Settings, store: CassandraStore) -> None:
        self.settings = settings
        self.store = store
        self.runs = {"ok": 0, "failed": 0}
        self.hours = 0
        self.last_run: RollupRun | None = None
        self.last_error = ""
        self._spark: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lag: tuple[float, float] = (0.0, -1.0)  # (measured at, seconds)
        self._pending: dict[tuple[str, int], float] = {}  # changed hour -> pending since (s)
        self._run_lock = threading.Lock()
        self._lag_lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="footfall-rollup", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self._spark is not None:
            self._spark.stop()

    def _loop(self) -> None:
        next_run = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_run:
                next_run = time.monotonic() + self.settings.rollup_interval
                self.run_once()
            try:
                self.lag_seconds()
            except Exception:
                log.warning("could not measure the rollup lag", exc_info=True)
            self._stop.wait(min(OBSERVE_EVERY_S, max(0.0, next_run - time.monotonic())))

    def run_once(self, *, everything: bool = False) -> RollupRun | None:
        """One round: rebuild every changed hour (``everything``: every hour). None: it failed."""
        from footfall.spark.rollup_job import run_rollups
        from footfall.spark.session import open_spark

        with self._run_lock:
            try:
                started = time.time()
                work = self.store.rollup_work(everything=everything)
                self._observe(work, started)
                if work and self._spark is None:
                    self._spark = open_spark(self.settings, "footfall-rollup")
                s = self.settings
                run = run_rollups(
                    self._spark,
                    self.store,
                    work,
                    store_url=s.store_url,
                    consistency=s.cassandra_consistency,
                    partitions=s.spark_partitions,
                )
            except Exception as exc:
                self.runs["failed"] += 1
                self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                log.exception("rollup run failed")
                return None
            self.runs["ok"] += 1
            self.hours += run.hours
            with self._lag_lock:
                # what changed in these hours during the run is not in them: date it from the start
                for w in work:
                    self._pending[(w.property_id, w.hour)] = started
                self._lag = (0.0, -1.0)
            self.last_run, self.last_error = run, ""
            if run.hours:
                log.info(
                    "rolled up %d hours (%d events, %d cells) in %.1f s",
                    run.hours,
                    run.events,
                    run.cells,
                    run.seconds,
                )
            return run

    def _observe(self, work: list[HourWork], now: float) -> float:
        with self._lag_lock:
            seen = {(w.property_id, w.hour): w for w in work}
            for key in [k for k in self._pending if k not in seen]:
                del self._pending[key]
            for key, w in seen.items():
                self._pending.setdefault(key, min(now, w.since / 1e6))
            lag = max(0.0, now - min(self._pending.values(), default=now))
            self._lag = (now, lag)
            return lag

    def lag_seconds(self) -> float:
        """Age of the oldest change not in the rollups (looked up at most once a second)."""
        measured_at, lag = self._lag
        now = time.time()
        if lag < 0 or now - measured_at >= 1.0:
            lag = self._observe(self.store.rollup_work(), now)
        return lag

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        try:
            lag: float | None = round(self.lag_seconds(), 3)
        except Exception as exc:
            lag = None
            self.last_error = self.last_error or f"lag: {type(exc).__name__}"
        run = self.last_run
        check = {
            "lag_seconds": lag,
            "pending_hours": len(self._pending),
            "interval_seconds": self.settings.rollup_interval,
            "runs": dict(self.runs),
            "hours_rebuilt": self.hours,
            "last_run": None
            if run is None
            else {
                "hours": run.hours,
                "events": run.events,
                "cells": run.cells,
                "seconds": run.seconds,
            },
            "last_error": self.last_error or None,
        }
        ready = lag is not None and lag <= LAG_LIMIT_S and not self.last_error
        return ready, check
