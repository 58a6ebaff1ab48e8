"""``GET /openapi.json``: an OpenAPI 3.1 document of every route the app serves.

Generated, never written by hand: the paths, methods and access policies come from the app's
route table (the policy the gateway keeps on each endpoint), the request bodies from the
msgspec structs the handlers decode (``msgspec.json.schema_components``), and the query
parameters from each API's :class:`~footfall.gateway.body.Takes` table. Errors have Google's
shape, ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall.errors import STATUS_BY_CODE
from footfall.gateway.access import Access
from footfall.gateway.body import Takes

REF = "#/components/schemas/{name}"
BODY_METHODS = ("POST", "PATCH", "PUT")
Security = list[dict[str, list[str]]]
KEYS: Security = [{"bearer": []}, {"googApiKey": []}]
OPTIONAL_KEYS: Security = [{}, *KEYS]
SECURITY: dict[Access, Security] = {
    Access.PUBLIC: [],
    Access.INGEST: OPTIONAL_KEYS,  # a measurement id; a write key or api_secret for more
    Access.READ: KEYS,
    Access.KEY: KEYS,
    Access.ADMIN: KEYS,
    Access.OPERATOR: KEYS,
}
REFUSALS: dict[Access, tuple[int, ...]] = {
    Access.PUBLIC: (),
    Access.INGEST: (400, 401, 403, 404, 413, 415, 429, 503),
    Access.READ: (400, 401, 403, 404, 413, 415, 429),
    Access.KEY: (400, 401, 429),
    Access.ADMIN: (400, 401, 403, 404, 413, 415, 429),
    Access.OPERATOR: (400, 401, 403, 404, 413, 415, 429),
}
MEANING = {
    400: "a field is invalid; the message names it",
    401: "no valid credential",
    403: "the key lacks the scope (or the origin is not allowed)",
    404: "no such object, or one the key cannot see",
    413: "the body is over the route's limit",
    415: "a Content-Encoding other than gzip, deflate or none",
    429: "over a rate limit; see Retry-After",
    503: "the queue is unavailable; see Retry-After",
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Google's error shape",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string", "enum": sorted(set(STATUS_BY_CODE.values()))},
            },
            "required": ["code", "message", "status"],
        }
    },
    "required": ["error"],
}


def operations(routes: Iterable[Any]) -> list[tuple[Route, str]]:
    """Every (route, method) the app serves; HEAD comes with GET and is not listed."""
    out: list[tuple[Route, str]] = []
    for route in routes:
        if isinstance(route, Route):
            out.extend((route, m) for m in sorted(route.methods or ()) if m != "HEAD")
    return out


def openapi_document(
    routes: Iterable[Any], takes: Mapping[str, Takes], *, version: str
) -> dict[str, Any]:
    table = operations(routes)
    bodies = sorted(
        {t.body for t in takes.values() if t.body is not None}, key=lambda b: b.__name__
    )
    refs, components = msgspec.json.schema_components(bodies, ref_template=REF)
    body_refs = dict(zip(bodies, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route, method in table:
        name = route.endpoint.__name__
        access: Access = getattr(route.endpoint, "access", Access.PUBLIC)
        spec = takes.get(name, Takes())
        op: dict[str, Any] = {
            "operationId": name if method != "OPTIONS" else f"{name}Preflight",
            "summary": spec.summary or name,
            "tags": [_tag(route.path)],
            "security": SECURITY[access] if method != "OPTIONS" else [],
            "parameters": _parameters(route, spec, method),
            "responses": _responses(spec, access, method),
        }
        if method in BODY_METHODS and spec.body is not None:
            op["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": body_refs[spec.body]}},
            }
        paths.setdefault(route.path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "footfall",
            "version": version,
            "description": "Collector, GA4 Data API-shaped reports and the admin API.",
        },
        "paths": paths,
        "components": {
            "schemas": {**components, "Error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API key"},
                "googApiKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
            },
        },
    }


def _tag(path: str) -> str:
    if path.startswith("/v1beta/"):
        return "reports"
    if path.startswith("/v1/admin/"):
        return "admin"
    if path.startswith("/v1/collect"):
        return "collect"
    return "server"


def _parameters(route: Route, spec: Takes, method: str) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.param_convertors
    ]
    params += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": {"type": "string"},
        }
        for name, description in spec.query.items()
    ]
    if method == "OPTIONS":
        params.append(
            {"name": "Origin", "in": "header", "required": False, "schema": {"type": "string"}}
        )
    return params


def _responses(spec: Takes, access: Access, method: str) -> dict[str, Any]:
    if method == "OPTIONS":
        return {
            "204": {"description": "the CORS grant for an allowed origin"},
            "403": _error(MEANING[403]),
        }
    ok: dict[str, Any] = {"description": "success"}
    ok["content"] = {
        spec.media_type: {
            "schema": {} if spec.media_type != "application/json" else {"type": "object"}
        }
    }
    out: dict[str, Any] = {str(spec.status): ok}
    for code in REFUSALS[access]:
        out[str(code)] = _error(MEANING[code])
    if spec.body is not None:
        out.setdefault("400", _error(MEANING[400]))
    return out


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(name="Error")}}},
    }


class OpenApi:
    """The ``/openapi.json`` endpoint: the document of the app serving the request, built once."""

    def __init__(self, takes: Mapping[str, Takes], version: str) -> None:
        self.takes = takes
        self.version = version
        self._body: bytes | None = None

    async def serve(self, request: Request) -> Response:
        if self._body is None:
            doc = openapi_document(request.app.routes, self.takes, version=self.version)
            self._body = msgspec.json.encode(doc)
        return Response(self._body, media_type="application/json")
