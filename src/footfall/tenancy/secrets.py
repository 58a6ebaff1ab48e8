"""Keys and secrets: random, shown once, stored as SHA-256 with a visible prefix, compared in
constant time. New identifiers come from an :class:`IdSource` (random by default); the
``Tenancy`` service stores each one only if it is free and draws again on a clash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from typing import Protocol

KEY_PREFIX = "ffk_"  # API keys
SECRET_PREFIX = "ffs_"  # noqa: S105 (a visible prefix, not a secret)
VISIBLE = 12  # characters kept in clear to tell keys apart in listings and logs
_ID_ALPHABET = string.ascii_lowercase + string.digits


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def visible_prefix(secret: str) -> str:
    return secret[:VISIBLE]


def matches(presented: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(presented), stored_hash)


def new_id(kind: str) -> str:
    """Opaque record ids, e.g. ``acc_3k9x…``."""
    return f"{kind}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def new_property_id() -> str:
    return str(100_000_000 + secrets.randbelow(900_000_000))


def new_measurement_id() -> str:
    return "G-" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))


class IdSource(Protocol):
    """Where every generated identifier comes from. None is trusted to be unique: each is
    stored with insert-if-absent, and a clash draws another."""

    def record_id(self, kind: str) -> str:
        """An account, stream, secret or key id (``acc``, ``str``, ``sec``, ``key``)."""

    def property_id(self) -> str: ...

    def measurement_id(self) -> str: ...

    def secret(self, prefix: str) -> str:
        """A key or secret value in clear; its first ``VISIBLE`` characters are its lookup."""


class RandomIds:
    """The identifiers of a running server: from the operating system's CSPRNG."""

    def record_id(self, kind: str) -> str:
        return new_id(kind)

    def property_id(self) -> str:
        return new_property_id()

    def measurement_id(self) -> str:
        return new_measurement_id()

    def secret(self, prefix: str) -> str:
        return new_secret(prefix)
