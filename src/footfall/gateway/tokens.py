"""Secrets at rest: only a SHA-256 hash is stored; presented secrets are compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from footfall.store import MetaStore

ADMIN_TOKEN_KEY = "admin_token_sha256"  # noqa: S105 (a key name, not a secret)
ADMIN_TOKEN_PREFIX = "ff_admin_"  # noqa: S105 (a visible prefix, not a secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_admin_token() -> str:
    return ADMIN_TOKEN_PREFIX + secrets.token_urlsafe(32)


class AdminToken:
    """The embedded server's admin token: created at first start, shown once, stored hashed."""

    def __init__(self, meta: MetaStore) -> None:
        self._meta = meta
        self._hash: str | None = meta.get_meta(ADMIN_TOKEN_KEY)

    def ensure(self, wanted: str = "") -> str | None:
        """Create the token on first start; return it in clear only if it was just created."""
        if self._hash is not None:
            return None
        token = wanted or new_admin_token()
        stored = self._meta.set_meta(ADMIN_TOKEN_KEY, hash_secret(token), only_if_absent=True)
        self._hash = stored
        return token if stored == hash_secret(token) else None

    def verify(self, presented: str | None) -> bool:
        if not presented or self._hash is None:
            return False
        return hmac.compare_digest(hash_secret(presented), self._hash)


def bearer(authorization: str | None, api_key: str | None = None) -> str | None:
    """The secret from ``Authorization: Bearer <secret>`` or ``x-goog-api-key``."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return api_key.strip() if api_key and api_key.strip() else None
