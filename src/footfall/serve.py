"""``footfall serve``: every role in one process on embedded storage.

:func:`build_runtime` opens the queue and store named in settings, prepares first start (a
default property and the admin token) and wires the processor; :func:`create_app` returns the
ASGI app whose lifespan starts and stops the processor thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import string
import threading
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall.api.admin import AdminApi
from footfall.api.app import ReportApi
from footfall.collect.app import Collector, error_response, json_response
from footfall.gateway.tokens import AdminToken
from footfall.process.geo import GeoLookup
from footfall.process.identity import SaltSource
from footfall.process.pipeline import build_pipeline
from footfall.process.processor import Processor
from footfall.process.reprocess import reprocess
from footfall.process.worker import Worker
from footfall.property import Property
from footfall.queue import Publisher, open_consumer, open_publisher, pending
from footfall.report.errors import ApiError
from footfall.settings import Settings
from footfall.store import Store, open_store

log = logging.getLogger(__name__)
PROCESSOR_GROUP = "processor"
MAINTENANCE_EVERY_S = 600.0


def new_property_id() -> str:
    return str(100_000_000 + secrets.randbelow(900_000_000))


def new_measurement_id() -> str:
    return "G-" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))


class FirstStart:
    """What first start created; the admin token is in clear only here, and only once."""

    def __init__(self, prop: Property | None, admin_token: str | None) -> None:
        self.property = prop
        self.admin_token = admin_token


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if (
            urlsplit(settings.queue_url).scheme == "local"
            or urlsplit(settings.store_url).scheme == "duckdb"
        ):
            settings.data_path.mkdir(parents=True, exist_ok=True)
        self.store: Store = open_store(settings.store_url)
        self.publisher: Publisher = open_publisher(
            settings.queue_url, retention_hours=settings.raw_retention_hours
        )
        self.admin = AdminToken(self.store)
        self.first_start = self._first_start()
        self.geo = GeoLookup(settings.geo_database)
        self.salts = SaltSource(self.store)
        self.pipeline = build_pipeline(geo=self.geo, salts=self.salts)
        self.processor = Processor(self.store, self.store, self.pipeline)
        self.worker = Worker(
            lambda: open_consumer(settings.queue_url, PROCESSOR_GROUP),
            self.processor,
            self.store,
            batch_size=settings.batch_size,
            flush_interval=settings.flush_interval,
        )
        self._stop = threading.Event()
        self._maintenance: threading.Thread | None = None

    def _first_start(self) -> FirstStart:
        created = None
        if not self.store.list_properties():
            created = Property(
                property_id=new_property_id(),
                name="Default property",
                measurement_id=new_measurement_id(),
                time_zone=self.settings.default_time_zone,
                currency=self.settings.default_currency,
                created_at=time.time_ns() // 1000,
            )
            self.store.save_property(created)
        return FirstStart(created, self.admin.ensure(self.settings.admin_token))

    def start(self) -> None:
        self.worker.start()
        self._maintenance = threading.Thread(
            target=self._maintain, name="footfall-maintenance", daemon=True
        )
        self._maintenance.start()

    def _maintain(self) -> None:
        while not self._stop.wait(MAINTENANCE_EVERY_S):
            try:
                self.forget_expired(time.time_ns() // 1000)
            except Exception:
                log.exception("maintenance failed")

    def reprocess(self, property_id: str) -> int:
        """Rebuild a property's derived data from raw events (call through ``worker.submit``)."""
        return reprocess(
            property_id, self.store, self.store, self.processor, batch_size=self.settings.batch_size
        )

    def forget_expired(self, now_us: int) -> None:
        """Clear client addresses and salts older than the raw retention window."""
        horizon = now_us - self.settings.raw_retention_hours * 3_600_000_000
        self.store.scrub_raw_ips(horizon)
        day = dt.datetime.fromtimestamp(horizon / 1e6, dt.UTC).date()
        self.store.forget_salts(day)
        self.salts.forget_before(day)

    def stop(self) -> None:
        self._stop.set()
        self.publisher.close()  # flushes every pending group commit first
        self.worker.stop()
        self.geo.close()
        self.store.close()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        worker = self.worker
        checks: dict[str, Any] = {
            "processor": {
                "alive": worker.alive,
                "batches": worker.batches,
                "seconds_since_last_batch": round(time.time() - worker.last_batch_at, 3)
                if worker.last_batch_at
                else None,
                "last_error": worker.last_error or None,
                "events": dict(self.processor.totals),
            },
        }
        try:
            checks["queue"] = {"pending": pending(self.settings.queue_url, PROCESSOR_GROUP)}
        except Exception as exc:
            checks["queue"] = {"error": type(exc).__name__}
        try:
            self.store.get_meta("readiness-probe")
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"error: {type(exc).__name__}"
        ready = worker.alive and checks["store"] == "ok" and not worker.last_error
        return ready, checks


def create_app(runtime: Runtime) -> Starlette:
    collector = Collector(runtime.settings, runtime.store, runtime.publisher, runtime.admin)
    reports = ReportApi(runtime.store, runtime.store, runtime.admin)
    admin = AdminApi(runtime.store, runtime.admin, runtime.worker.submit, runtime.reprocess)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready, checks = runtime.readiness()
        return json_response(
            {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *collector.routes(),
        *reports.routes(),
        *admin.routes(),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(ApiError(exc.status_code, str(exc.detail)))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(ApiError(500, "internal error"))

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
