"""Tenancy operations: create, list, update and revoke accounts, properties, streams, secrets and
keys; authenticate keys and secrets. Used by the admin API, the gateway and first start.

Every change is validated here (the admin API and the CLI share it). Lookups that the hot path
makes on every request (a key by its prefix, a stream by its measurement id) are cached for a
few seconds; every change made through this service drops the cache at once, so a revoked key
is refused by the next request.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import msgspec

from footfall.clock import LATEST_US, is_time_zone, system_clock
from footfall.errors import ApiError
from footfall.schema import money
from footfall.store import R, TenancyStore
from footfall.tenancy import secrets as sec
from footfall.tenancy.model import (
    Account,
    ApiKey,
    ApiSecret,
    HostnamePolicy,
    Property,
    Scope,
    Stream,
)

log = logging.getLogger(__name__)
CACHE_S = 5.0
ATTEMPTS = 5  # draws of a new identifier before a create gives up (each clash is logged)
HOSTNAME_RE = re.compile(
    r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
EVENT_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
MAX_NAME = 100
MAX_HOSTNAMES = 50
T = TypeVar("T")


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _name(value: str, field: str = "name") -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise _bad(f"{field} must be 1 to {MAX_NAME} printable characters")
    return value


def _time_zone(value: str) -> str:
    if not is_time_zone(value):
        raise _bad(f"time_zone {value[:60]!r} is not an IANA time zone (e.g. Europe/Paris)")
    return value


def _expiry(expires_at: int, now: int, hint: str = "") -> int:
    if expires_at <= now:
        raise _bad(f"expires_at must be in the future{hint}")
    if expires_at > LATEST_US:
        raise _bad("expires_at must be at most 9999-12-31T23:59:59Z")
    return expires_at


def _currency(value: str) -> str:
    code = money.currency_code(value)
    if code is None:
        raise _bad("currency must be an ISO 4217 code such as USD")
    return code


def _hostnames(values: Iterable[str]) -> tuple[str, ...]:
    out = []
    for value in values:
        host = value.strip().lower().rstrip(".")
        if not HOSTNAME_RE.fullmatch(host) or len(host) > 253:
            raise _bad(
                f"allowed_hostnames: {value[:80]!r} is not a hostname (a leading *. allows only subdomains)"
            )
        out.append(host)
    if len(out) > MAX_HOSTNAMES:
        raise _bad(f"allowed_hostnames: at most {MAX_HOSTNAMES}")
    return tuple(dict.fromkeys(out))


def _key_events(values: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(values))
    for name in out:
        if not EVENT_NAME_RE.fullmatch(name):
            raise _bad(f"key_events: {name[:60]!r} is not an event name")
    return out


def _scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    out = []
    for value in values:
        try:
            out.append(Scope(value))
        except ValueError:
            raise _bad(f"scopes: {value[:30]!r} is not one of read, write, admin") from None
    if not out:
        raise _bad("scopes: at least one of read, write, admin")
    return tuple(dict.fromkeys(out))


def hostname_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """``example.com`` allows itself and every subdomain; ``*.example.com`` only subdomains.
    No rules at all allow any host."""
    if not allowed:
        return True
    host = host.lower().rstrip(".")
    for rule in allowed:
        if rule.startswith("*."):
            if host.endswith(rule[1:]):
                return True
        elif host == rule or host.endswith("." + rule):
            return True
    return False


class Created(msgspec.Struct, frozen=True):
    """A new key or secret: the record, and the value in clear, shown this once."""

    record: ApiKey | ApiSecret
    value: str


class _Cache:
    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and now - hit[0] < CACHE_S:
            value: T = hit[1]
            return value
        value = load()
        with self._lock:
            if len(self._items) > 50_000:
                self._items.clear()
            self._items[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Tenancy:
    def __init__(
        self,
        store: TenancyStore,
        clock: Callable[[], int] | None = None,
        *,
        ids: sec.IdSource | None = None,
    ) -> None:
        self.store = store
        self.now = clock or system_clock
        self.ids: sec.IdSource = ids or sec.RandomIds()
        self._cache = _Cache()

    def _put(self, record: Any) -> None:
        """Store a change to a record that exists (an update, never a create)."""
        self.store.put(record)
        self._cache.clear()

    def _create(self, make: Callable[[], R], *, lookup_given: bool = False) -> R:
        """Store a new record built by ``make`` only where its id and lookup are free, drawing
        new identifiers on a clash: a repeated id never overwrites another tenant's record.
        ``lookup_given``: the lookup (a key's prefix) was chosen by the caller, so a clash on
        it is the caller's to fix, not a reason to draw again."""
        for _attempt in range(ATTEMPTS):
            record = make()
            if self.store.insert(record):
                self._cache.clear()
                return record
            if lookup_given and self.store.find(type(record), record.lookup) is not None:
                raise _bad(f"a {record.KIND} with this prefix exists; choose another value")
            log.warning("a new %s identifier was taken already; drawing another", record.KIND)
        raise ApiError(
            503, f"no free {record.KIND} identifier after {ATTEMPTS} attempts; retry", retry_after=1
        )

    # -- accounts ---------------------------------------------------------------------------

    def create_account(self, name: str) -> Account:
        clean = _name(name)
        return self._create(
            lambda: Account(account_id=self.ids.record_id("acc"), name=clean, created_at=self.now())
        )

    def account(self, account_id: str) -> Account:
        found = self.store.get(Account, account_id)
        if found is None:
            raise ApiError(404, f"account {account_id[:40]} does not exist")
        return found

    def accounts(self) -> list[Account]:
        return self.store.records(Account)

    def update_account(
        self, account_id: str, *, name: str | None = None, disabled: bool | None = None
    ) -> Account:
        account = self.account(account_id)
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = _name(name)
        if disabled is not None:
            changes["disabled"] = disabled
        account = msgspec.structs.replace(account, **changes)
        self._put(account)
        return account

    # -- properties -------------------------------------------------------------------------

    def create_property(
        self,
        account_id: str,
        name: str,
        *,
        time_zone: str = "UTC",
        currency: str = "USD",
        allowed_hostnames: Iterable[str] = (),
        hostname_policy: str = "reject",
        retention_days: int = 0,
        key_events: Iterable[str] | None = None,
    ) -> Property:
        self.account(account_id)
        draft = Property(
            property_id="",
            account_id=account_id,
            name=_name(name),
            time_zone=_time_zone(time_zone),
            currency=_currency(currency),
            allowed_hostnames=_hostnames(allowed_hostnames),
            hostname_policy=self._policy(hostname_policy),
            retention_days=self._retention(retention_days),
            created_at=self.now(),
        )
        if key_events is not None:
            draft = msgspec.structs.replace(draft, key_events=_key_events(key_events))
        return self._create(
            lambda: msgspec.structs.replace(draft, property_id=self.ids.property_id())
        )

    @staticmethod
    def _policy(value: str) -> HostnamePolicy:
        try:
            return HostnamePolicy(value)
        except ValueError:
            raise _bad("hostname_policy must be reject or flag") from None

    @staticmethod
    def _retention(days: int) -> int:
        if not 0 <= days <= 36_500:
            raise _bad("retention_days must be between 0 (keep for ever) and 36500")
        return days

    def property(self, property_id: str) -> Property | None:
        """A live property, cached (the hot path asks on every request)."""

        def load() -> Property | None:
            prop = self.store.get(Property, property_id)
            return prop if prop is not None and not prop.deleted else None

        return self._cache.get(("property", property_id), load)

    def properties(self, account_id: str | None = None) -> list[Property]:
        return [p for p in self.store.records(Property, account_id=account_id) if not p.deleted]

    def update_property(self, property_id: str, **changes: Any) -> Property:
        prop = self.property(property_id)
        if prop is None:
            raise ApiError(404, f"property {property_id[:30]} does not exist")
        checks: dict[str, Callable[[Any], Any]] = {
            "name": _name,
            "time_zone": _time_zone,
            "currency": _currency,
            "allowed_hostnames": _hostnames,
            "hostname_policy": self._policy,
            "retention_days": self._retention,
            "key_events": _key_events,
        }
        unknown = set(changes) - set(checks)
        if unknown:
            raise _bad(f"cannot change {', '.join(sorted(unknown))}")
        clean = {k: checks[k](v) for k, v in changes.items() if v is not None}
        prop = msgspec.structs.replace(prop, **clean)
        self._put(prop)
        return prop

    def delete_property(self, property_id: str) -> Property:
        """Stop collecting and reporting. The stored events stay (a deleted property has no
        retention run); re-creating access means an operator restores the record."""
        prop = self.property(property_id)
        if prop is None:
            raise ApiError(404, f"property {property_id[:30]} does not exist")
        prop = msgspec.structs.replace(prop, deleted=True)
        self._put(prop)
        for stream in self.streams(property_id):
            self._put(msgspec.structs.replace(stream, deleted=True))
        return prop

    # -- streams and their secrets ---------------------------------------------------------

    def create_stream(self, property_id: str, name: str) -> Stream:
        prop = self.property(property_id)
        if prop is None:
            raise ApiError(404, f"property {property_id[:30]} does not exist")
        clean, now = _name(name), self.now()
        return self._create(
            lambda: Stream(
                stream_id=self.ids.record_id("str"),
                property_id=prop.property_id,
                account_id=prop.account_id,
                name=clean,
                measurement_id=self.ids.measurement_id(),
                created_at=now,
            )
        )

    def stream(self, stream_id: str) -> Stream:
        found = self.store.get(Stream, stream_id)
        if found is None or found.deleted:
            raise ApiError(404, f"stream {stream_id[:40]} does not exist")
        return found

    def streams(self, property_id: str) -> list[Stream]:
        return [s for s in self.store.records(Stream, property_id=property_id) if not s.deleted]

    def update_stream(self, stream_id: str, *, name: str) -> Stream:
        stream = msgspec.structs.replace(self.stream(stream_id), name=_name(name))
        self._put(stream)
        return stream

    def delete_stream(self, stream_id: str) -> Stream:
        stream = msgspec.structs.replace(self.stream(stream_id), deleted=True)
        self._put(stream)
        return stream

    def by_measurement_id(self, measurement_id: str) -> tuple[Stream, Property] | None:
        def load() -> tuple[Stream, Property] | None:
            stream = self.store.find(Stream, measurement_id)
            if stream is None or stream.deleted:
                return None
            prop = self.store.get(Property, stream.property_id)
            if prop is None or prop.deleted:
                return None
            account = self.store.get(Account, prop.account_id)
            if account is None or account.disabled:
                return None
            return stream, prop

        return self._cache.get(("mid", measurement_id), load)

    def create_secret(self, stream_id: str, name: str) -> Created:
        stream = self.stream(stream_id)
        clean, now = _name(name), self.now()
        values: list[str] = []  # the value of each draw; the last one is stored

        def make() -> ApiSecret:
            values.append(self.ids.secret(sec.SECRET_PREFIX))
            return ApiSecret(
                secret_id=self.ids.record_id("sec"),
                stream_id=stream.stream_id,
                property_id=stream.property_id,
                account_id=stream.account_id,
                name=clean,
                prefix=sec.visible_prefix(values[-1]),
                hash=sec.hash_secret(values[-1]),
                created_at=now,
            )

        secret = self._create(make)
        return Created(secret, values[-1])

    def secret(self, secret_id: str) -> ApiSecret:
        found = self.store.get(ApiSecret, secret_id)
        if found is None:
            raise ApiError(404, f"secret {secret_id[:40]} does not exist")
        return found

    def secrets(self, stream_id: str) -> list[ApiSecret]:
        return [
            s
            for s in self.store.records(ApiSecret, property_id=self.stream(stream_id).property_id)
            if s.stream_id == stream_id
        ]

    def revoke_secret(self, secret_id: str) -> ApiSecret:
        secret = self.secret(secret_id)
        if secret.revoked_at is None:
            secret = msgspec.structs.replace(secret, revoked_at=self.now())
            self._put(secret)
        return secret

    def verify_secret(self, stream: Stream, presented: str) -> ApiSecret | None:
        """The live secret of ``stream`` whose value is ``presented`` (constant-time compare)."""
        prefix = sec.visible_prefix(presented)
        found = self._cache.get(("secret", prefix), lambda: self.store.find(ApiSecret, prefix))
        if found is None or not sec.matches(presented, found.hash):
            return None
        if found.revoked_at is not None or found.stream_id != stream.stream_id:
            return None
        return found

    # -- keys -------------------------------------------------------------------------------

    def create_key(
        self,
        account_id: str | None,
        name: str,
        scopes: Iterable[str],
        *,
        property_ids: Iterable[str] = (),
        expires_at: int | None = None,
        value: str | None = None,
    ) -> Created:
        if account_id is not None:
            self.account(account_id)
        props = tuple(dict.fromkeys(property_ids))
        for pid in props:
            prop = self.property(pid)
            if prop is None or account_id is None or prop.account_id != account_id:
                raise _bad(f"property_ids: {pid[:30]} is not a property of this account")
        if expires_at is not None:
            _expiry(expires_at, self.now())
        clean, granted, now = _name(name), _scopes(scopes), self.now()
        values: list[str] = []  # the value of each draw; the last one is stored

        def make() -> ApiKey:
            values.append(value or self.ids.secret(sec.KEY_PREFIX))
            return ApiKey(
                key_id=self.ids.record_id("key"),
                account_id=account_id,
                name=clean,
                prefix=sec.visible_prefix(values[-1]),
                hash=sec.hash_secret(values[-1]),
                scopes=granted,
                property_ids=props,
                expires_at=expires_at,
                created_at=now,
            )

        key = self._create(make, lookup_given=bool(value))
        return Created(key, values[-1])

    def key(self, key_id: str) -> ApiKey:
        found = self.store.get(ApiKey, key_id)
        if found is None:
            raise ApiError(404, f"key {key_id[:40]} does not exist")
        return found

    def api_keys(self, account_id: str | None = None) -> list[ApiKey]:
        return self.store.records(ApiKey, account_id=account_id)

    def update_key(
        self,
        key_id: str,
        *,
        name: str | None = None,
        scopes: Iterable[str] | None = None,
        expires_at: int | None = None,
    ) -> ApiKey:
        key = self.key(key_id)
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = _name(name)
        if scopes is not None:
            changes["scopes"] = _scopes(scopes)
        if expires_at is not None:
            changes["expires_at"] = _expiry(
                expires_at, self.now(), " (revoke the key to stop it now)"
            )
        key = msgspec.structs.replace(key, **changes)
        self._put(key)
        return key

    def revoke_key(self, key_id: str) -> ApiKey:
        key = self.key(key_id)
        if key.revoked_at is None:
            key = msgspec.structs.replace(key, revoked_at=self.now())
            self._put(key)
        return key

    def authenticate(self, presented: str) -> ApiKey | None:
        """The usable key whose value is ``presented``, or None (unknown, revoked, expired)."""
        prefix = sec.visible_prefix(presented)
        found = self._cache.get(("key", prefix), lambda: self.store.find(ApiKey, prefix))
        if found is None or not sec.matches(presented, found.hash) or not found.usable(self.now()):
            return None
        if found.account_id is not None:
            account = self._cache.get(
                ("account", found.account_id),
                lambda: self.store.get(Account, found.account_id or ""),
            )
            if account is None or account.disabled:
                return None
        return found
