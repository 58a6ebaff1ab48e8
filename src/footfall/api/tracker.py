"""The web tracker's builds at ``/footfall.js`` and ``/footfall.<feature>.js``.

The sources are in ``tracker/`` (their own package.json); ``tracker/build.mjs`` writes the builds
into ``api/dist/``, so serving them needs no Node. They are public and cacheable: a week's
``max-age``, a strong ``ETag`` (a hash of the file) answered by 304 on ``If-None-Match``, and
the gzip form precomputed for clients that accept it (the size budgets are of that form).
"""

from __future__ import annotations

import gzip
import hashlib
from importlib import resources
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall.gateway.access import Access, Gateway
from footfall.gateway.body import Takes

BUILDS = ("footfall.js", "footfall.enhanced.js")
CACHE_CONTROL = "public, max-age=604800"  # a week; a changed build is revalidated by its ETag
MEDIA_TYPE = "text/javascript; charset=utf-8"


class Script:
    """One build, read once: its bytes, its gzip form and their strong ETags."""

    def __init__(self, name: str) -> None:
        self.body = resources.files("footfall.api").joinpath("dist", name).read_bytes()
        self.gzipped = gzip.compress(self.body, compresslevel=9, mtime=0)
        digest = hashlib.sha256(self.body).hexdigest()[:32]
        self.etag = f'"{digest}"'
        self.gzip_etag = f'"{digest}-gz"'  # another representation, so another strong tag


class TrackerScripts:
    TAKES: ClassVar[dict[str, Takes]] = {
        name: Takes(summary=f"The web tracker's {name} build", media_type="text/javascript")
        for name in BUILDS
    }

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.scripts = {name: Script(name) for name in BUILDS}

    def routes(self) -> list[Route]:
        g = self.gateway.guard
        return [
            Route(f"/{name}", g(Access.PUBLIC, self.serve, name), methods=["GET"])
            for name in BUILDS
        ]

    async def serve(self, request: Request) -> Response:
        script = self.scripts[request.url.path.removeprefix("/")]
        zipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
        etag = script.gzip_etag if zipped else script.etag
        headers = {"cache-control": CACHE_CONTROL, "etag": etag, "vary": "Accept-Encoding"}
        if _matches(request.headers.get("if-none-match", ""), (script.etag, script.gzip_etag)):
            return Response(status_code=304, headers=headers)
        if zipped:
            headers["content-encoding"] = "gzip"
        body = script.gzipped if zipped else script.body
        return Response(body, media_type=MEDIA_TYPE, headers=headers)


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _matches(if_none_match: str, etags: tuple[str, ...]) -> bool:
    """``If-None-Match`` names the file: ``*``, or one of its tags (weak comparison, as for GET)."""
    if if_none_match.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return any(etag in tags for etag in etags)
