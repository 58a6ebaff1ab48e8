"""Request bodies: read within the route's limit while streaming, inflate within a second limit,
decode JSON with a 4xx that names the field; and what each route takes, for the OpenAPI document.

Every route that reads a body reads it through :func:`read_body`. A declared ``Content-Length``
past the limit is refused before a byte is read, and a streamed (chunked) body as soon as the
bytes received pass it, so nothing past the limit is ever buffered.
"""

from __future__ import annotations

import re
import zlib
from typing import Any, Protocol

import msgspec
from starlette.requests import Request

from footfall.errors import ApiError
from footfall.gateway.jsonpath import locate

# msgspec refuses deeper nesting with RecursionError at the interpreter's limit (about 1000
# levels); the path shown in the message stops at this depth
SHOWN_DEPTH = 64
_DIGITS = re.compile(r"[0-9]{1,20}")


class Takes(msgspec.Struct, frozen=True):
    """What a route takes and answers, for the OpenAPI document: its JSON body (a msgspec
    struct; None for no body), its query parameters (name: description), and its success."""

    body: Any = None
    query: dict[str, str] = {}
    summary: str = ""
    status: int = 200
    media_type: str = "application/json"


def _limit_name(setting: str) -> str:
    return f" ({setting})" if setting else ""


async def read_body(
    request: Request,
    *,
    max_bytes: int,
    max_decompressed: int | None = None,
    setting: str = "",
    decompressed_setting: str = "",
) -> bytes:
    """The body, refused with 413 past ``max_bytes`` on the wire (or ``max_decompressed``, else
    ``max_bytes``, once gzip or deflate is undone); ``setting`` and ``decompressed_setting`` name
    the settings that hold the limits, if any."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not _DIGITS.fullmatch(declared.strip()):
            raise ApiError(400, "Content-Length is not a number")
        size = int(declared)
        if size > max_bytes:
            raise ApiError(
                413,
                f"request body is {size} bytes; the limit is {max_bytes}{_limit_name(setting)}",
            )
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise ApiError(
                413,
                f"request body is over the limit of {max_bytes} bytes{_limit_name(setting)}",
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
    return _inflate(body, encoding, max_decompressed or max_bytes, decompressed_setting)


def _inflate(body: bytes, encoding: str, limit: int, setting: str) -> bytes:
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise ApiError(400, f"request body is not valid {encoding} data") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(
            413,
            f"decompressed request body is over the limit of {limit} bytes{_limit_name(setting)}",
        )
    if not inflater.eof:
        raise ApiError(400, f"request body is truncated {encoding} data")
    return out


class Decoding(Protocol):
    """What turns a body into a request: a msgspec decoder, or the report routes' proto3 one."""

    def decode(self, buf: bytes, /) -> Any: ...


def json_problem(body: bytes, exc: BaseException, prefix: str = "") -> str | None:
    """The message for JSON msgspec could not read for want of valid UTF-8 or for nesting too
    deep, naming where; None for any other error."""
    if isinstance(exc, UnicodeDecodeError):
        try:
            body.decode("utf-8")
            offset = len(body)
        except UnicodeDecodeError as bad:
            offset = bad.start
        return f"{locate(body, offset=offset, prefix=prefix)}: not valid UTF-8"
    if isinstance(exc, RecursionError):
        path = locate(body, depth=SHOWN_DEPTH, prefix=prefix)
        return f"{path}: JSON is nested too deeply"
    return None


def decode_json(decoder: Decoding, body: bytes) -> Any:
    """``body`` decoded (an empty body as ``{}``), or a 400 that names the field."""
    body = body or b"{}"
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, f"invalid request: {json_problem(body, exc)}") from None


async def read_json(request: Request, decoder: Decoding, *, max_bytes: int) -> Any:
    return decode_json(decoder, await read_body(request, max_bytes=max_bytes))
