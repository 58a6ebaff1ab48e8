"""Admission for every ingestion protocol: which stream, who sends, may they, within what rate.

A protocol module only parses its wire shape and maps it onto the event contract. Before its
events are validated it hands the gateway what identified the stream and what credentials the
request carried, and gets back a :class:`Sender`: the stream, its property, and what the sender
may do (send on a visitor's behalf, send history). The gateway charges the property's ingest
bucket, counts the bytes, applies the failed-authentication limit, checks an API secret or a
write key, and, when it refuses, counts the refused events in the property's usage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request

from footfall.errors import ApiError
from footfall.gateway.access import bearer
from footfall.tenancy.model import ApiKey, Property, Scope, Stream

if TYPE_CHECKING:
    from footfall.gateway.access import Gateway

# the usage reason each refusal of a whole request counts its events under
REFUSALS = {
    401: "unauthenticated",
    403: "forbidden",
    404: "forbidden",
    429: "rate_limited",
    503: "unavailable",
}
MAX_MEASUREMENT_ID_CHARS = 64


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """What a request presented to prove it is a server: a stream API secret, a key, or neither."""

    api_secret: str | None = None
    key: str | None = None

    @classmethod
    def of(cls, request: Request) -> Credentials:
        """The native and GA4 protocols' places: ``?api_secret=``, and ``Authorization: Bearer``
        or ``x-goog-api-key`` for a key."""
        return cls(
            api_secret=request.query_params.get("api_secret"),
            key=bearer(request.headers.get("authorization"), request.headers.get("x-goog-api-key")),
        )


class Sender(msgspec.Struct, frozen=True, kw_only=True):
    stream: Stream
    property: Property
    key: ApiKey | None = None
    server_side: bool = False  # an API secret or a write key: may send user_agent/ip_override
    backfill: bool = False  # a write key: may send history older than the age limit


class Ingest:
    """The admission path every ingestion route shares (one per gateway)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def stream(self, measurement_id: str) -> tuple[Stream, Property] | None:
        """The live stream with this measurement id and its property, or None."""
        mid = measurement_id[:MAX_MEASUREMENT_ID_CHARS]
        return self.gateway.tenancy.by_measurement_id(mid) if mid else None

    def admit(
        self,
        request: Request,
        found: tuple[Stream, Property],
        credentials: Credentials,
        *,
        body_bytes: int,
    ) -> Sender:
        """Charge the property's ingest bucket (429), then check the credentials: a wrong API
        secret or key is 401, a key without ``write`` on the property 403, whether or not the
        key could see the property."""
        gw = self.gateway
        stream, prop = found
        gw.charge(prop.property_id)
        gw.usage.add(prop.property_id, "bytes", body_bytes)
        gw.metrics.bytes_in.inc(body_bytes)
        if credentials.api_secret is not None or credentials.key is not None:
            # only requests that present a credential meet the failed-authentication limit, so
            # browsers behind an address others abuse still get their page views in
            gw.check_auth_failures(request)
        server_side = backfill = False
        if credentials.api_secret is not None:
            if gw.tenancy.verify_secret(stream, credentials.api_secret) is None:
                raise gw.auth_failed(request, "the api_secret is not valid for this stream")
            server_side = True
        key = None
        if credentials.key is not None:
            # sending with a key (backfill, imports, footfall simulate) is bounded by the
            # property's ingest bucket, charged above, not by the key's request rate
            key = gw.key_of(request, credentials.key, charge_key=False)
            if not (key.covers(prop) and key.allows(Scope.WRITE)):
                raise ApiError(403, "this API key may not send events to this stream")
            server_side = backfill = True
        return Sender(
            stream=stream, property=prop, key=key, server_side=server_side, backfill=backfill
        )

    def refused(self, prop: Property, exc: ApiError, events: int) -> None:
        """Every event of a request refused as a whole counts as rejected, so usage adds up."""
        reason = REFUSALS.get(exc.code, "invalid_request")
        self.gateway.usage.add(prop.property_id, f"events_rejected:{reason}", events)
        self.gateway.metrics.rejected.labels(reason).inc(events)
