"""Admin routes (admin token): list properties, re-process a property from its raw events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from footfall.api.app import authorize_admin, find_property
from footfall.collect.app import error_response, json_response
from footfall.gateway.tokens import AdminToken
from footfall.report.errors import ApiError
from footfall.store import PropertyStore

Submit = Callable[[Callable[[], Any]], "Future[Any]"]


class AdminApi:
    def __init__(
        self,
        properties: PropertyStore,
        admin: AdminToken,
        submit: Submit,
        reprocess: Callable[[str], int],
    ) -> None:
        self.properties = properties
        self.admin = admin
        self.submit = submit
        self.reprocess = reprocess

    def routes(self) -> list[Route]:
        return [
            Route("/v1/admin/properties", self.list_properties, methods=["GET"]),
            Route("/v1/admin/properties/{name}", self.property_method, methods=["POST"]),
        ]

    async def list_properties(self, request: Request) -> Response:
        try:
            authorize_admin(request, self.admin)
        except ApiError as exc:
            return error_response(exc)
        props = await run_in_threadpool(self.properties.list_properties)
        return json_response({"properties": [msgspec.to_builtins(p) for p in props]})

    async def property_method(self, request: Request) -> Response:
        try:
            authorize_admin(request, self.admin)
            property_id, _, method = request.path_params["name"].partition(":")
            if method != "reprocess":
                raise ApiError(404, f"unknown method {method[:40]!r}; this server has reprocess")
            prop = await find_property(self.properties, property_id)
            started = time.monotonic()
            future = await run_in_threadpool(self.submit, lambda: self.reprocess(prop.property_id))
            events = await asyncio.wrap_future(future)
            return json_response(
                {
                    "property": prop.property_id,
                    "rawEvents": events,
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
        except ApiError as exc:
            return error_response(exc)
