"""The dashboard page, checked without a browser: catalog names, no external resources, no HTML
injection, and both files served by the app (and every report the page sends is accepted)."""

from __future__ import annotations

import asyncio
import re
from importlib import resources
from pathlib import Path

import httpx

from conftest import CLOCK
from footfall.report.catalog import DIMENSIONS, METRICS
from footfall.serve import Runtime, create_app
from footfall.settings import load_settings

ASSETS = resources.files("footfall.api").joinpath("dashboard")
HTML = ASSETS.joinpath("index.html").read_text()
JS = ASSETS.joinpath("dashboard.js").read_text()

# `key: "name"` or `key: ["a", "b"]` where the key names dimensions or metrics (dimension,
# chartMetrics, metricName, fieldName, ...); dashboard.js keeps every catalog name in such places.
NAMED = re.compile(
    r"\b(?P<key>\w*[dD]imensions?|\w*[mM]etrics?|dimensionName|metricName|fieldName|name)\s*:\s*"
    r"(?P<value>\[[^\]]*\]|\"[^\"]*\"|'[^']*')"
)
QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")
# The OVERVIEW constant and each TABLES entry: { ..., dimension: "x", metrics: ["a", "b"] }
TABLE_ENTRY = re.compile(r"dimension:\s*\"(\w+)\",\s*metrics:\s*\[([^\]]*)\]")


def quoted(text: str) -> list[str]:
    return [a or b for a, b in QUOTED.findall(text)]


def named_in_js() -> tuple[set[str], set[str], set[str]]:
    """Quoted names that follow a dimension-ish key, a metric-ish key, or a plain ``name:``."""
    dims: set[str] = set()
    metrics: set[str] = set()
    either: set[str] = set()
    for m in NAMED.finditer(JS):
        key, names = m["key"].lower(), quoted(m["value"])
        if "dimension" in key or key == "fieldname":
            dims.update(names)
        elif "metric" in key:
            metrics.update(names)
        else:
            either.update(names)
    return dims, metrics, either


def test_every_name_in_the_js_is_in_the_catalog() -> None:
    dims, metrics, either = named_in_js()
    assert dims - DIMENSIONS.keys() == set()
    assert metrics - METRICS.keys() == set()
    assert either - DIMENSIONS.keys() - METRICS.keys() == set()
    # the extraction found what the page is specified to show, so the checks above are not vacuous
    assert {
        "date",
        "pagePath",
        "landingPage",
        "sessionDefaultChannelGroup",
        "sessionSource",
        "country",
        "deviceCategory",
        "browser",
        "eventName",
    } <= dims
    assert {
        "activeUsers",
        "sessions",
        "screenPageViews",
        "bounceRate",
        "averageSessionDuration",
        "engagementRate",
        "eventCount",
    } <= metrics


def test_metric_labels_name_catalog_metrics() -> None:
    block = re.search(r"const LABELS = \{(.*?)\};", JS, re.DOTALL)
    assert block is not None
    keys = re.findall(r"(\w+)\s*:", block[1])
    assert keys
    assert set(keys) - METRICS.keys() == set()


def test_html_loads_the_script_and_nothing_external() -> None:
    assert re.search(r"<script\s+src=\"/dashboard\.js\"", HTML)
    assert not re.search(r"https?://", HTML, re.IGNORECASE)
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?//", HTML, re.IGNORECASE)  # protocol-relative
    assert "@import" not in HTML
    # no inline script: every <script> tag loads a file
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", HTML))
    # the only absolute URL the script holds is the SVG namespace, which is never fetched
    assert set(re.findall(r"https?://[^\s\"'`]*", JS)) <= {"http://www.w3.org/2000/svg"}
    assert not re.search(r"\bimport\s*\(|\bimportScripts\b|\bWebSocket\b", JS)


def test_js_never_writes_html() -> None:
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "createContextualFragment",
        "DOMParser",
    ):
        assert sink not in JS, sink


def test_app_serves_the_page_and_runs_its_reports(tmp_path: Path) -> None:
    runtime = Runtime(
        load_settings(
            {"data_dir": str(tmp_path), "store": "memory://", "queue": "memory://dash"}, environ={}
        ),
        clock=CLOCK,
    )
    token = runtime.first_start.operator_key if runtime.first_start else None
    assert token is not None
    reports = [(dim, quoted(ms)) for dim, ms in TABLE_ENTRY.findall(JS)]
    assert len(reports) == 9  # the overview (KPIs and chart) and eight top-10 tables
    assert reports[0][0] == "date"

    def body(dim: str, metrics: list[str]) -> dict[str, object]:
        """What dashboard.js sends, with two filter chips set."""
        extra: dict[str, object] = (
            {"metricAggregations": ["TOTAL"], "orderBys": [{"dimension": {"dimensionName": dim}}]}
            if dim == "date"
            else {
                "orderBys": [
                    {"metric": {"metricName": metrics[0]}, "desc": True},
                    {"dimension": {"dimensionName": dim}},
                ],
                "limit": 10,
            }
        )
        chips = [
            {
                "filter": {
                    "fieldName": name,
                    "stringFilter": {"matchType": "EXACT", "value": "x", "caseSensitive": True},
                }
            }
            for name in ("country", "browser")
        ]
        return {
            "dateRanges": [{"startDate": "27daysAgo", "endDate": "today"}],
            "dimensions": [{"name": dim}],
            "metrics": [{"name": m} for m in metrics],
            "dimensionFilter": {"andGroup": {"expressions": chips}},
            **extra,
        }

    async def run() -> None:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            page = await client.get("/")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert page.text == HTML
            script = await client.get("/dashboard.js")
            assert script.status_code == 200
            assert script.headers["content-type"].startswith("text/javascript")
            assert script.text == JS

            auth = {"authorization": f"Bearer {token}"}
            listed = await client.get("/v1/admin/properties", headers=auth)
            assert listed.status_code == 200
            prop = listed.json()["properties"][0]
            assert {"property_id", "name", "time_zone"} <= prop.keys()
            url = f"/v1beta/properties/{prop['property_id']}:runReport"
            for dim, metrics in reports:
                r = await client.post(url, headers=auth, json=body(dim, metrics))
                assert r.status_code == 200, (dim, r.text)
                assert [h["name"] for h in r.json()["metricHeaders"]] == metrics
            denied = await client.post(url, headers={"authorization": "Bearer wrong"}, json={})
            assert denied.status_code == 401
            assert denied.json()["error"]["message"]

    try:
        asyncio.run(run())
    finally:
        runtime.stop()
