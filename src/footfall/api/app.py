"""Read-path routes: GA4 Data API ``runReport``, ``batchRunReports``, ``runRealtimeReport`` and
``getMetadata``, and the dashboard.

Request bodies may use any proto3 JSON encoding (``report/proto3.py``); with
``$alt=json;enum-encoding=int``, as Google's REST clients ask, response enums are numbers.

Reports need a key with the read scope on the property in the path (``Authorization: Bearer``
or ``x-goog-api-key``); the gateway checks it before the handler runs. The dashboard's two
static files are public: the page asks for a key and sends it with every report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from footfall.clock import Clock, local_date, system_clock
from footfall.errors import ApiError
from footfall.gateway.access import Access, Gateway
from footfall.gateway.responses import json_response
from footfall.report.proto3 import RequestDecoder, int_enums, with_int_enums
from footfall.report.realtime import RunRealtimeReportRequest, build_realtime_query
from footfall.report.request import BatchRunReportsRequest, RunReportRequest
from footfall.report.response import metadata_response, to_response
from footfall.report.validate import build_query
from footfall.store import ReportStore
from footfall.tenancy.model import Property

MAX_REPORT_BODY = 100_000
MAX_BATCH_REQUESTS = 5  # GA4's limit for batchRunReports
_report_decoder = RequestDecoder(RunReportRequest)
_batch_decoder = RequestDecoder(BatchRunReportsRequest)
_realtime_decoder = RequestDecoder(RunRealtimeReportRequest)


def decode_body(decoder: RequestDecoder[Any], body: bytes) -> Any:
    if len(body) > MAX_REPORT_BODY:
        raise ApiError(413, f"request body is over {MAX_REPORT_BODY} bytes")
    try:
        return decoder.decode(body or b"{}")
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None


class ReportApi:
    def __init__(self, gateway: Gateway, reports: ReportStore, clock: Clock = system_clock) -> None:
        self.gateway = gateway
        self.clock = clock
        self.reports = reports

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
        ints = int_enums(request.query_params)
        req = decode_body(_report_decoder, await request.body())
        _same_property(req.property, prop, "property")
        return _answer(await self._report(req, prop), ints)

    async def batch_run_reports(self, request: Request) -> Response:
        """Up to five ``runReport`` requests, each answered as ``runReport`` would; one invalid
        request fails the batch with a 400 naming it, as GA4 does."""
        prop: Property = request.state.property
        ints = int_enums(request.query_params)
        batch: BatchRunReportsRequest = decode_body(_batch_decoder, await request.body())
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
                queries.append(build_query(req, prop.property_id, today))
        reports = []
        for i, query in enumerate(queries):
            with _in_request(i):
                result = await run_in_threadpool(self.reports.run_report, query)
            reports.append(to_response(query, result, prop))
        return _answer({"reports": reports, "kind": "analyticsData#batchRunReports"}, ints)

    async def _report(self, req: RunReportRequest, prop: Property) -> dict[str, Any]:
        today = local_date(self.clock(), prop.time_zone)
        query = build_query(req, prop.property_id, today)
        result = await run_in_threadpool(self.reports.run_report, query)
        return to_response(query, result, prop)

    async def run_realtime(self, request: Request) -> Response:
        prop: Property = request.state.property
        ints = int_enums(request.query_params)
        req = decode_body(_realtime_decoder, await request.body())
        _same_property(req.property, prop, "property")
        query = build_realtime_query(req, prop.property_id, self.clock())
        result = await run_in_threadpool(self.reports.run_realtime, query)
        return _answer(
            to_response(query, result, prop, kind="analyticsData#runRealtimeReport"), ints
        )

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
