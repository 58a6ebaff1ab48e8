"""Read-path routes: GA4 Data API ``runReport`` and ``getMetadata``, and the dashboard.

Report routes need the admin token (``Authorization: Bearer`` or ``x-goog-api-key``) until
per-property API keys arrive with tenancy. The dashboard's two static files are public; the page
asks for the token and sends it with every report.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from zoneinfo import ZoneInfo

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from footfall.collect.app import error_response, json_response
from footfall.gateway.tokens import AdminToken, bearer
from footfall.property import Property
from footfall.report.errors import ApiError
from footfall.report.request import RunReportRequest
from footfall.report.response import metadata_response, to_response
from footfall.report.validate import build_query
from footfall.store import PropertyStore, ReportStore

MAX_REPORT_BODY = 100_000
_request_decoder = msgspec.json.Decoder(RunReportRequest, strict=False)


class ReportApi:
    def __init__(self, properties: PropertyStore, reports: ReportStore, admin: AdminToken) -> None:
        self.properties = properties
        self.reports = reports
        self.admin = admin

    def routes(self) -> list[Route]:
        return [
            Route("/v1beta/properties/{name}", self.property_method, methods=["POST"]),
            Route("/v1beta/properties/{property_id}/metadata", self.metadata, methods=["GET"]),
            Route("/", self.dashboard, methods=["GET"]),
            Route("/dashboard.js", self.dashboard_js, methods=["GET"]),
        ]

    def _authorize(self, request: Request) -> None:
        token = bearer(request.headers.get("authorization"), request.headers.get("x-goog-api-key"))
        if token is None:
            raise ApiError(
                401, "an API key is required (Authorization: Bearer <key> or x-goog-api-key)"
            )
        if not self.admin.verify(token):
            raise ApiError(401, "the API key is not valid")

    async def _property(self, property_id: str) -> Property:
        if not property_id.isdigit() or len(property_id) > 20:
            raise ApiError(400, f"property id must be numeric, got {property_id[:30]!r}")
        prop = await run_in_threadpool(self.properties.get_property, property_id)
        if prop is None:
            raise ApiError(404, f"property {property_id} does not exist")
        return prop

    async def property_method(self, request: Request) -> Response:
        try:
            self._authorize(request)
            property_id, _, method = request.path_params["name"].partition(":")
            if method != "runReport":
                raise ApiError(404, f"unknown method {method[:40]!r}; this server has runReport")
            prop = await self._property(property_id)
            body = await request.body()
            if len(body) > MAX_REPORT_BODY:
                raise ApiError(413, f"request body is over {MAX_REPORT_BODY} bytes")
            return json_response(await self._run_report(prop, body))
        except ApiError as exc:
            return error_response(exc)

    async def _run_report(self, prop: Property, body: bytes) -> dict[str, object]:
        try:
            req = _request_decoder.decode(body or b"{}")
        except msgspec.ValidationError as exc:
            raise ApiError(400, f"invalid request: {exc}") from None
        except msgspec.DecodeError as exc:
            raise ApiError(400, f"malformed JSON: {exc}") from None
        today = dt.datetime.now(ZoneInfo(prop.time_zone)).date()
        query = build_query(req, prop.property_id, today)
        result = await run_in_threadpool(self.reports.run_report, query)
        return to_response(query, result, prop)

    async def metadata(self, request: Request) -> Response:
        try:
            self._authorize(request)
            prop = await self._property(request.path_params["property_id"])
            return json_response(metadata_response(prop.property_id))
        except ApiError as exc:
            return error_response(exc)

    async def dashboard(self, request: Request) -> Response:
        return HTMLResponse(_asset("index.html"))

    async def dashboard_js(self, request: Request) -> Response:
        return Response(_asset("dashboard.js"), media_type="text/javascript")


def authorize_admin(request: Request, admin: AdminToken) -> None:
    token = bearer(request.headers.get("authorization"), request.headers.get("x-goog-api-key"))
    if token is None:
        raise ApiError(
            401, "an API key is required (Authorization: Bearer <key> or x-goog-api-key)"
        )
    if not admin.verify(token):
        raise ApiError(401, "the API key is not valid")


async def find_property(properties: PropertyStore, property_id: str) -> Property:
    if not property_id.isdigit() or len(property_id) > 20:
        raise ApiError(400, f"property id must be numeric, got {property_id[:30]!r}")
    prop = await run_in_threadpool(properties.get_property, property_id)
    if prop is None:
        raise ApiError(404, f"property {property_id} does not exist")
    return prop


def _asset(name: str) -> str:
    return resources.files("footfall.api").joinpath("dashboard", name).read_text()
