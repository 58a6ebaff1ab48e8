"""The gateway in front of every route: identify, authenticate, authorize, limit, count.

Each route is registered through :meth:`Gateway.guard` with one :class:`Access` policy; the
policy is kept on the endpoint, so tests can list every route and its policy from the app
itself. Refusals use Google's error shape: 401 without a valid credential, 404 for a property
the credential cannot see (the same answer as for one that does not exist), 403 for a property
it can see with too small a scope, 429 with ``Retry-After`` past a rate limit.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from footfall.errors import ApiError
from footfall.gateway.limits import RateLimits, retry_after
from footfall.gateway.metrics import Metrics
from footfall.gateway.responses import error_response
from footfall.gateway.usage import UsageMeter
from footfall.tenancy.model import ApiKey, Property, Scope
from footfall.tenancy.service import Tenancy

Handler = Callable[[Request], Awaitable[Response]]


class Access(enum.StrEnum):
    PUBLIC = "public"  # liveness, readiness, the dashboard's static files
    INGEST = "ingest"  # the collector: measurement id; API secret or write key for more
    READ = "read"  # reports on the {property_id} in the path: a key with read scope
    KEY = "key"  # any valid key; the handler shows only what that key covers
    ADMIN = "admin"  # tenancy administration: a key with admin scope, checked per object
    OPERATOR = "operator"  # the whole server: an operator key with admin scope


def bearer(authorization: str | None, api_key: str | None = None) -> str | None:
    """The secret from ``Authorization: Bearer <secret>`` or ``x-goog-api-key``."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return api_key.strip() if api_key and api_key.strip() else None


class Gateway:
    def __init__(
        self,
        tenancy: Tenancy,
        limits: RateLimits,
        usage: UsageMeter,
        metrics: Metrics,
        *,
        trust_forwarded_for: bool = False,
    ) -> None:
        self.tenancy = tenancy
        self.limits = limits
        self.usage = usage
        self.metrics = metrics
        self.trust_forwarded_for = trust_forwarded_for

    # -- identity ---------------------------------------------------------------------------

    def client_ip(self, request: Request) -> str:
        if self.trust_forwarded_for:
            first = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
            if first:
                return first[:64]
        return request.client.host if request.client else ""

    def check_auth_failures(self, request: Request) -> None:
        """Refuse at once a client address that failed to authenticate too often."""
        wait = self.limits.auth_failures.peek(self.client_ip(request))
        if wait:
            self.metrics.rate_limited.labels("auth_failures").inc()
            raise ApiError(
                429, "too many failed authentications; retry later", retry_after=retry_after(wait)
            )

    def auth_failed(self, request: Request, message: str) -> ApiError:
        self.limits.auth_failures.take(self.client_ip(request))
        self.metrics.auth_failures.inc()
        return ApiError(401, message)

    def authenticate(
        self, request: Request, *, required: bool = True, charge_key: bool = True
    ) -> ApiKey | None:
        """The request's key (401 without a valid one when ``required``), charged to the key's
        rate limit unless ``charge_key`` is false: the collector charges sending with a key to
        the property's ingest bucket instead, so bulk loading is not throttled like a
        dashboard's reports."""
        token = bearer(request.headers.get("authorization"), request.headers.get("x-goog-api-key"))
        if token is None and not required:
            return None
        self.check_auth_failures(request)
        if token is None:
            raise self.auth_failed(
                request, "an API key is required (Authorization: Bearer <key> or x-goog-api-key)"
            )
        return self.key_of(request, token, charge_key=charge_key)

    def key_of(self, request: Request, token: str, *, charge_key: bool = True) -> ApiKey:
        """The live key whose secret is ``token`` (401 otherwise, counted against the client
        address), charged to the key's rate limit unless ``charge_key`` is false."""
        key = self.tenancy.authenticate(token)
        if key is None:
            raise self.auth_failed(
                request, "the API key is not valid (unknown, revoked or expired)"
            )
        wait = self.limits.keys.take(key.key_id) if charge_key else 0.0
        if wait:
            self.metrics.rate_limited.labels("key").inc()
            raise ApiError(
                429,
                "this API key is over its rate limit; retry later",
                retry_after=retry_after(wait),
            )
        return key

    # -- authorization ----------------------------------------------------------------------

    def visible_property(self, key: ApiKey, property_id: str) -> Property:
        """The property, if this key may see it; 404 otherwise (whether or not it exists)."""
        if not property_id.isdigit() or len(property_id) > 20:
            raise ApiError(400, f"property id must be numeric, got {property_id[:30]!r}")
        prop = self.tenancy.property(property_id)
        if prop is None or not key.covers(prop):
            raise ApiError(404, f"property {property_id} does not exist")
        return prop

    def authorize(self, key: ApiKey, prop: Property, scope: Scope) -> None:
        if not key.covers(prop):
            raise ApiError(404, f"property {prop.property_id} does not exist")
        if not key.allows(scope):
            raise ApiError(403, f"this API key lacks the {scope} scope")

    def charge(self, property_id: str, *, reports: bool = False) -> None:
        """Count a request against the property's usage and one of its two rate limits: the
        collector's (ingest), or, with ``reports``, the reports' own."""
        self.usage.add(property_id, "requests")
        buckets = self.limits.reports if reports else self.limits.properties
        wait = buckets.take(property_id)
        if wait:
            self.usage.add(property_id, "rate_limited:reports" if reports else "rate_limited")
            self.metrics.rate_limited.labels("reports" if reports else "property").inc()
            what = "reports" if reports else "collector"
            raise ApiError(
                429,
                f"this property's {what} is over its rate limit; retry later",
                retry_after=retry_after(wait),
            )

    # -- routes -----------------------------------------------------------------------------

    def guard(self, access: Access, handler: Handler, name: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                await self._admit(access, request)
                response = await handler(request)
            except ApiError as exc:
                response = error_response(exc)
            self.metrics.requests.labels(name, str(response.status_code)).inc()
            return response

        endpoint.access = access  # type: ignore[attr-defined]
        endpoint.__name__ = name
        return endpoint

    async def _admit(self, access: Access, request: Request) -> None:
        state: Any = request.state
        if access in (Access.PUBLIC, Access.INGEST):
            return  # the collector authenticates once it has read the body
        key = self.authenticate(request)
        assert key is not None
        state.key = key
        if access is Access.READ:
            prop = self.visible_property(key, request.path_params["property_id"])
            self.authorize(key, prop, Scope.READ)
            self.charge(prop.property_id, reports=True)
            state.property = prop
        elif access is Access.KEY:
            return
        elif access is Access.ADMIN:
            if not key.allows(Scope.ADMIN):
                raise ApiError(403, "this API key lacks the admin scope")
        elif access is Access.OPERATOR and not (key.is_operator and key.allows(Scope.ADMIN)):
            raise ApiError(403, "this needs an operator key")
