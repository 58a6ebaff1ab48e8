"""FastAPI: ``AsyncClient`` on the app's event loop, closed in the lifespan.

    FOOTFALL_URL=http://127.0.0.1:8000 FOOTFALL_MEASUREMENT_ID=G-... FOOTFALL_API_SECRET=ffs_... \
        uvicorn examples.fastapi_app:app --port 8080
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from footfall.client import AsyncClient

COOKIE = "footfall_cid"  # the app's own visitor id (tracker.js keeps its own in localStorage)

# Made at import; its tasks start with the first event, on the running loop.
footfall = AsyncClient(
    os.environ["FOOTFALL_URL"],
    os.environ["FOOTFALL_MEASUREMENT_ID"],
    api_secret=os.environ["FOOTFALL_API_SECRET"],
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    stats = await footfall.aclose()  # sends what is queued before uvicorn exits
    print(f"footfall: {stats.accepted} events delivered, {stats.failed + stats.unsent} not")


app = FastAPI(lifespan=lifespan)


def visitor(request: Request) -> dict[str, str | None]:
    """The visitor's id, user agent and address. Behind a proxy, run uvicorn with
    --proxy-headers --forwarded-allow-ips so request.client is the visitor's address."""
    return {
        "client_id": request.cookies.get(COOKIE) or request.state.footfall_cid,
        "user_agent": request.headers.get("user-agent") or None,
        "ip_override": request.client.host if request.client else None,
    }


@app.middleware("http")
async def track_page_views(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    request.state.footfall_cid = None if COOKIE in request.cookies else uuid.uuid4().hex
    response = await call_next(request)
    html = response.headers.get("content-type", "").startswith("text/html")
    if request.method == "GET" and html and response.status_code < 400:
        page = {"page_location": str(request.url)}
        if request.headers.get("referer"):
            page["page_referrer"] = request.headers["referer"]
        footfall.track("page_view", page, **visitor(request))  # no await: track only queues
    if request.state.footfall_cid:
        response.set_cookie(COOKIE, request.state.footfall_cid, max_age=400 * 86400, httponly=True)
    return response


@app.post("/signup", status_code=201)
async def signup(request: Request) -> dict[str, str]:
    event_id = footfall.track("sign_up", {"method": "email"}, **visitor(request))
    return {"event_id": event_id}
