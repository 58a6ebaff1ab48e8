"""Read-path routes: GA4 Data API ``runReport``, ``runRealtimeReport`` and ``getMetadata``,
and the dashboard.

Reports need a key with the read scope on the property in the path (``Authorization: Bearer``
or ``x-goog-api-key``); the gateway checks it before the handler runs. The dashboard's two
static files are public: the page asks for a key and sends it with every report.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, ClassVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from footfall.clock import Clock, local_date, system_clock
from footfall.errors import ApiError
from footfall.gateway.access import Access, Gateway
from footfall.gateway.body import Takes, decode_json, read_body
from footfall.gateway.responses import json_response
from footfall.report.realtime import RunRealtimeReportRequest, build_realtime_query
from footfall.report.request import RunReportRequest
from footfall.report.response import metadata_response, to_response
from footfall.report.validate import build_query
from footfall.store import ReportStore
from footfall.tenancy.model import Property

MAX_REPORT_BODY = 100_000
_report_decoder = msgspec.json.Decoder(RunReportRequest, strict=False)
_realtime_decoder = msgspec.json.Decoder(RunRealtimeReportRequest, strict=False)


def decode_body(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    """A report request body read by :func:`read_report_body`, decoded; a 400 names the field."""
    if len(body) > MAX_REPORT_BODY:
        raise ApiError(413, f"request body is over the limit of {MAX_REPORT_BODY} bytes")
    return decode_json(decoder, body)


async def read_report_body(request: Request) -> bytes:
    return await read_body(request, max_bytes=MAX_REPORT_BODY)


class ReportApi:
    def __init__(self, gateway: Gateway, reports: ReportStore, clock: Clock = system_clock) -> None:
        self.gateway = gateway
        self.clock = clock
        self.reports = reports

    TAKES: ClassVar[dict[str, Takes]] = {
        "runReport": Takes(RunReportRequest, summary="A GA4 Data API v1beta report"),
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
        req = decode_body(_report_decoder, await read_report_body(request))
        today = local_date(self.clock(), prop.time_zone)
        query = build_query(req, prop.property_id, today)
        result = await run_in_threadpool(self.reports.run_report, query)
        return json_response(to_response(query, result, prop))

    async def run_realtime(self, request: Request) -> Response:
        prop: Property = request.state.property
        req = decode_body(_realtime_decoder, await read_report_body(request))
        query = build_realtime_query(req, prop.property_id, self.clock())
        result = await run_in_threadpool(self.reports.run_realtime, query)
        return json_response(
            to_response(query, result, prop, kind="analyticsData#runRealtimeReport")
        )

    async def metadata(self, request: Request) -> Response:
        prop: Property = request.state.property
        return json_response(metadata_response(prop.property_id))

    async def dashboard(self, request: Request) -> Response:
        return HTMLResponse(_asset("index.html"))

    async def dashboard_js(self, request: Request) -> Response:
        return Response(_asset("dashboard.js"), media_type="text/javascript")


def _asset(name: str) -> str:
    return resources.files("footfall.api").joinpath("dashboard", name).read_text()
