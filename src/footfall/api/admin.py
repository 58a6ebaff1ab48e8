"""The admin API: accounts, properties, streams, API secrets, API keys, usage, re-processing,
exchange rates.

Every route but the property listing (any key: it lists what the key covers, for dashboards)
needs a key with the admin scope; what it may touch is checked per object: an
account's key sees only its account (and, if bound, only its properties), an operator key sees
everything. Anything the key may not see answers 404, exactly as if it did not exist. Keys and
secrets are shown in clear once, in the response that creates them; listings show the prefix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall.clock import EARLIEST_US, LATEST_US, Clock, system_clock, to_us
from footfall.errors import ApiError
from footfall.gateway.access import Access, Gateway
from footfall.gateway.body import Takes, read_json
from footfall.gateway.responses import json_response
from footfall.process.rates import ExchangeRates, RatesIn, parse_code, parse_day
from footfall.store import Generations, Rebuild
from footfall.tenancy.model import ApiKey, ApiSecret, Property, Record, Scope, Stream
from footfall.tenancy.service import Created, Tenancy

if TYPE_CHECKING:
    from footfall.process.reprocess import Rebuilder

MAX_BODY = 20_000
MAX_RATES_BODY = 2_000_000  # a load of exchange rates: some 100,000 rates
MAX_RATES_LISTED = 100_000
HOUR_US = 3_600_000_000


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class AccountPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    disabled: bool | None = None


class PropertyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    account_id: str | None = None
    time_zone: str = "UTC"
    currency: str = "USD"
    allowed_hostnames: list[str] = []
    hostname_policy: str = "reject"
    retention_days: int = 0
    key_events: list[str] | None = None
    stream_name: str = "Web"


class PropertyPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    time_zone: str | None = None
    currency: str | None = None
    allowed_hostnames: list[str] | None = None
    hostname_policy: str | None = None
    retention_days: int | None = None
    key_events: list[str] | None = None


class NameIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class KeyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    scopes: list[str]
    account_id: str | None = None
    operator: bool = False
    property_ids: list[str] = []
    expires_at: str | None = None  # ISO 8601


class KeyPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    scopes: list[str] | None = None
    expires_at: str | None = None


_CYCLE_US = 146_097 * 86_400_000_000  # 400 Gregorian years, the calendar's period
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _time(us: int | None) -> str | None:
    """ISO 8601 in UTC. Any stored value can be shown: a year past 9999 (or before 1) is
    written in ISO 8601's expanded form (``+10000-01-01T00:00:00Z``)."""
    if us is None:
        return None
    cycles, rest = divmod(us, _CYCLE_US)  # the same instant of the calendar's 400-year period
    moment = _EPOCH + dt.timedelta(microseconds=rest)
    year = moment.year + 400 * cycles
    text = moment.isoformat().replace("+00:00", "Z")[4:]
    return (f"{year:04d}" if 1 <= year <= 9999 else f"{year:+05d}") + text


def parse_time(value: str, field: str) -> int:
    """An ISO 8601 time (UTC when it has no offset) as µs, within years 1 to 9999 in UTC."""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{field}: {value[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    us = to_us(moment)
    if not EARLIEST_US <= us <= LATEST_US:
        raise ApiError(
            400,
            f"{field}: {value[:40]!r} is outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z",
        )
    return us


def public(record: Record) -> dict[str, Any]:
    """A record as the API shows it: never the hash; times in ISO 8601."""
    out: dict[str, Any] = msgspec.to_builtins(record)
    out.pop("hash", None)
    for name in ("created_at", "expires_at", "revoked_at"):
        if name in out:
            out[name] = _time(out[name])
    return out


def rebuild_status(r: Rebuild) -> dict[str, Any]:
    """A property's re-processing as the API shows it."""
    return {
        "property_id": r.property_id,
        "state": r.state,
        "generation": r.generation,
        "raw_events_read": r.raw_read,
        "raw_events_total": r.raw_total,
        "started_at": _time(r.started_at),
        "updated_at": _time(r.updated_at),
        "finished_at": _time(r.finished_at),
        "settled_at": _time(r.settled_at),
        "last_error": r.last_error or None,
    }


def created(item: Created) -> dict[str, Any]:
    return {**public(item.record), "value": item.value, "note": "shown once: store it now"}


_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


async def _body(request: Request, kind: type[Any], limit: int = MAX_BODY) -> Any:
    decoder = _decoders.get(kind) or _decoders.setdefault(kind, msgspec.json.Decoder(kind))
    return await read_json(request, decoder, max_bytes=limit)


class AdminApi:
    def __init__(
        self,
        gateway: Gateway,
        tenancy: Tenancy,
        rebuilder: Rebuilder | None,
        generations: Generations,
        clock: Clock = system_clock,
        *,
        rates: ExchangeRates,
    ) -> None:
        self.rates = rates
        self.gateway = gateway
        self.clock = clock
        self.tenancy = tenancy
        self.rebuilder = rebuilder  # None where no processor runs
        self.generations = generations

    # what each route takes besides its path (the OpenAPI document); actions take no body
    TAKES: ClassVar[dict[str, Takes]] = {
        "listAccounts": Takes(summary="The accounts the key may see"),
        "createAccount": Takes(AccountIn, summary="Create an account", status=201),
        "updateAccount": Takes(AccountPatch, summary="Rename, disable or enable an account"),
        "listProperties": Takes(
            query={"account_id": "an operator key: only this account's properties"},
            summary="The properties the key covers, with their streams",
        ),
        "createProperty": Takes(PropertyIn, summary="Create a property and a stream", status=201),
        "getProperty": Takes(summary="A property and its streams"),
        "updateProperty": Takes(PropertyPatch, summary="Change a property's settings"),
        "deleteProperty": Takes(summary="Stop collecting and reporting for a property"),
        "reprocessProperty": Takes(
            summary="Start rebuilding a property's derived data from raw events (or return the "
            "running rebuild)",
            status=202,
        ),
        "getReprocessing": Takes(summary="The property's latest rebuild and its progress"),
        "getUsage": Takes(
            query={
                "start": "ISO 8601 (default: 24 hours before end)",
                "end": "ISO 8601 (default: the end of the current hour)",
            },
            summary="Usage counts per hour",
        ),
        "listStreams": Takes(summary="A property's streams"),
        "createStream": Takes(NameIn, summary="Add a stream to a property", status=201),
        "updateStream": Takes(NameIn, summary="Rename a stream"),
        "deleteStream": Takes(summary="Delete a stream"),
        "listSecrets": Takes(summary="A stream's API secrets (prefixes only)"),
        "createSecret": Takes(NameIn, summary="A new API secret, shown once", status=201),
        "revokeSecret": Takes(summary="Revoke an API secret"),
        "listKeys": Takes(
            query={"account_id": "an operator key: only this account's keys"},
            summary="The API keys the key may manage (prefixes only)",
        ),
        "createKey": Takes(KeyIn, summary="A new API key, shown once", status=201),
        "updateKey": Takes(KeyPatch, summary="Change a key's name, scopes or expiry"),
        "revokeKey": Takes(summary="Revoke an API key"),
        "listExchangeRates": Takes(
            query={
                "currency": "Only this ISO 4217 currency",
                "start": "First day, YYYY-MM-DD",
                "end": "Last day, YYYY-MM-DD",
            },
            summary="The exchange rates revenue is converted with",
        ),
        "loadExchangeRates": Takes(RatesIn, summary="Insert or replace exchange rates (operator)"),
    }

    def routes(self) -> list[Route]:
        g = self.gateway.guard
        a, op = Access.ADMIN, Access.OPERATOR
        acc, prop, stream = "/v1/admin/accounts", "/v1/admin/properties", "/v1/admin/streams"
        table: list[tuple[str, str, Access, Callable[[Request], Any], str]] = [
            (acc, "GET", a, self.list_accounts, "listAccounts"),
            (acc, "POST", op, self.create_account, "createAccount"),
            (acc + "/{account_id}", "PATCH", op, self.update_account, "updateAccount"),
            (prop, "GET", Access.KEY, self.list_properties, "listProperties"),
            (prop, "POST", a, self.create_property, "createProperty"),
            (prop + "/{property_id}", "GET", a, self.get_property, "getProperty"),
            (prop + "/{property_id}", "PATCH", a, self.update_property, "updateProperty"),
            (prop + "/{property_id}:delete", "POST", a, self.delete_property, "deleteProperty"),
            (
                prop + "/{property_id}:reprocess",
                "POST",
                a,
                self.reprocess_property,
                "reprocessProperty",
            ),
            (prop + "/{property_id}/reprocess", "GET", a, self.reprocessing, "getReprocessing"),
            (prop + "/{property_id}/usage", "GET", a, self.usage, "getUsage"),
            (prop + "/{property_id}/streams", "GET", a, self.list_streams, "listStreams"),
            (prop + "/{property_id}/streams", "POST", a, self.create_stream, "createStream"),
            (stream + "/{stream_id}", "PATCH", a, self.update_stream, "updateStream"),
            (stream + "/{stream_id}:delete", "POST", a, self.delete_stream, "deleteStream"),
            (stream + "/{stream_id}/secrets", "GET", a, self.list_secrets, "listSecrets"),
            (stream + "/{stream_id}/secrets", "POST", a, self.create_secret, "createSecret"),
            ("/v1/admin/secrets/{secret_id}:revoke", "POST", a, self.revoke_secret, "revokeSecret"),
            ("/v1/admin/keys", "GET", a, self.list_keys, "listKeys"),
            ("/v1/admin/keys", "POST", a, self.create_key, "createKey"),
            ("/v1/admin/keys/{key_id}", "PATCH", a, self.update_key, "updateKey"),
            ("/v1/admin/keys/{key_id}:revoke", "POST", a, self.revoke_key, "revokeKey"),
            ("/v1/admin/exchange-rates", "GET", Access.KEY, self.list_rates, "listExchangeRates"),
            ("/v1/admin/exchange-rates", "POST", op, self.load_rates, "loadExchangeRates"),
        ]
        return [
            Route(path, g(access, handler, name), methods=[method])
            for path, method, access, handler, name in table
        ]

    # -- what the calling key may touch ------------------------------------------------------

    @staticmethod
    def _caller(request: Request) -> ApiKey:
        key: ApiKey = request.state.key
        return key

    def _account_of(self, key: ApiKey, account_id: str | None) -> str:
        """The account a key acts on: its own, or (operator) the one named."""
        if key.is_operator:
            if not account_id:
                raise ApiError(400, "account_id is required with an operator key")
            self.tenancy.account(account_id)
            return account_id
        assert key.account_id is not None
        if account_id and account_id != key.account_id:
            raise ApiError(404, f"account {account_id[:40]} does not exist")
        return key.account_id

    def _property(self, request: Request, property_id: str | None = None) -> Property:
        key = self._caller(request)
        prop = self.gateway.visible_property(key, property_id or request.path_params["property_id"])
        self.gateway.authorize(key, prop, Scope.ADMIN)
        return prop

    def _stream(self, request: Request) -> Stream:
        stream_id = request.path_params["stream_id"]
        try:
            stream = self.tenancy.stream(stream_id)
            self._property(request, stream.property_id)
        except ApiError as exc:
            if exc.code in (400, 404):
                raise ApiError(404, f"stream {stream_id[:40]} does not exist") from None
            raise
        return stream

    def _key(self, request: Request) -> ApiKey:
        caller, key_id = self._caller(request), request.path_params["key_id"]
        target = self.tenancy.store.get(ApiKey, key_id)
        if target is None or not self._may_manage(caller, target):
            raise ApiError(404, f"key {key_id[:40]} does not exist")
        return target

    @staticmethod
    def _may_manage(caller: ApiKey, target: ApiKey) -> bool:
        if caller.is_operator:
            return True
        if target.account_id != caller.account_id:
            return False
        if caller.property_ids:  # a key bound to properties manages only keys within them
            return bool(target.property_ids) and set(target.property_ids) <= set(
                caller.property_ids
            )
        return True

    # -- accounts ---------------------------------------------------------------------------

    async def list_accounts(self, request: Request) -> Response:
        key = self._caller(request)
        accounts = (
            self.tenancy.accounts()
            if key.is_operator
            else [self.tenancy.account(key.account_id or "")]
        )
        return json_response({"accounts": [public(a) for a in accounts]})

    async def create_account(self, request: Request) -> Response:
        body: AccountIn = await _body(request, AccountIn)
        return json_response(public(self.tenancy.create_account(body.name)), 201)

    async def update_account(self, request: Request) -> Response:
        body: AccountPatch = await _body(request, AccountPatch)
        account = self.tenancy.update_account(
            request.path_params["account_id"], name=body.name, disabled=body.disabled
        )
        return json_response(public(account))

    # -- properties -------------------------------------------------------------------------

    async def list_properties(self, request: Request) -> Response:
        key = self._caller(request)
        wanted = request.query_params.get("account_id")
        if key.is_operator:
            props = self.tenancy.properties(wanted)
        else:
            props = [p for p in self.tenancy.properties(key.account_id) if key.covers(p)]
        return json_response({"properties": [self._describe(p) for p in props]})

    def _describe(self, prop: Property) -> dict[str, Any]:
        return {
            **public(prop),
            "streams": [public(s) for s in self.tenancy.streams(prop.property_id)],
        }

    async def create_property(self, request: Request) -> Response:
        key = self._caller(request)
        body: PropertyIn = await _body(request, PropertyIn)
        if key.property_ids:
            raise ApiError(403, "a key bound to properties cannot create properties")
        account_id = self._account_of(key, body.account_id)
        prop = self.tenancy.create_property(
            account_id,
            body.name,
            time_zone=body.time_zone,
            currency=body.currency,
            allowed_hostnames=body.allowed_hostnames,
            hostname_policy=body.hostname_policy,
            retention_days=body.retention_days,
            key_events=body.key_events,
        )
        self.tenancy.create_stream(prop.property_id, body.stream_name)
        return json_response(self._describe(prop), 201)

    async def get_property(self, request: Request) -> Response:
        return json_response(self._describe(self._property(request)))

    async def update_property(self, request: Request) -> Response:
        prop = self._property(request)
        body: PropertyPatch = await _body(request, PropertyPatch)
        changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not None}
        return json_response(
            self._describe(self.tenancy.update_property(prop.property_id, **changes))
        )

    async def delete_property(self, request: Request) -> Response:
        prop = self._property(request)
        return json_response(public(self.tenancy.delete_property(prop.property_id)))

    async def reprocess_property(self, request: Request) -> Response:
        """Start a rebuild, or (one is running) return that one: 202 with its status."""
        prop = self._property(request)
        if self.rebuilder is None:
            raise ApiError(
                503, "re-processing runs where the processor runs; this server has no process role"
            )
        rebuild = await run_in_threadpool(self.rebuilder.request, prop.property_id)
        return json_response(rebuild_status(rebuild), 202)

    async def reprocessing(self, request: Request) -> Response:
        """The property's latest rebuild: running, done or failed."""
        prop = self._property(request)
        found = await run_in_threadpool(self.generations.rebuilds, prop.property_id)
        if not found:
            raise ApiError(404, f"property {prop.property_id} has not been re-processed")
        return json_response(rebuild_status(found[0]))

    async def usage(self, request: Request) -> Response:
        """Usage per hour: ``?start=`` and ``?end=`` in ISO 8601 (default: the last 24 hours)."""
        prop = self._property(request)
        self.gateway.usage.flush()
        now = self.clock()
        q = request.query_params
        end = parse_time(q["end"], "end") if "end" in q else now // HOUR_US * HOUR_US + HOUR_US
        start = parse_time(q["start"], "start") if "start" in q else end - 24 * HOUR_US
        if end <= start or end - start > 366 * 24 * HOUR_US:
            raise ApiError(400, "start must be before end, at most a year apart")
        if start < EARLIEST_US or end > LATEST_US:
            raise ApiError(400, "start and end must be within 0001-01-01 to 9999-12-31 (UTC)")
        rows = await run_in_threadpool(self.gateway.usage.store.usage, prop.property_id, start, end)
        hours: dict[int, dict[str, Any]] = {}
        totals: dict[str, int] = {}
        for _pid, hour, metric, value in rows:
            entry = hours.setdefault(hour, {"hour": _time(hour)})
            entry[metric] = value
            totals[metric] = totals.get(metric, 0) + value
        return json_response(
            {
                "property": prop.property_id,
                "start": _time(start),
                "end": _time(end),
                "totals": totals,
                "hours": [hours[h] for h in sorted(hours)],
            }
        )

    # -- streams and secrets ----------------------------------------------------------------

    async def list_streams(self, request: Request) -> Response:
        prop = self._property(request)
        return json_response(
            {"streams": [public(s) for s in self.tenancy.streams(prop.property_id)]}
        )

    async def create_stream(self, request: Request) -> Response:
        prop = self._property(request)
        body: NameIn = await _body(request, NameIn)
        return json_response(public(self.tenancy.create_stream(prop.property_id, body.name)), 201)

    async def update_stream(self, request: Request) -> Response:
        stream = self._stream(request)
        body: NameIn = await _body(request, NameIn)
        return json_response(public(self.tenancy.update_stream(stream.stream_id, name=body.name)))

    async def delete_stream(self, request: Request) -> Response:
        stream = self._stream(request)
        return json_response(public(self.tenancy.delete_stream(stream.stream_id)))

    async def list_secrets(self, request: Request) -> Response:
        stream = self._stream(request)
        return json_response(
            {"secrets": [public(s) for s in self.tenancy.secrets(stream.stream_id)]}
        )

    async def create_secret(self, request: Request) -> Response:
        stream = self._stream(request)
        body: NameIn = await _body(request, NameIn)
        return json_response(created(self.tenancy.create_secret(stream.stream_id, body.name)), 201)

    async def revoke_secret(self, request: Request) -> Response:
        secret_id = request.path_params["secret_id"]
        secret = self.tenancy.store.get(ApiSecret, secret_id)
        try:
            if secret is None:
                raise ApiError(404, "")
            self._property(request, secret.property_id)
        except ApiError as exc:
            if exc.code in (400, 404):
                raise ApiError(404, f"secret {secret_id[:40]} does not exist") from None
            raise
        return json_response(public(self.tenancy.revoke_secret(secret_id)))

    # -- keys -------------------------------------------------------------------------------

    async def list_keys(self, request: Request) -> Response:
        caller = self._caller(request)
        keys = self.tenancy.api_keys(None if caller.is_operator else caller.account_id)
        if caller.is_operator and (wanted := request.query_params.get("account_id")):
            keys = [k for k in keys if k.account_id == wanted]
        return json_response({"keys": [public(k) for k in keys if self._may_manage(caller, k)]})

    async def create_key(self, request: Request) -> Response:
        caller = self._caller(request)
        body: KeyIn = await _body(request, KeyIn)
        if body.operator:
            if not caller.is_operator:
                raise ApiError(403, "only an operator key can create operator keys")
            account_id = None
        else:
            account_id = self._account_of(caller, body.account_id)
        if caller.property_ids and not (
            body.property_ids and set(body.property_ids) <= set(caller.property_ids)
        ):
            raise ApiError(
                403, "a key bound to properties can only create keys for some of those properties"
            )
        expires = parse_time(body.expires_at, "expires_at") if body.expires_at else None
        item = self.tenancy.create_key(
            account_id, body.name, body.scopes, property_ids=body.property_ids, expires_at=expires
        )
        return json_response(created(item), 201)

    async def update_key(self, request: Request) -> Response:
        target = self._key(request)
        body: KeyPatch = await _body(request, KeyPatch)
        expires = parse_time(body.expires_at, "expires_at") if body.expires_at else None
        key = self.tenancy.update_key(
            target.key_id, name=body.name, scopes=body.scopes, expires_at=expires
        )
        return json_response(public(key))

    async def revoke_key(self, request: Request) -> Response:
        target = self._key(request)
        return json_response(public(self.tenancy.revoke_key(target.key_id)))

    # -- exchange rates -----------------------------------------------------------------------

    async def list_rates(self, request: Request) -> Response:
        """The stored rates (any key: they say how revenue was converted); ``?currency=``,
        ``?start=`` and ``?end=`` (YYYY-MM-DD) narrow the listing."""
        q = request.query_params
        currency = parse_code(q["currency"], "currency") if "currency" in q else None
        days = [parse_day(q[name], name) if name in q else None for name in ("start", "end")]
        listing = await run_in_threadpool(
            self.rates.listing,
            currency,
            days[0],
            days[1],
            MAX_RATES_LISTED,
        )
        return json_response(listing)

    async def load_rates(self, request: Request) -> Response:
        """Insert or replace exchange rates (operator): ``{"base", "rates": {day: {code: rate}}}``."""
        body: RatesIn = await _body(request, RatesIn, MAX_RATES_BODY)
        return json_response(await run_in_threadpool(self.rates.load, body))
