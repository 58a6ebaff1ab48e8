"""``footfall serve``: every role in one process on embedded storage.

:class:`Runtime` opens the queue and store named in settings, prepares first start (a demo
account, property and stream, an operator key and a stream secret, shown once) and wires the
gateway and the processor; :func:`create_app` returns the ASGI app whose lifespan starts and
stops the background threads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from footfall import __version__
from footfall.api.admin import AdminApi
from footfall.api.app import ReportApi
from footfall.api.openapi import OpenApi
from footfall.api.tracker import TrackerScripts
from footfall.clock import Clock, system_clock
from footfall.collect.publish import Publish
from footfall.collect.routes import collector_routes
from footfall.errors import ApiError
from footfall.gateway.access import Access, Gateway
from footfall.gateway.body import Takes
from footfall.gateway.limits import Limit, RateLimits
from footfall.gateway.metrics import CONTENT_TYPE_LATEST, Metrics
from footfall.gateway.responses import error_response, json_response
from footfall.gateway.usage import UsageMeter
from footfall.process.geo import GeoLookup
from footfall.process.identity import SaltSource
from footfall.process.pipeline import build_pipeline
from footfall.process.processor import Processor
from footfall.process.rates import ExchangeRates
from footfall.process.reprocess import CLUSTER_SETTLE_S, Rebuilder
from footfall.process.worker import Worker
from footfall.queue import (
    Publisher,
    open_consumer,
    open_dead_letters,
    open_publisher,
    pending,
)
from footfall.rollup.scheduler import RollupScheduler
from footfall.settings import Settings, SettingsError
from footfall.store import Store, open_store
from footfall.store.disk import DiskSpace, is_disk_full, local_dirs
from footfall.tenancy.model import Account, Property, Scope, Stream
from footfall.tenancy.service import Tenancy

log = logging.getLogger(__name__)
PROCESSOR_GROUP = "processor"
RETENTION_EVERY_S = 600.0


class FirstStart(msgspec.Struct, frozen=True):
    """What first start created. The key and secret are in clear only here, and only once."""

    account: Account
    property: Property
    stream: Stream
    operator_key: str
    stream_secret: str


def rate_limits(settings: Settings) -> RateLimits:
    burst = settings.rate_limit_burst_seconds

    def limit(rate: float) -> Limit:
        return Limit(rate=rate, burst=max(1.0, rate * burst))

    failures = settings.rate_limit_auth_failures_per_minute
    return RateLimits(
        per_key=limit(settings.rate_limit_per_key),
        per_property=limit(settings.rate_limit_per_property),
        reports_per_property=limit(settings.rate_limit_reports_per_property),
        auth_failures=Limit(rate=failures / 60, burst=max(1.0, failures)),
    )


ROLES = frozenset({"collect", "process", "api"})


class Runtime:
    """The roles this process plays (``serve``: all three) over the queue and store in settings."""

    def __init__(
        self,
        settings: Settings,
        roles: frozenset[str] = ROLES,
        *,
        first_start: bool = True,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.roles = roles
        self.clock = clock
        if (
            urlsplit(settings.queue_url).scheme == "local"
            or urlsplit(settings.store_url).scheme == "duckdb"
        ):
            settings.data_path.mkdir(parents=True, exist_ok=True)
        self.store: Store = open_store(settings.store_url, settings)
        self.publisher: Publisher | None = (
            open_publisher(settings.queue_url, retention_hours=settings.raw_retention_hours)
            if "collect" in roles
            else None
        )
        self.disk = DiskSpace(
            local_dirs(settings.queue_url, settings.store_url), settings.disk_reserve_bytes
        )
        self.tenancy = Tenancy(self.store, clock)
        self.first_start = self._first_start() if first_start else None
        self.metrics = Metrics()
        self.usage = UsageMeter(self.store, clock)
        self.gateway = Gateway(
            self.tenancy,
            rate_limits(settings),
            self.usage,
            self.metrics,
            trust_forwarded_for=settings.trust_forwarded_for,
        )
        self.geo = GeoLookup(settings.geo_database)
        self.salts = SaltSource(self.store)
        self.rates = ExchangeRates(self.store)
        self.pipeline = build_pipeline(geo=self.geo, salts=self.salts, rates=self.rates)
        self.processor = Processor(self.store, self.tenancy.property, self.pipeline, clock)
        self.worker: Worker | None = (
            Worker(
                lambda: open_consumer(settings.queue_url, PROCESSOR_GROUP),
                self.processor,
                self.store,
                batch_size=settings.batch_size,
                flush_interval=settings.flush_interval,
                dead_letters=open_dead_letters(settings.queue_url),
                count_usage=self.usage.add,
            )
            if "process" in roles
            else None
        )
        # re-processing runs where the processor runs: it finishes on the processor's thread
        self.rebuilder: Rebuilder | None = (
            Rebuilder(
                self.store,
                self.tenancy.property,
                build_pipeline(geo=self.geo, salts=self.salts, rates=self.rates),
                self.worker.submit,
                clock,
                batch_size=settings.batch_size,
                settle_s=CLUSTER_SETTLE_S
                if urlsplit(settings.store_url).scheme == "cassandra"
                else 0.0,
            )
            if self.worker is not None
            else None
        )
        self.scheduler: RollupScheduler | None = None
        if "rollup" in roles:
            from footfall.store.cassandra import CassandraStore

            if not isinstance(self.store, CassandraStore):
                raise SettingsError(
                    "the rollup role builds rollups on the cluster store: set store to cassandra://"
                )
            self.scheduler = RollupScheduler(settings, self.store)
        self._stop = threading.Event()
        self._maintenance: threading.Thread | None = None

    def _first_start(self) -> FirstStart | None:
        if self.tenancy.accounts():
            return None
        s = self.settings
        account = self.tenancy.create_account("Demo")
        prop = self.tenancy.create_property(
            account.account_id,
            "Demo property",
            time_zone=s.default_time_zone,
            currency=s.default_currency,
        )
        stream = self.tenancy.create_stream(prop.property_id, "Web")
        secret = self.tenancy.create_secret(stream.stream_id, "server")
        key = self.tenancy.create_key(None, "operator", ["admin"], value=s.admin_key or None)
        return FirstStart(account, prop, stream, key.value, secret.value)

    def start(self) -> None:
        if self.worker is not None:
            self.worker.start()
        if self.rebuilder is not None:
            self.rebuilder.start()  # resumes the rebuilds a previous process left unfinished
        if self.scheduler is not None:
            self.scheduler.start()
        self._maintenance = threading.Thread(
            target=self._maintain, name="footfall-maintenance", daemon=True
        )
        self._maintenance.start()

    def _maintain(self) -> None:
        last_retention = time.monotonic()
        while not self._stop.wait(self.settings.usage_flush_interval):
            try:
                self.usage.flush()
                if time.monotonic() - last_retention > RETENTION_EVERY_S:
                    last_retention = time.monotonic()
                    self.forget_expired(self.clock())
            except Exception as exc:
                if is_disk_full(exc):  # kept in memory and written once there is space
                    log.warning("maintenance waits for disk space: %s", exc)
                else:
                    log.exception("maintenance failed")

    def forget_expired(self, now_us: int) -> None:
        """Clear client addresses and salts past the raw window; events past each property's retention."""
        horizon = now_us - self.settings.raw_retention_hours * 3_600_000_000
        self.store.scrub_raw_ips(horizon)
        day = dt.datetime.fromtimestamp(horizon / 1e6, dt.UTC).date()
        self.store.forget_salts(day)
        self.salts.forget_before(day)
        for prop in self.tenancy.properties():
            if prop.retention_days:
                self.store.delete_before(
                    prop.property_id, now_us - prop.retention_days * 86_400_000_000
                )

    def stop(self) -> None:
        self._stop.set()
        if self.publisher is not None:
            self.publisher.close()  # flushes every pending group commit first
        if self.rebuilder is not None:
            self.rebuilder.stop()  # before the processor: a rebuild may wait on its thread
        if self.worker is not None:
            self.worker.stop()
            self.worker.dead_letters.close()
        if self.scheduler is not None:
            self.scheduler.stop()
        with contextlib.suppress(Exception):
            self.usage.flush()
        self.geo.close()
        self.store.close()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        worker = self.worker
        checks: dict[str, Any] = {"roles": sorted(self.roles)}
        if worker is not None:
            checks["processor"] = {
                "alive": worker.alive,
                "batches": worker.batches,
                "seconds_since_last_batch": round(time.time() - worker.last_batch_at, 3)
                if worker.last_batch_at
                else None,
                "last_error": worker.last_error or None,
                "events": dict(self.processor.totals),
            }
        rebuilder = self.rebuilder
        if rebuilder is not None:
            checks["reprocess"] = {
                "alive": rebuilder.alive,
                "running": [
                    {
                        "property_id": r.property_id,
                        "raw_events_read": r.raw_read,
                        "raw_events_total": r.raw_total,
                        "last_error": r.last_error or None,
                    }
                    for r in rebuilder.running()
                ],
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
        if self.disk.dirs:
            checks["disk"] = self.disk.readiness()
        # what keeps this process from being ready, one word each (the public answer names
        # the first)
        not_ready: list[str] = []
        if checks["store"] != "ok":
            not_ready.append("store")
        if worker is not None and not (worker.alive and not worker.last_error):
            not_ready.append("processor")
        if self.disk.low:
            not_ready.append("disk")
        if rebuilder is not None and worker is not None and worker.alive and not rebuilder.alive:
            not_ready.append("reprocess")  # unfinished rebuilds resume only on that thread
        if self.scheduler is not None:
            rollup_ready, checks["rollup"] = self.scheduler.readiness()
            if not rollup_ready:
                not_ready.append("rollup")
        checks["not_ready"] = not_ready
        return not not_ready, checks


SERVER_TAKES = {
    "healthz": Takes(summary="Alive: the process answers HTTP"),
    "readyz": Takes(summary="Ready or not, and why; every check with an operator key"),
    "metrics": Takes(summary="Prometheus metrics of this process", media_type="text/plain"),
    "openapi": Takes(summary="This document"),
    **TrackerScripts.TAKES,
}


def tracker_routes(runtime: Runtime) -> list[Route]:
    """``/footfall.js`` where a script tag may point: the collector (the tag's default host) or
    the API and dashboard, once in a process that has both."""
    if runtime.publisher is None and "api" not in runtime.roles:
        return []
    return TrackerScripts(runtime.gateway).routes()


def collect_routes(runtime: Runtime, takes: dict[str, Takes]) -> list[Route]:
    """Every ingestion protocol's routes on one publish path (a process with a queue)."""
    assert runtime.publisher is not None
    publish = Publish(
        runtime.settings, runtime.gateway, runtime.publisher, runtime.clock, disk=runtime.disk
    )
    routes, protocol_takes = collector_routes(publish)
    takes.update(protocol_takes)
    return routes


def create_app(runtime: Runtime) -> Starlette:
    gateway = runtime.gateway
    routes_by_role: list[Route] = []
    takes: dict[str, Takes] = dict(SERVER_TAKES)
    if runtime.publisher is not None:
        routes_by_role += collect_routes(runtime, takes)
    if "api" in runtime.roles:
        routes_by_role += ReportApi(
            gateway, runtime.store, runtime.clock, runtime.settings
        ).routes()
        routes_by_role += AdminApi(
            gateway,
            runtime.tenancy,
            runtime.rebuilder,
            runtime.store,
            runtime.clock,
            rates=runtime.rates,
        ).routes()
        takes.update(ReportApi.TAKES)
        takes.update(AdminApi.TAKES)
    routes_by_role += tracker_routes(runtime)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        """Public: ready or not, and why in one word. With an operator key: every check."""
        key = gateway.authenticate(request, required=False)  # a wrong key is a 401, counted
        ready, checks = runtime.readiness()
        body: dict[str, Any] = {"status": "ready" if ready else "not ready"}
        if not ready:
            body["reason"] = (checks.get("not_ready") or ["unavailable"])[0]
        if key is not None and key.is_operator and key.allows(Scope.ADMIN):
            body["checks"] = checks
        return json_response(body, 200 if ready else 503)

    async def metrics(request: Request) -> Response:
        m = runtime.metrics
        _ready, checks = runtime.readiness()
        if isinstance(checks["queue"].get("pending"), int):
            m.queue_pending.set(checks["queue"]["pending"])
        for outcome, value in runtime.processor.totals.items():
            m.processed.labels(outcome).set(value)
        for source, value in getattr(runtime.store, "report_sources", {}).items():
            m.report_sources.labels(source).set(value)
        scheduler = runtime.scheduler
        if scheduler is not None and checks["rollup"]["lag_seconds"] is not None:
            m.rollup_lag.set(checks["rollup"]["lag_seconds"])
            for outcome, value in scheduler.runs.items():
                m.rollup_runs.labels(outcome).set(value)
            m.rollup_hours.set(scheduler.hours)
        return Response(m.exposition(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    g = gateway.guard
    routes = [
        Route("/healthz", g(Access.PUBLIC, healthz, "healthz"), methods=["GET"]),
        Route("/readyz", g(Access.PUBLIC, readyz, "readyz"), methods=["GET"]),
        Route("/metrics", g(Access.OPERATOR, metrics, "metrics"), methods=["GET"]),
        Route(
            "/openapi.json",
            g(Access.PUBLIC, OpenApi(takes, __version__).serve, "openapi"),
            methods=["GET"],
        ),
        *routes_by_role,
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(ApiError(exc.status_code, str(exc.detail)))

    async def client_gone(request: Request, exc: Exception) -> Response:
        # the client closed the connection, or it was closed past body_timeout, while its body
        # was read: nobody is there to answer, and nothing went wrong on the server
        return Response(status_code=400)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(ApiError(500, "internal error"))

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_error,
            ClientDisconnect: client_gone,
            Exception: server_error,
        },
    )
    app.state.takes = takes  # what each route takes, by operation name (tests read it)
    return app
