"""Read a request body within limits: a byte cap on the wire and after gzip."""

from __future__ import annotations

import zlib

from starlette.requests import Request

from footfall.errors import ApiError


async def read_body(request: Request, *, max_bytes: int, max_decompressed: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "Content-Length is not a number") from None
        if size > max_bytes:
            raise ApiError(
                413, f"request body is {size} bytes; the limit is {max_bytes} (max_body_bytes)"
            )
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise ApiError(
                413, f"request body is over the limit of {max_bytes} bytes (max_body_bytes)"
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ApiError(
            415, f"Content-Encoding {encoding[:30]!r} is not supported; use gzip, deflate or none"
        )
    return _inflate(body, encoding, max_decompressed)


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise ApiError(400, f"request body is not valid {encoding} data") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(
            413,
            f"decompressed request body is over the limit of {limit} bytes (max_decompressed_bytes)",
        )
    if not inflater.eof:
        raise ApiError(400, f"request body is truncated {encoding} data")
    return out
