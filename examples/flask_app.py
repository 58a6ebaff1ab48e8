"""Flask: a page view per HTML response, and a sign-up event from a view.

    FOOTFALL_URL=http://127.0.0.1:8000 FOOTFALL_MEASUREMENT_ID=G-... FOOTFALL_API_SECRET=ffs_... \
        flask --app examples/flask_app.py run
"""

from __future__ import annotations

import os
import uuid

from flask import Flask, Response, request

from footfall.client import Client

COOKIE = "footfall_cid"  # the app's own visitor id (tracker.js keeps its own in localStorage)

# Made at import, but it starts nothing until the first event (so it is fork-safe under
# gunicorn --preload); it flushes at interpreter exit, which gunicorn's workers reach.
footfall = Client(
    os.environ["FOOTFALL_URL"],
    os.environ["FOOTFALL_MEASUREMENT_ID"],
    api_secret=os.environ["FOOTFALL_API_SECRET"],
)

app = Flask(__name__)


def visitor() -> dict[str, str | None]:
    """Who the event is about: without the visitor's user agent the event would carry the
    SDK's own, so browser, OS and device would be unknown (and `python-requests` or `curl`
    would be dropped as a bot). Behind a proxy, use werkzeug's ProxyFix for remote_addr."""
    return {
        "client_id": request.cookies.get(COOKIE) or request.environ.get("footfall.cid"),
        "user_agent": request.headers.get("User-Agent") or None,
        "ip_override": request.remote_addr,
    }


@app.before_request
def give_a_client_id() -> None:
    if COOKIE not in request.cookies:
        request.environ["footfall.cid"] = uuid.uuid4().hex


@app.after_request
def track_page_view(response: Response) -> Response:
    if request.method == "GET" and response.mimetype == "text/html" and response.status_code < 400:
        page = {"page_location": request.url}
        if request.referrer:
            page["page_referrer"] = request.referrer
        footfall.track("page_view", page, **visitor())
    new_id = request.environ.get("footfall.cid")
    if new_id:
        response.set_cookie(COOKIE, new_id, max_age=400 * 86400, samesite="Lax", httponly=True)
    return response


@app.get("/")
def home() -> str:
    return "<h1>Shop</h1>"


@app.post("/signup")
def signup() -> tuple[str, int]:
    footfall.track("sign_up", {"method": "email"}, **visitor())
    return "welcome", 201
