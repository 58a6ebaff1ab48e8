"""Read-path routes: GA4 Data API ``runReport``, ``runRealtimeReport`` and ``getMetadata``,
and the dashboard.

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

from collections.abc import Callable
from importlib import resources
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from footfall.api.runner import ReportRunner
from footfall.clock import Clock, local_date, system_clock
from footfall.errors import ApiError
from footfall.gateway.access import Access, Gateway
from footfall.gateway.responses import json_response
from footfall.report.query import ReportQuery, ReportResult
from footfall.report.realtime import RunRealtimeReportRequest, build_realtime_query
from footfall.report.request import RunReportRequest
from footfall.report.response import metadata_response, to_response
from footfall.report.validate import build_query
from footfall.settings import Settings
from footfall.store import ReportStore, ReportTimeout
from footfall.tenancy.model import Property

MAX_REPORT_BODY = 100_000
_report_decoder = msgspec.json.Decoder(RunReportRequest, strict=False)
_realtime_decoder = msgspec.json.Decoder(RunRealtimeReportRequest, strict=False)
_encoder = msgspec.json.Encoder()


def decode_body(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    if len(body) > MAX_REPORT_BODY:
        raise ApiError(413, f"request body is over {MAX_REPORT_BODY} bytes")
    try:
        return decoder.decode(body or b"{}")
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None


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

    def routes(self) -> list[Route]:
        g = self.gateway.guard
        base = "/v1beta/properties/{property_id}"
        return [
            Route(
                f"{base}:runReport", g(Access.READ, self.run_report, "runReport"), methods=["POST"]
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
        req = decode_body(_report_decoder, await request.body())
        today = local_date(self.clock(), prop.time_zone)
        query = self._capped(build_query(req, prop.property_id, today), req.limit)
        return await self._answer(request, query, self.reports.run_report)

    async def run_realtime(self, request: Request) -> Response:
        prop: Property = request.state.property
        req = decode_body(_realtime_decoder, await request.body())
        query = self._capped(build_realtime_query(req, prop.property_id, self.clock()), req.limit)
        return await self._answer(
            request, query, self.reports.run_realtime, "analyticsData#runRealtimeReport"
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

    async def _answer(
        self,
        request: Request,
        query: ReportQuery,
        run: Callable[[ReportQuery], ReportResult],
        kind: str = "analyticsData#runReport",
    ) -> Response:
        prop: Property = request.state.property

        def work() -> bytes:  # on a report thread: the query, then the response's bytes
            try:
                result = run(query)
            except ReportTimeout as exc:
                self._stopped(prop, "report_timeout")
                raise ApiError(
                    503,
                    f"this report ran past the server's time budget of {exc.seconds:g} seconds "
                    "(report_timeout) and was stopped; ask for a shorter date range, fewer "
                    "dimensions or a filter, or retry when the server is less busy",
                    retry_after=max(1, round(exc.seconds)),
                ) from None
            body = _encoder.encode(to_response(query, result, prop, kind=kind))
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
        return json_response(metadata_response(prop.property_id))

    async def dashboard(self, request: Request) -> Response:
        return HTMLResponse(_asset("index.html"))

    async def dashboard_js(self, request: Request) -> Response:
        return Response(_asset("dashboard.js"), media_type="text/javascript")


def _asset(name: str) -> str:
    return resources.files("footfall.api").joinpath("dashboard", name).read_text()
