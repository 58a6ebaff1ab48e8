"""Read-path routes: GA4 Data API ``runReport``, ``batchRunReports``, ``runRealtimeReport`` and
``getMetadata``, and the dashboard.

Request bodies may use any proto3 JSON encoding (``report/proto3.py``); with
``$alt=json;enum-encoding=int``, as Google's REST clients ask, response enums are numbers.

Reports need a key with the read scope on the property in the path (``Authorization: Bearer``
or ``x-goog-api-key``); the gateway checks it before the handler runs. The dashboard's two
static files are public: the page asks for a key and sends it with every report.

A report's cost is bounded: at most ``report_max_rows`` rows and ``report_max_response_bytes``
bytes (400 past either), a query stopped after ``report_timeout`` seconds (503), and a bounded
number running at once per property and per key, on threads of their own (429 past it; see
:mod:`footfall.api.runner`). The query and the response are both built off the event loop, so
the collector and other tenants keep their latency while big reports run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, ClassVar

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from footfall.api.runner import ReportRunner
from footfall.clock import Clock, local_date, system_clock
from footfall.errors import ApiError
from footfall.gateway.access import Access, Gateway
from footfall.gateway.body import Takes, decode_json, read_body
from footfall.gateway.responses import json_response
from footfall.report.proto3 import RequestDecoder, int_enums, with_int_enums
from footfall.report.query import ReportQuery
from footfall.report.realtime import RunRealtimeReportRequest, build_realtime_query
from footfall.report.request import BatchRunReportsRequest, RunReportRequest
from footfall.report.response import metadata_response, to_response
from footfall.report.validate import build_query
from footfall.settings import Settings
from footfall.store import ReportStore, ReportTimeout
from footfall.tenancy.model import Property

MAX_REPORT_BODY = 100_000
MAX_BATCH_REQUESTS = 5  # GA4's limit for batchRunReports
_report_decoder = RequestDecoder(RunReportRequest)
_batch_decoder = RequestDecoder(BatchRunReportsRequest)
_realtime_decoder = RequestDecoder(RunRealtimeReportRequest)
_encoder = msgspec.json.Encoder()


async def read_report_body(request: Request) -> bytes:
    return await read_body(request, max_bytes=MAX_REPORT_BODY)


class ReportApi:
    def __init__(
        self,
        gateway: Gateway,
        reports: ReportStore,
        clock: Clock = system_clock,
        settings: Settings | None = None,
    ) -> None:
        self.gateway = gateway
        self.clock = clock
        self.reports = reports
        s = settings or Settings()
        self.max_rows = s.report_max_rows
        self.max_response_bytes = s.report_max_response_bytes
        self.runner = ReportRunner(
            workers=s.report_workers,
            per_property=s.report_concurrency_per_property,
            per_key=s.report_concurrency_per_key,
            queue_timeout=s.report_queue_timeout,
            metrics=gateway.metrics,
        )

    TAKES: ClassVar[dict[str, Takes]] = {
        "runReport": Takes(RunReportRequest, summary="A GA4 Data API v1beta report"),
        "batchRunReports": Takes(
            BatchRunReportsRequest, summary="Up to five GA4 Data API v1beta reports at once"
        ),
        "runRealtimeReport": Takes(
            RunRealtimeReportRequest, summary="Events of the last 30 minutes (GA4 realtime)"
        ),
        "getMetadata": Takes(summary="The dimensions and metrics reports may ask for"),
        "dashboard": Takes(summary="The dashboard page", media_type="text/html"),
        "dashboard.js": Takes(summary="The dashboard's script", media_type="text/javascript"),
    }

    def routes(self) -> list[Route]:
        g = self.gateway.guard
        base = "/v1beta/properties/{property_id}"
        return [
            Route(
                f"{base}:runReport", g(Access.READ, self.run_report, "runReport"), methods=["POST"]
            ),
            Route(
                f"{base}:batchRunReports",
                g(Access.READ, self.batch_run_reports, "batchRunReports"),
                methods=["POST"],
            ),
            Route(
                f"{base}:runRealtimeReport",
                g(Access.READ, self.run_realtime, "runRealtimeReport"),
                methods=["POST"],
            ),
            Route(
                f"{base}/metadata", g(Access.READ, self.metadata, "getMetadata"), methods=["GET"]
            ),
            Route("/", g(Access.PUBLIC, self.dashboard, "dashboard"), methods=["GET"]),
            Route(
                "/dashboard.js",
                g(Access.PUBLIC, self.dashboard_js, "dashboard.js"),
                methods=["GET"],
            ),
        ]

    async def run_report(self, request: Request) -> Response:
        prop: Property = request.state.property
        req = decode_json(_report_decoder, await read_report_body(request))
        _same_property(req.property, prop, "property")
        return await self._report(request, req, prop)

    async def batch_run_reports(self, request: Request) -> Response:
        """Up to five ``runReport`` requests, each answered as ``runReport`` would; one invalid
        request fails the batch with a 400 naming it, as GA4 does."""
        prop: Property = request.state.property
        batch: BatchRunReportsRequest = decode_json(_batch_decoder, await read_report_body(request))
        _same_property(batch.property, prop, "property")
        if not batch.requests:
            raise ApiError(400, "requests: at least one request is required")
        if len(batch.requests) > MAX_BATCH_REQUESTS:
            raise ApiError(
                400, f"requests: {len(batch.requests)} given; the limit is {MAX_BATCH_REQUESTS}"
            )
        today = local_date(self.clock(), prop.time_zone)
        queries = []  # every request is validated before any runs
        for i, req in enumerate(batch.requests):
            with _in_request(i):
                _same_property(req.property, prop, "property")
                queries.append(self._capped(build_query(req, prop.property_id, today), req.limit))

        def run_all() -> dict[str, Any]:  # one turn of the runner for the whole batch
            reports = []
            for i, query in enumerate(queries):
                with _in_request(i):
                    reports.append(to_response(query, self.reports.run_report(query), prop))
            return {"reports": reports, "kind": "analyticsData#batchRunReports"}

        return await self._bounded(request, run_all)

    async def _report(self, request: Request, req: RunReportRequest, prop: Property) -> Response:
        today = local_date(self.clock(), prop.time_zone)
        query = self._capped(build_query(req, prop.property_id, today), req.limit)
        return await self._bounded(
            request, lambda: to_response(query, self.reports.run_report(query), prop)
        )

    async def run_realtime(self, request: Request) -> Response:
        prop: Property = request.state.property
        req = decode_json(_realtime_decoder, await read_report_body(request))
        _same_property(req.property, prop, "property")
        query = self._capped(build_realtime_query(req, prop.property_id, self.clock()), req.limit)
        return await self._bounded(
            request,
            lambda: to_response(
                query,
                self.reports.run_realtime(query),
                prop,
                kind="analyticsData#runRealtimeReport",
            ),
        )

    # -- the cost of a report ---------------------------------------------------------------

    def _capped(self, query: ReportQuery, requested: int) -> ReportQuery:
        """At most ``report_max_rows`` rows: 400 when asked for more, the default cut to it."""
        if requested > self.max_rows:
            raise ApiError(
                400,
                f"limit: {requested} is over this server's maximum of {self.max_rows} rows "
                "(report_max_rows); page with offset",
            )
        if query.limit > self.max_rows:
            return msgspec.structs.replace(query, limit=self.max_rows)
        return query

    async def _bounded(self, request: Request, build: Callable[[], dict[str, Any]]) -> Response:
        """Run ``build`` (the queries and the response) on a report thread, within the
        runner's turns, the time budget and the response size."""
        prop: Property = request.state.property
        ints = int_enums(request.query_params)

        def work() -> bytes:  # on a report thread: the query, then the response's bytes
            try:
                answer = build()
            except ReportTimeout as exc:
                self._stopped(prop, "report_timeout")
                raise ApiError(
                    503,
                    f"this report ran past the server's time budget of {exc.seconds:g} seconds "
                    "(report_timeout) and was stopped; ask for a shorter date range, fewer "
                    "dimensions or a filter, or retry when the server is less busy",
                    retry_after=max(1, round(exc.seconds)),
                ) from None
            body = _encoder.encode(with_int_enums(answer) if ints else answer)
            if len(body) > self.max_response_bytes:
                self._stopped(prop, "report_max_response_bytes")
                raise ApiError(
                    400,
                    f"the report is {len(body)} bytes, over this server's maximum of "
                    f"{self.max_response_bytes} (report_max_response_bytes); ask for fewer rows "
                    "with limit and page with offset",
                )
            return body

        key_id: str = request.state.key.key_id
        try:
            body = await self.runner.run(prop.property_id, key_id, work)
        except ApiError as exc:
            if exc.code == 429:  # no room to run it
                self.gateway.usage.add(prop.property_id, "rate_limited:report_concurrency")
            raise
        return Response(body, media_type="application/json")

    def _stopped(self, prop: Property, bound: str) -> None:
        self.gateway.metrics.reports_stopped.labels(bound).inc()
        self.gateway.usage.add(prop.property_id, f"reports_stopped:{bound}")

    async def metadata(self, request: Request) -> Response:
        prop: Property = request.state.property
        return _answer(metadata_response(prop.property_id), int_enums(request.query_params))

    async def dashboard(self, request: Request) -> Response:
        return HTMLResponse(_asset("index.html"))

    async def dashboard_js(self, request: Request) -> Response:
        return Response(_asset("dashboard.js"), media_type="text/javascript")


@contextmanager
def _in_request(index: int) -> Iterator[None]:
    """A 400 from one request of a batch names the request."""
    try:
        yield
    except ApiError as exc:
        if exc.code != 400:
            raise
        raise ApiError(400, f"requests[{index}].{exc.message}") from None


def _same_property(name: str | None, prop: Property, field: str) -> None:
    """A body's ``property`` may be absent; given, it must be the property of the path."""
    if name is not None and name != f"properties/{prop.property_id}":
        raise ApiError(400, f"{field}: {name[:40]!r} is not the property of the path")


def _answer(body: dict[str, Any], ints: bool) -> Response:
    return json_response(with_int_enums(body) if ints else body)


def _asset(name: str) -> str:
    return resources.files("footfall.api").joinpath("dashboard", name).read_text()
