"""Collector routes: ``POST /v1/collect`` and its CORS preflight.

The handler stays thin: read the body within limits, let the gateway identify the property
(its stream's measurement id) and the sender (a browser; a server with the stream's API secret;
or a write key, which may also send history), validate and stamp each event, publish the
accepted ones, and answer only after the queue says they are durable.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall.collect.protocols.native import Limits, Stamp, build_events, decode_envelope
from footfall.collect.publish import Publish
from footfall.errors import ApiError
from footfall.gateway.access import Access
from footfall.gateway.body import Takes, read_body
from footfall.gateway.ingest import MAX_MEASUREMENT_ID_CHARS, Credentials, Sender
from footfall.gateway.responses import error_response, json_response
from footfall.schema.wire import CollectEnvelope, CollectRequest
from footfall.tenancy.model import HostnamePolicy, Property, Stream
from footfall.tenancy.service import hostname_allowed

CORS_HEADERS = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}
MAX_HEADER_CHARS = 512  # User-Agent and Accept-Language are cut to this


def origin_host(request: Request) -> str:
    """The host of the page that sent a browser request: Origin, else Referer."""
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value and value != "null":
            try:
                return (urlsplit(value).hostname or "").lower()
            except ValueError:
                return ""
    return ""


def _serialized_origin(value: str) -> bool:
    """``scheme://host[:port]`` as browsers send it; never ``null`` (sandboxed frames, files,
    redirects), which every such page shares and so cannot be granted."""
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port_ok
        and not (parts.path or parts.query or parts.fragment or parts.username)
    )


def cors_headers(request: Request, prop: Property | None) -> dict[str, str]:
    """A CORS grant only for an origin on the property's allowed hostnames (any when none set)."""
    origin = request.headers.get("origin")
    if (
        not origin
        or prop is None
        or not _serialized_origin(origin)
        or not hostname_allowed(origin_host(request), prop.allowed_hostnames)
    ):
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", **CORS_HEADERS}


class Collector:
    """The native protocol's routes."""

    def __init__(self, publish: Publish) -> None:
        self.publish = publish
        self.settings = settings = publish.settings
        self.clock = publish.clock
        self.gateway = publish.gateway
        self.ingest = publish.ingest
        self.limits = Limits(
            max_events=settings.max_events_per_request,
            max_params=settings.max_params_per_event,
            max_age_us=settings.max_event_age_hours * 3_600_000_000,
            max_future_us=settings.max_future_minutes * 60_000_000,
        )

    TAKES: ClassVar[dict[str, Takes]] = {
        "collect": Takes(
            CollectRequest,
            query={
                "measurement_id": "the stream's measurement id (G-…), here or in the body",
                "api_secret": "a stream API secret, for server-side senders",
            },
            summary="Send up to 25 events (GA4 Measurement Protocol body with event_id)",
        ),
    }

    def routes(self) -> list[Route]:
        guard = self.gateway.guard
        return [
            Route(
                "/v1/collect",
                guard(Access.INGEST, self.collect, "collect"),
                methods=["POST", "OPTIONS"],
            )
        ]

    async def collect(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._preflight(request)
        found = self.ingest.stream(request.query_params.get("measurement_id", ""))
        try:
            return await self._collect(request, found)
        except ApiError as exc:
            return error_response(exc, cors_headers(request, found[1] if found else None))

    def _preflight(self, request: Request) -> Response:
        found = self.ingest.stream(request.query_params.get("measurement_id", ""))
        headers = cors_headers(request, found[1] if found else None)
        if not headers:
            return error_response(ApiError(403, "this origin may not send events to this property"))
        return Response(status_code=204, headers=headers)

    async def _collect(
        self, request: Request, by_query: tuple[Stream, Property] | None
    ) -> Response:
        s = self.settings
        body = await read_body(
            request,
            max_bytes=s.max_body_bytes,
            max_decompressed=s.max_decompressed_bytes,
            setting="max_body_bytes",
            decompressed_setting="max_decompressed_bytes",
        )
        envelope = decode_envelope(body)
        query_mid = request.query_params.get("measurement_id")
        if query_mid and envelope.measurement_id and query_mid != envelope.measurement_id:
            raise ApiError(400, "measurement_id differs between the query string and the body")
        mid = (query_mid or envelope.measurement_id or "")[:MAX_MEASUREMENT_ID_CHARS]
        if not mid:
            raise ApiError(400, "measurement_id is required (query string or body)")
        found = by_query if query_mid else self.ingest.stream(mid)  # the query's, found already
        if found is None:
            raise ApiError(404, f"no stream has measurement_id {mid!r}")
        try:
            sender = self.ingest.admit(
                request, found, Credentials.of(request), body_bytes=len(body)
            )
            return await self._accept(request, envelope, sender)
        except ApiError as exc:
            self.ingest.refused(found[1], exc, len(envelope.events))
            raise

    async def _accept(
        self, request: Request, envelope: CollectEnvelope, sender: Sender
    ) -> Response:
        prop = sender.property
        stamp = Stamp(
            property_id=prop.property_id,
            received_at=self.clock(),
            ip=self.gateway.client_ip(request),
            user_agent=request.headers.get("user-agent", "")[:MAX_HEADER_CHARS],
            accept_language=request.headers.get("accept-language", "")[:MAX_HEADER_CHARS],
            backfill=sender.backfill,
            server_side=sender.server_side,
            allowed_hostnames=prop.allowed_hostnames,
            flag_foreign_hostnames=prop.hostname_policy is HostnamePolicy.FLAG,
            origin_host=origin_host(request),
            from_browser="origin" in request.headers or "referer" in request.headers,
        )
        accepted, results = build_events(envelope, stamp, self.limits)
        key = envelope.client_id or envelope.app_instance_id or stamp.ip
        await self.publish.send(accepted, key=key)
        self.publish.count(
            prop.property_id,
            accepted=len(accepted),
            rejected=[r.reason or "" for r in results if r.status == "rejected"],
            flags=[ev.flags for ev in accepted],
        )
        n_ok = len(accepted)
        body_out = {"accepted": n_ok, "rejected": len(results) - n_ok, "events": results}
        return json_response(body_out, 200 if n_ok else 400, cors_headers(request, prop))
