"""Collector routes: ``POST /v1/collect`` (and its CORS preflight).

The handler stays thin: read the body within limits, find the property, validate and stamp
each event, publish the accepted ones and answer only after the queue says they are durable.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall.collect.body import read_body
from footfall.collect.native import Limits, Stamp, build_events, decode_envelope
from footfall.gateway.tokens import AdminToken, bearer
from footfall.property import Property
from footfall.queue import Publisher, QueueUnavailable
from footfall.report.errors import ApiError
from footfall.settings import Settings
from footfall.store import PropertyStore

CORS_HEADERS = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Encoding, Authorization",
    "Access-Control-Max-Age": "86400",
}
PROPERTY_CACHE_S = 5.0
MAX_HEADER_CHARS = 512  # User-Agent and Accept-Language are cut to this
_json = msgspec.json.Encoder()


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        _json.encode(body), status_code=status, media_type="application/json", headers=headers
    )


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    if error.code in (429, 503):
        headers = {**(headers or {}), "Retry-After": str(error.retry_after)}
    return json_response(error.body(), error.code, headers)


class Collector:
    def __init__(
        self, settings: Settings, properties: PropertyStore, publisher: Publisher, admin: AdminToken
    ) -> None:
        self.settings = settings
        self.properties = properties
        self.publisher = publisher
        self.admin = admin
        self.limits = Limits(
            max_events=settings.max_events_per_request,
            max_params=settings.max_params_per_event,
            max_age_us=settings.max_event_age_hours * 3_600_000_000,
            max_future_us=settings.max_future_minutes * 60_000_000,
        )
        self._by_mid: dict[str, tuple[float, Property | None]] = {}

    def routes(self) -> list[Route]:
        return [Route("/v1/collect", self.collect, methods=["POST", "OPTIONS"])]

    def _property(self, measurement_id: str) -> Property | None:
        now = time.monotonic()
        cached = self._by_mid.get(measurement_id)
        if cached is None or now - cached[0] > PROPERTY_CACHE_S:
            if len(self._by_mid) > 10_000:
                self._by_mid.clear()
            cached = (now, self.properties.property_for_measurement_id(measurement_id))
            self._by_mid[measurement_id] = cached
        return cached[1]

    def _client_ip(self, request: Request) -> str:
        if self.settings.trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for", "")
            first = forwarded.split(",")[0].strip()
            if first:
                return first[:64]
        return request.client.host if request.client else ""

    async def collect(self, request: Request) -> Response:
        cors = _cors(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=cors)
        try:
            return await self._collect(request, cors)
        except ApiError as exc:
            return error_response(exc, cors)

    async def _collect(self, request: Request, cors: dict[str, str]) -> Response:
        s = self.settings
        body = await read_body(
            request, max_bytes=s.max_body_bytes, max_decompressed=s.max_decompressed_bytes
        )
        envelope = decode_envelope(body)
        query_mid = request.query_params.get("measurement_id")
        if query_mid and envelope.measurement_id and query_mid != envelope.measurement_id:
            raise ApiError(400, "measurement_id differs between the query string and the body")
        mid = query_mid or envelope.measurement_id
        if not mid:
            raise ApiError(400, "measurement_id is required (query string or body)")
        prop = self._property(mid[:64])
        if prop is None:
            raise ApiError(404, f"no property has measurement_id {mid[:64]!r}")
        token = bearer(request.headers.get("authorization"))
        backfill = False
        if token is not None:
            if not self.admin.verify(token):
                raise ApiError(401, "the Authorization token is not valid")
            backfill = True
        stamp = Stamp(
            property_id=prop.property_id,
            received_at=time.time_ns() // 1000,
            ip=self._client_ip(request),
            user_agent=request.headers.get("user-agent", "")[:MAX_HEADER_CHARS],
            accept_language=request.headers.get("accept-language", "")[:MAX_HEADER_CHARS],
            backfill=backfill,
        )
        accepted, results = build_events(envelope, stamp, self.limits)
        if accepted:
            key = (envelope.client_id or stamp.ip).encode()
            messages = [(key, _encode_raw(ev)) for ev in accepted]
            try:
                await asyncio.wait_for(self.publisher.publish(messages), timeout=s.publish_timeout)
            except (QueueUnavailable, TimeoutError):
                raise ApiError(503, "the queue is unavailable; retry later") from None
        n_ok = len(accepted)
        body_out = {"accepted": n_ok, "rejected": len(results) - n_ok, "events": results}
        status = 200 if n_ok else 400
        return json_response(body_out, status, cors)


_raw_encoder = msgspec.msgpack.Encoder()


def _encode_raw(event: object) -> bytes:
    return _raw_encoder.encode(event)


def _cors(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", **CORS_HEADERS}
