"""Every ingestion protocol the collector speaks, as routes on one shared publish path.

Each protocol is a class taking :class:`Publish`, with ``TAKES`` (what its routes accept, for
the OpenAPI document) and ``routes()``. Adding a protocol is one line in :data:`PROTOCOLS`.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from starlette.routing import Route

from footfall.collect.app import Collector
from footfall.collect.publish import Publish
from footfall.gateway.body import Takes


class ProtocolRoutes(Protocol):
    TAKES: ClassVar[dict[str, Takes]]

    def routes(self) -> list[Route]: ...


PROTOCOLS: tuple[type, ...] = (Collector,)


def collector_routes(publish: Publish) -> tuple[list[Route], dict[str, Takes]]:
    """The routes of every protocol in :data:`PROTOCOLS`, and what each operation takes."""
    routes: list[Route] = []
    takes: dict[str, Takes] = {}
    for cls in PROTOCOLS:
        protocol: ProtocolRoutes = cls(publish)
        routes += protocol.routes()
        takes.update(protocol.TAKES)
    return routes, takes
