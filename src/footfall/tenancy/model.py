"""The tenancy records, kept by the store's :class:`~footfall.store.TenancyStore` port.

- an **account** (a merchant) owns properties and API keys;
- a **property** (a site or app) has a time zone, currency, allowed hostnames, retention and
  key events, and one or more **streams**;
- a **stream** has a public measurement id (``G-…``, for browsers) and server-side **API
  secrets** (for the Measurement Protocol and server SDKs);
- an **API key** has scopes (read, write, admin) and is bound to one account and to some or all
  of its properties; an operator key (no account) administers the whole server.

Secrets and keys are stored only as SHA-256 hashes with a short visible prefix.
"""

from __future__ import annotations

import enum
from typing import ClassVar

import msgspec

# GA4's default key events: purchase (web and app), first_open and in_app_purchase (app
# events, which never occur on a web stream). A property may set its own list.
DEFAULT_KEY_EVENTS = ("purchase", "first_open", "in_app_purchase")


class Scope(enum.StrEnum):
    READ = "read"  # reports
    WRITE = "write"  # ingestion on the key's behalf: history (backfill), server-side events
    ADMIN = "admin"  # properties, streams, secrets, keys, usage; implies read and write


class HostnamePolicy(enum.StrEnum):
    REJECT = "reject"  # browser events from other hostnames are refused
    FLAG = "flag"  # accepted, counted as flagged, stored with a flag


class _Record(msgspec.Struct, kw_only=True, frozen=True, tag_field="kind"):
    KIND: ClassVar[str]
    ID_FIELD: ClassVar[str]
    LOOKUP_FIELD: ClassVar[str] = ""  # a second unique key (measurement id, prefix)
    created_at: int = 0  # microseconds since the epoch

    @property
    def record_id(self) -> str:
        return str(getattr(self, self.ID_FIELD))

    @property
    def lookup(self) -> str:
        return str(getattr(self, self.LOOKUP_FIELD)) if self.LOOKUP_FIELD else ""

    @property
    def owner_account(self) -> str:
        return getattr(self, "account_id", None) or ""

    @property
    def owner_property(self) -> str:
        return getattr(self, "property_id", None) or ""


class Account(_Record, frozen=True, tag="account"):
    KIND: ClassVar[str] = "account"
    ID_FIELD: ClassVar[str] = "account_id"
    account_id: str
    name: str
    disabled: bool = False


class Property(_Record, frozen=True, tag="property"):
    KIND: ClassVar[str] = "property"
    ID_FIELD: ClassVar[str] = "property_id"
    property_id: str
    account_id: str
    name: str
    time_zone: str = "UTC"
    currency: str = "USD"
    key_events: tuple[str, ...] = DEFAULT_KEY_EVENTS
    # browsers may send from these hostnames (and their subdomains); empty means any
    allowed_hostnames: tuple[str, ...] = ()
    hostname_policy: HostnamePolicy = HostnamePolicy.REJECT
    retention_days: int = 0  # 0 keeps events for ever
    deleted: bool = False


class Stream(_Record, frozen=True, tag="stream"):
    KIND: ClassVar[str] = "stream"
    ID_FIELD: ClassVar[str] = "stream_id"
    LOOKUP_FIELD: ClassVar[str] = "measurement_id"
    stream_id: str
    property_id: str
    account_id: str
    name: str
    measurement_id: str
    deleted: bool = False


class ApiSecret(_Record, frozen=True, tag="secret"):
    KIND: ClassVar[str] = "secret"
    ID_FIELD: ClassVar[str] = "secret_id"
    LOOKUP_FIELD: ClassVar[str] = "prefix"
    secret_id: str
    stream_id: str
    property_id: str
    account_id: str
    name: str
    prefix: str
    hash: str
    revoked_at: int | None = None


class ApiKey(_Record, frozen=True, tag="key"):
    KIND: ClassVar[str] = "key"
    ID_FIELD: ClassVar[str] = "key_id"
    LOOKUP_FIELD: ClassVar[str] = "prefix"
    key_id: str
    account_id: str | None  # None: an operator key for the whole server
    name: str
    prefix: str
    hash: str
    scopes: tuple[Scope, ...]
    property_ids: tuple[str, ...] = ()  # empty: every property of the account
    expires_at: int | None = None
    revoked_at: int | None = None

    @property
    def is_operator(self) -> bool:
        return self.account_id is None

    def usable(self, now_us: int) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now_us < self.expires_at)

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def covers(self, prop: Property) -> bool:
        """May this key act on ``prop`` at all (before scopes)?"""
        if self.is_operator:
            return True
        if prop.account_id != self.account_id:
            return False
        return not self.property_ids or prop.property_id in self.property_ids


Record = Account | Property | Stream | ApiSecret | ApiKey


_ENCODER = msgspec.msgpack.Encoder()
_DECODER: msgspec.msgpack.Decoder[Record] = msgspec.msgpack.Decoder(Record)


def encode_record(record: Record) -> bytes:
    return _ENCODER.encode(record)


def record_row(record: Record) -> tuple[str, str, str, str, str, bytes]:
    """A record as stores keep it: kind, id, lookup, owner account, owner property, document."""
    return (
        record.KIND,
        record.record_id,
        record.lookup,
        record.owner_account,
        record.owner_property,
        encode_record(record),
    )


def decode_record(data: bytes) -> Record:
    return _DECODER.decode(data)
