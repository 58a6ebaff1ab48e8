"""The tracker in Debian's headless Chromium against a real ``footfall serve``.

A small test site (``tracker/test/browser/site/``: a single-page app with pushState routes, a
custom-event button, an outbound link, a download, a long page) is served from another loopback
port with the script tag pointing at the server's ``/footfall.js``. ``tracker/test/browser/
drive.mjs`` (playwright-core, Debian's chromium, no downloaded browser) plays one scenario per
test; each test then asserts the exact counts in ``runReport``.

The browser's clock is the machine's, so these tests are left out of ``.ci/shifted-clock``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import Server
from test_tracker import TRACKER, node

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
SITE = TRACKER / "test" / "browser" / "site"
CHROMIUM = os.environ.get("FOOTFALL_CHROMIUM", "/usr/bin/chromium")


class Site:
    """The test site on its own loopback port: every path without a dot is the app's page."""

    def __init__(self, footfall: str, mid: str, *, build: str, attrs: str) -> None:
        values = {"FOOTFALL": footfall, "MID": mid, "BUILD": build, "ATTRS": attrs}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/files/report.pdf":
                    body, kind = b"%PDF-1.4\n%%EOF\n", "application/pdf"
                elif path == "/away.html":
                    body, kind = (SITE / "away.html").read_bytes(), "text/html"
                elif "." not in path:
                    text = (SITE / "index.html").read_text()
                    for key, value in {**values, "OUTBOUND": site.outbound}.items():
                        text = text.replace("{{" + key + "}}", value)
                    body, kind = text.encode(), "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self.outbound = f"http://localhost:{port}"  # another host name: an outbound link
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    node()
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
            pytest.fail(f"REQUIRE_BROWSER_TESTS=1 but {reason}")
        pytest.skip(reason)
    srv = Server(tmp_path_factory.mktemp("tracker-e2e")).start()
    yield srv
    srv.stop()


class Run:
    """One scenario on a property of its own: what the pages sent, and its reports."""

    def __init__(self, server: Server, scenario: str, *, build: str, attrs: str) -> None:
        self.server = server
        account = httpx.get(
            f"{server.url}/v1/admin/properties", headers=server.auth, timeout=10
        ).json()["properties"][0]["account_id"]
        made = httpx.post(
            f"{server.url}/v1/admin/properties",
            json={"name": f"tracker {scenario}", "account_id": account},
            headers=server.auth,
            timeout=10,
        )
        assert made.status_code == 201, made.text
        self.property_id = made.json()["property_id"]
        mid = made.json()["streams"][0]["measurement_id"]
        site = Site(server.url, mid, build=build, attrs=attrs)
        try:
            done = subprocess.run(
                [
                    node(),
                    "test/browser/drive.mjs",
                    json.dumps({"scenario": scenario, "site": site.url}),
                ],
                cwd=TRACKER,
                check=False,
                capture_output=True,
                text=True,
                timeout=180,
                env={**os.environ, "FOOTFALL_CHROMIUM": CHROMIUM},
            )
        finally:
            site.close()
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        self.out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])

    def sent(self) -> list[str]:
        return [name for request in self.out["sent"] for name in request["events"]]

    def report(self, dimension: str | None, metric: str) -> dict[str, int]:
        body: dict[str, Any] = {
            "dateRanges": [{"startDate": "yesterday", "endDate": "today"}],
            "metrics": [{"name": metric}],
        }
        if dimension:
            body["dimensions"] = [{"name": dimension}]
        r = httpx.post(
            f"{self.server.url}/v1beta/properties/{self.property_id}:runReport",
            json=body,
            headers=self.server.auth,
            timeout=60,
        )
        assert r.status_code == 200, r.text
        rows = r.json().get("rows", [])
        return {
            (row["dimensionValues"][0]["value"] if dimension else ""): int(
                row["metricValues"][0]["value"]
            )
            for row in rows
        }

    def events(self, expected_total: int) -> dict[str, int]:
        """eventCount by eventName once the server has processed what was sent."""
        deadline = time.monotonic() + 30
        counts = self.report("eventName", "eventCount")
        while sum(counts.values()) < expected_total and time.monotonic() < deadline:
            time.sleep(0.3)
            counts = self.report("eventName", "eventCount")
        self.server.wait_processed()
        return self.report("eventName", "eventCount")


def test_single_page_app(server: Server) -> None:
    run = Run(server, "spa", build="footfall.enhanced.js", attrs="data-allow-localhost")
    expected = {"page_view": 4, "user_engagement": 4, "sign_up": 1, "scroll": 1}
    assert run.events(10) == expected
    assert run.report("pagePath", "screenPageViews") == {"/": 1, "/pricing": 2, "/about": 1}
    assert run.report(None, "totalUsers") == {"": 1}
    assert run.report(None, "sessions") == {"": 1}
    assert run.report("customEvent:method", "eventCount")["email"] == 1
    assert run.out["failed"] == []


def test_outbound_links_and_downloads(server: Server) -> None:
    run = Run(server, "links", build="footfall.enhanced.js", attrs="data-allow-localhost")
    assert run.events(4) == {"page_view": 1, "file_download": 1, "click": 1, "user_engagement": 1}
    assert run.report("customEvent:link_domain", "eventCount") == {"(not set)": 3, "localhost": 1}
    assert run.report("customEvent:file_extension", "eventCount")["pdf"] == 1


def test_tab_closed_mid_session_sends_by_beacon(server: Server) -> None:
    run = Run(server, "closed", build="footfall.js", attrs="data-allow-localhost")
    assert run.events(3) == {"page_view": 1, "sign_up": 1, "user_engagement": 1}
    # the page's fetches carried only the page view: the rest left with the closing tab (the
    # browser reports no requests of a page it has closed)
    assert run.sent() == ["page_view"]


def test_network_cut_then_restored(server: Server) -> None:
    run = Run(server, "offline", build="footfall.js", attrs="data-allow-localhost")
    # page 1: /, /pricing and sign_up while offline (retried), then /about and the close
    # offline (kept in localStorage); page 2: / again, sending what page 1 left
    expected = {"page_view": 4, "sign_up": 1, "user_engagement": 4}
    assert run.events(9) == expected
    assert run.out["failed"], "the sends while offline failed"
    # /about's page view was made offline in the closed tab: the next page sent it
    assert run.sent().count("page_view") == 4
    assert run.report("pagePath", "screenPageViews") == {"/": 2, "/pricing": 1, "/about": 1}
    assert run.report(None, "totalUsers") == {"": 1}


def test_cookieless_stores_nothing_and_sends_no_client_id(server: Server) -> None:
    run = Run(
        server, "cookieless", build="footfall.js", attrs="data-allow-localhost data-cookieless"
    )
    assert run.events(4) == {"page_view": 2, "user_engagement": 2}
    assert run.out["stored"] == []
    assert {r["client_id"] for r in run.out["sent"]} == {None}
    assert run.report(None, "totalUsers") == {"": 1}, "the server's daily hash: one visitor"


def test_consent_denied_then_granted(server: Server) -> None:
    run = Run(
        server, "consent", build="footfall.js", attrs='data-allow-localhost data-consent="denied"'
    )
    assert run.events(3) == {"page_view": 1, "sign_up": 1, "user_engagement": 1}
    assert run.out["stored"] == []
    assert run.out["sent"][0]["client_id"] is None
    assert run.out["sent"][-1]["client_id"] is not None
    assert run.report(None, "totalUsers") == {"": 2}, "the cookieless visitor and the client id"


@pytest.mark.parametrize(
    "attrs", ["", "data-allow-localhost data-respect-dnt"], ids=["localhost", "gpc"]
)
def test_pages_that_send_nothing(server: Server, attrs: str) -> None:
    run = Run(server, "silent", build="footfall.js", attrs=attrs)
    assert run.out["sent"] == [] and run.out["failed"] == []
    server.wait_processed()
    assert run.report("eventName", "eventCount") == {}
