"""Django: a middleware that tracks a page view per HTML response, and ``track`` for views.

In settings.py::

    FOOTFALL = {"URL": "http://127.0.0.1:8000", "MEASUREMENT_ID": "G-...", "API_SECRET": "ffs_..."}
    MIDDLEWARE = [..., "yourapp.django_footfall.FootfallMiddleware"]

In a view::

    from yourapp.django_footfall import track
    track(request, "sign_up", {"method": "email"})
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from footfall.client import Client

COOKIE = "footfall_cid"  # the app's own visitor id (tracker.js keeps its own in localStorage)


@functools.cache
def client() -> Client:
    """One client per process, made on first use. It starts its threads with the first event
    (so each forked worker of gunicorn or uWSGI gets its own) and flushes at interpreter exit."""
    conf = settings.FOOTFALL
    return Client(conf["URL"], conf["MEASUREMENT_ID"], api_secret=conf["API_SECRET"])


def track(
    request: HttpRequest, name: str, params: Mapping[str, str | int | float | bool] | None = None
) -> str:
    """Track an event on behalf of the visitor of ``request``; returns its ``event_id``.

    The visitor's user agent and address go with it: without them the event would carry the
    SDK's own user agent (no browser, OS or device) and the server's address (its country).
    Behind a proxy, REMOTE_ADDR is the proxy's: set it from X-Forwarded-For in a middleware you
    trust first."""
    return client().track(
        name,
        params,
        client_id=request.COOKIES.get(COOKIE) or getattr(request, "footfall_cid", None),
        user_id=str(request.user.pk)
        if getattr(request, "user", None) and request.user.is_authenticated
        else None,
        user_agent=request.META.get("HTTP_USER_AGENT") or None,
        ip_override=request.META.get("REMOTE_ADDR") or None,
    )


class FootfallMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if COOKIE not in request.COOKIES:
            request.footfall_cid = uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        html = response.get("Content-Type", "").startswith("text/html")
        if request.method == "GET" and html and response.status_code < 400:
            page = {"page_location": request.build_absolute_uri()}
            if request.META.get("HTTP_REFERER"):
                page["page_referrer"] = request.META["HTTP_REFERER"]
            track(request, "page_view", page)
        new_id = getattr(request, "footfall_cid", None)
        if new_id:
            response.set_cookie(COOKIE, new_id, max_age=400 * 86400, samesite="Lax", httponly=True)
        return response
