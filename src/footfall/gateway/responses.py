"""JSON responses, and errors in Google's shape (with ``Retry-After`` on 429 and 503)."""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from footfall.errors import ApiError

_json = msgspec.json.Encoder()


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        _json.encode(body), status_code=status, media_type="application/json", headers=headers
    )


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    if error.code in (429, 503):
        headers = {**(headers or {}), "Retry-After": str(error.retry_after)}
    if error.code == 413:
        # the rest of an oversized body is not read: close rather than drain it
        headers = {**(headers or {}), "Connection": "close"}
    return json_response(error.body(), error.code, headers)
