"""The web tracker's builds: served at ``/footfall.js`` (caching, ETag, gzip), within their size
budgets, rebuilt byte for byte from ``tracker/src``, their integrity hashes in the docs, and the
tracker's own unit tests (Node's test runner, run from here so ``make test`` runs them)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import httpx
import pytest

from conftest import App

ROOT = Path(__file__).resolve().parent.parent
TRACKER = ROOT / "tracker"
BUILDS = json.loads((TRACKER / "builds.json").read_text())["builds"]
DIST = resources.files("footfall.api").joinpath("dist")


def built(name: str) -> bytes:
    return DIST.joinpath(name).read_bytes()


def node() -> str:
    """Node with the tracker's node_modules (``npm ci`` in tracker/), else skip, except where
    REQUIRE_BROWSER_TESTS=1 (CI) makes a missing tool a failure."""
    found = shutil.which("node")
    missing = (
        "node is not installed"
        if found is None
        else "tracker/node_modules is missing (run: npm ci --prefix tracker)"
        if not (TRACKER / "node_modules" / "terser").is_dir()
        else ""
    )
    if missing:
        if os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
            pytest.fail(f"REQUIRE_BROWSER_TESTS=1 but {missing}")
        pytest.skip(missing)
    assert found is not None
    return found


def sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


@pytest.mark.parametrize("name", [b["file"] for b in BUILDS])
def test_served_with_long_caching_and_a_strong_etag(app: App, name: str) -> None:
    r = app.http.get(f"/{name}", headers={"accept-encoding": "identity"})
    assert r.status_code == 200
    assert r.content == built(name)
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=604800"
    assert "content-encoding" not in r.headers
    etag = r.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), "a strong tag"
    assert etag[1:-1] == hashlib.sha256(built(name)).hexdigest()[:32]
    assert "access-control-allow-origin" not in r.headers, "a script tag needs no CORS"

    again = app.http.get(f"/{name}", headers={"if-none-match": etag, "accept-encoding": "identity"})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=604800"
    stale = app.http.get(f"/{name}", headers={"if-none-match": '"0000"'})
    assert stale.status_code == 200

    zipped = app.http.get(f"/{name}", headers={"accept-encoding": "gzip, br"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == built(name)  # decoded by the client
    assert zipped.headers["etag"] != etag, "another representation, another strong tag"
    assert int(zipped.headers["content-length"]) < len(built(name)) // 1.5
    assert (
        app.http.get(f"/{name}", headers={"if-none-match": zipped.headers["etag"]}).status_code
        == 304
    )
    refused = app.http.get(f"/{name}", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_head_and_unknown_builds(app: App) -> None:
    head = app.http.request("HEAD", "/footfall.js")
    assert head.status_code == 200
    assert head.content == b""
    assert app.http.get("/footfall.nope.js").status_code == 404


@pytest.mark.parametrize("build", BUILDS, ids=lambda b: b["file"])
def test_size_budget(build: dict[str, object]) -> None:
    """Each build, gzipped at level 9, within its budget (the default build: 2 KB)."""
    size = len(gzip.compress(built(str(build["file"])), compresslevel=9, mtime=0))
    assert size <= int(str(build["budget"])), f"{build['file']} is {size} bytes gzipped"
    assert BUILDS[0]["file"] == "footfall.js"
    assert BUILDS[0]["budget"] == 2048


def test_docs_give_the_served_builds_integrity_hashes(app: App) -> None:
    docs = (ROOT / "docs" / "tracker.md").read_text()
    for build in BUILDS:
        name = build["file"]
        served = app.http.get(f"/{name}").content
        row = re.search(rf"^\| `/{re.escape(name)}` \|.*$", docs, re.MULTILINE)
        assert row, f"docs/tracker.md has no row for /{name}"
        assert f"`{sri(served)}`" in row.group(0), f"docs/tracker.md: stale integrity of {name}"
        size = len(gzip.compress(served, compresslevel=9, mtime=0))
        assert f"{size} B" in row.group(0), f"docs/tracker.md: stale size of {name} ({size} B)"


def in_tracker(*args: str) -> subprocess.CompletedProcess[str]:
    """``node ARGS`` in tracker/."""
    return subprocess.run(
        [node(), *args], cwd=TRACKER, check=False, capture_output=True, text=True, timeout=300
    )


def test_rebuilding_gives_the_committed_builds_byte_for_byte() -> None:
    r = in_tracker("build.mjs", "--check")
    assert r.returncode == 0, r.stdout + r.stderr


def test_tracker_unit_tests() -> None:
    r = in_tracker("--test", "test/unit/")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert re.search(r"^# fail 0$", r.stdout, re.MULTILINE), r.stdout[-2000:]
    assert not re.search(r"^# pass 0$", r.stdout, re.MULTILINE)


@pytest.mark.e2e
def test_the_banner_prints_a_script_tag_that_loads(tmp_path: Path) -> None:
    from server import Server

    server = Server(tmp_path / "banner").start()
    try:
        tags = re.findall(
            r'<script defer src="([^"]+)" data-measurement-id="([^"]+)"', server.log.read_text()
        )
        assert tags == [(f"http://127.0.0.1:{server.port}/footfall.js", server.measurement_id)]
        r = httpx.get(tags[0][0], timeout=10)
        assert r.status_code == 200
        assert r.content == built("footfall.js")
    finally:
        server.stop()


def test_readme_quick_start_shows_the_script_tag() -> None:
    readme = (ROOT / "README.md").read_text()
    assert re.search(
        r'<script defer src="http://127\.0\.0\.1:8000/footfall\.js" data-measurement-id="G-X+" '
        r"data-allow-localhost></script>",
        readme,
    )
