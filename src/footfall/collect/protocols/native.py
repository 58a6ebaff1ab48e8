"""footfall's native batch protocol: a GA4 Measurement Protocol body with per-event results.

Problems with the request as a whole (bad JSON, wrong envelope, too many events or params)
are a 4xx naming the field and limit. Problems with one event reject that event alone, with a
stable reason code, and the others are accepted.
"""

from __future__ import annotations

import ipaddress
import uuid
from urllib.parse import urlsplit

import msgspec

from footfall.errors import ApiError
from footfall.gateway.body import decode_json, json_problem
from footfall.schema import money, rules
from footfall.schema.events import RawEvent
from footfall.schema.wire import CollectEnvelope, Device, EventResult, WireEvent
from footfall.tenancy.service import hostname_allowed


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    max_events: int = 25
    max_params: int = 25
    max_age_us: int = 72 * 3_600_000_000
    max_future_us: int = 15 * 60_000_000


class Stamp(msgspec.Struct, frozen=True, kw_only=True):
    """What the collector knows about the request, added to every event."""

    property_id: str
    received_at: int
    ip: str
    user_agent: str
    accept_language: str = ""
    backfill: bool = False  # a write key: history older than the age limit is allowed
    server_side: bool = False  # an API secret or a write key: user_agent/ip_override allowed
    protocol: str = "native"
    # browser requests: hostnames the property accepts (empty: any), and what to do otherwise
    allowed_hostnames: tuple[str, ...] = ()
    flag_foreign_hostnames: bool = False
    origin_host: str = ""
    from_browser: bool = False  # an Origin or Referer header came with the request


EARLIEST_EVENT_US = 1_439_510_400_000_000  # 2015-08-14T00:00:00Z, the earliest reportable date
_ENVELOPE = msgspec.json.Decoder(CollectEnvelope)
_EVENT = msgspec.json.Decoder(WireEvent)


def decode_envelope(body: bytes) -> CollectEnvelope:
    if not body:
        raise ApiError(400, "malformed JSON: the request body is empty")
    envelope: CollectEnvelope = decode_json(_ENVELOPE, body)
    return envelope


def _client_field(name: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if not value or len(value) > limit or not value.isprintable():
        raise ApiError(400, f"{name} must be 1 to {limit} printable characters")
    return value


def build_events(
    envelope: CollectEnvelope, stamp: Stamp, limits: Limits
) -> tuple[list[RawEvent], list[EventResult]]:
    """Validate each event; return the accepted raw events and a result for every event."""
    if not envelope.events:
        raise ApiError(400, "events must not be empty")
    if len(envelope.events) > limits.max_events:
        raise ApiError(
            400,
            f"events has {len(envelope.events)} items; the limit is {limits.max_events} per request "
            "(max_events_per_request)",
        )
    stamp = _on_behalf(envelope, stamp)
    client_id, app_instance_id = _device_ids(envelope)
    user_id = _client_field("user_id", envelope.user_id, rules.MAX_USER_ID_CHARS)
    device = _device(envelope)
    accepted: list[RawEvent] = []
    results: list[EventResult] = []
    for index, raw in enumerate(envelope.events):
        try:
            event = _EVENT.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            results.append(_rejected(index, None, "invalid_event", f"events[{index}]: {exc}"))
            continue
        except (UnicodeDecodeError, RecursionError) as exc:
            problem_at = json_problem(bytes(raw), exc, prefix=f"events[{index}]")
            results.append(_rejected(index, None, "invalid_event", str(problem_at)))
            continue
        if len(event.params) > limits.max_params:
            raise ApiError(
                400,
                f"events[{index}].params has {len(event.params)} parameters; the limit is "
                f"{limits.max_params} per event (max_params_per_event)",
            )
        # the exact decimal text of a JSON-number value, read before the rules check its length
        event = money.exact_value(event, raw)
        problem = rules.check_event(event)
        event_time = event.timestamp_micros or envelope.timestamp_micros or stamp.received_at
        if problem is None:
            # history (backfill) may reach back to 2015, never into the future
            max_age = stamp.received_at - EARLIEST_EVENT_US if stamp.backfill else limits.max_age_us
            problem = rules.check_time(
                event_time,
                stamp.received_at,
                max_age_us=max_age,
                max_future_us=limits.max_future_us,
            )
        flags: tuple[str, ...] = ()
        if problem is None:
            problem, flags = _hostname(event, stamp, app=app_instance_id is not None)
        if problem is not None:
            results.append(
                _rejected(
                    index, event.event_id, problem.reason, f"events[{index}]: {problem.message}"
                )
            )
            continue
        event_id = event.event_id or uuid.uuid4().hex
        accepted.append(
            RawEvent(
                property_id=stamp.property_id,
                event_id=event_id,
                name=event.name,
                event_time=event_time,
                received_at=stamp.received_at,
                params=event.params,
                client_id=client_id,
                app_instance_id=app_instance_id,
                device=device,
                user_id=user_id,
                ip=stamp.ip,
                user_agent=stamp.user_agent,
                accept_language=stamp.accept_language,
                protocol=stamp.protocol,
                flags=flags,
            )
        )
        results.append(EventResult(index=index, status="accepted", event_id=event_id))
    return accepted, results


def _hostname(
    event: WireEvent, stamp: Stamp, *, app: bool
) -> tuple[rules.Rejection | None, tuple[str, ...]]:
    """A browser request's host against the property's allowed hostnames: a rejection, or
    the flags to store. An app's request names no page and sends no ``Origin``: it is checked
    only when it carries an ``Origin`` or ``Referer`` (then a browser sent it)."""
    if stamp.server_side or not stamp.allowed_hostnames or (app and not stamp.from_browser):
        return None, ()
    host = stamp.origin_host or _page_host(event)
    if hostname_allowed(host, stamp.allowed_hostnames):
        return None, ()
    if stamp.flag_foreign_hostnames:
        return None, ("foreign_hostname",)
    return rules.Rejection(
        "hostname_not_allowed",
        f"hostname {host[:80]!r} is not one of the property's allowed hostnames",
    ), ()


def _page_host(event: WireEvent) -> str:
    location = event.params.get("page_location")
    if not isinstance(location, str):
        return ""
    try:
        return (urlsplit(location).hostname or "").lower()
    except ValueError:
        return ""


def _device_ids(envelope: CollectEnvelope) -> tuple[str | None, str | None]:
    """``client_id`` (a browser's) or ``app_instance_id`` (an app's), never both."""
    if envelope.client_id is not None and envelope.app_instance_id is not None:
        raise ApiError(
            400,
            "client_id and app_instance_id are both given; send client_id from a web stream "
            "or app_instance_id from an app, not both",
        )
    return (
        _client_field("client_id", envelope.client_id, rules.MAX_CLIENT_ID_CHARS),
        _client_field("app_instance_id", envelope.app_instance_id, rules.MAX_CLIENT_ID_CHARS),
    )


def _device(envelope: CollectEnvelope) -> Device | None:
    """The request's device object, each field bounded; allowed without credentials (an app
    holds no secret, and a browser can claim any user agent anyway)."""
    if envelope.device is None:
        return None
    fields = msgspec.structs.asdict(envelope.device)
    for name, value in fields.items():
        if value is not None and (len(value) > rules.MAX_DEVICE_CHARS or not value.isprintable()):
            raise ApiError(
                400, f"device.{name} must be at most {rules.MAX_DEVICE_CHARS} printable characters"
            )
    return Device(**fields)


def _on_behalf(envelope: CollectEnvelope, stamp: Stamp) -> Stamp:
    """The visitor's user agent and address from the body, when a server sends on its behalf."""
    if not stamp.server_side and (
        envelope.user_agent is not None or envelope.ip_override is not None
    ):
        raise ApiError(
            400,
            "user_agent and ip_override are for server-side senders (an api_secret or a write key)",
        )
    if envelope.user_agent is not None:
        if len(envelope.user_agent) > rules.MAX_USER_AGENT_CHARS:
            raise ApiError(
                400, f"user_agent is longer than {rules.MAX_USER_AGENT_CHARS} characters"
            )
        stamp = msgspec.structs.replace(stamp, user_agent=envelope.user_agent)
    if envelope.ip_override is not None:
        try:
            address = ipaddress.ip_address(envelope.ip_override)
        except ValueError:
            raise ApiError(400, "ip_override is not an IPv4 or IPv6 address") from None
        stamp = msgspec.structs.replace(stamp, ip=str(address))
    return stamp


def _rejected(index: int, event_id: str | None, reason: str, message: str) -> EventResult:
    return EventResult(
        index=index, status="rejected", event_id=event_id, reason=reason, message=message[:300]
    )
