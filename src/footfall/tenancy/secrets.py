"""Keys and secrets: random, shown once, stored as SHA-256 with a visible prefix, compared in
constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

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
