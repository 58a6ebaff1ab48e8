"""The admin CLI against a running server, and secrets kept out of logs and storage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, CHROME
from server import Server

pytestmark = pytest.mark.e2e


def cli(server: Server, *args: str, key: str = ADMIN_KEY, ok: bool = True) -> Any:
    env = {**os.environ, "FOOTFALL_URL": server.url, "FOOTFALL_KEY": key}
    done = subprocess.run(
        [sys.executable, "-m", "footfall", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (done.returncode == 0) is ok, (args, done.stdout, done.stderr)
    return json.loads(done.stdout)


def report(server: Server, pid: str, key: str) -> httpx.Response:
    body = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "eventCount"}],
    }
    return httpx.post(
        f"{server.url}/v1beta/properties/{pid}:runReport",
        json=body,
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_cli_manages_tenants_and_no_secret_is_kept_in_clear(tmp_path: Path) -> None:
    server = Server(tmp_path / "cli", FOOTFALL_LOG_LEVEL="debug").start()
    secrets: list[str] = []
    try:
        account = cli(server, "account", "create", "Acme")
        aid = account["account_id"]
        prop = cli(
            server,
            "property",
            "create",
            "Acme shop",
            "--account",
            aid,
            "--time-zone",
            "Europe/Paris",
            "--hostnames",
            "shop.acme.test",
            "--key-events",
            "purchase,subscribe",
        )
        pid, stream = prop["property_id"], prop["streams"][0]
        assert (prop["time_zone"], prop["allowed_hostnames"], prop["key_events"]) == (
            "Europe/Paris",
            ["shop.acme.test"],
            ["purchase", "subscribe"],
        )
        reader = cli(
            server,
            "key",
            "create",
            "dashboards",
            "--scopes",
            "read",
            "--account",
            aid,
            "--expires",
            "30d",
        )
        admin = cli(server, "key", "create", "ops", "--scopes", "admin", "--account", aid)
        secret = cli(server, "stream", "secret", stream["stream_id"], "backend")
        secrets += [reader["value"], admin["value"], secret["value"]]
        assert reader["expires_at"] and "hash" not in reader

        # the secret sends server-side events; the read key reads them
        r = httpx.post(
            f"{server.url}/v1/collect?measurement_id={stream['measurement_id']}"
            f"&api_secret={secret['value']}",
            json={
                "client_id": "c1",
                "events": [
                    {"name": "page_view", "params": {"page_location": "https://elsewhere.test/"}}
                ],
            },
            headers={"user-agent": CHROME},
        )
        assert r.status_code == 200, r.text
        server.wait_processed()
        assert report(server, pid, reader["value"]).status_code == 200
        assert report(server, pid, "ffk_" + "x" * 43).status_code == 401

        listed = cli(server, "key", "list", "--account", aid)["keys"]
        assert {k["prefix"] for k in listed} == {reader["prefix"], admin["prefix"]}
        assert all("hash" not in k and "value" not in k for k in listed)
        # the account's own admin key manages its account, and only that
        assert [
            p["property_id"]
            for p in cli(server, "property", "list", key=admin["value"])["properties"]
        ] == [pid]
        cli(server, "account", "create", "Sneaky", key=admin["value"], ok=False)

        cli(server, "key", "revoke", reader["key_id"], key=admin["value"])
        assert report(server, pid, reader["value"]).status_code == 401  # refused at once
        cli(server, "stream", "revoke-secret", secret["secret_id"])
        again = httpx.post(
            f"{server.url}/v1/collect?measurement_id={stream['measurement_id']}"
            f"&api_secret={secret['value']}",
            json={"events": [{"name": "x"}]},
        )
        assert again.status_code == 401
        usage = cli(server, "usage", pid)
        assert usage["totals"]["events_accepted"] == 1
        cli(
            server,
            "property",
            "update",
            pid,
            "--hostname-policy",
            "flag",
            "--retention-days",
            "400",
        )
        assert cli(server, "property", "show", pid)["hostname_policy"] == "flag"
        cli(server, "account", "revoke", aid)
        assert (
            report(server, pid, admin["value"]).status_code == 401
        )  # a disabled account's keys stop
    finally:
        server.stop()
    # nothing secret in the log (at debug level) or anywhere in the data directory
    stored = b"".join(
        p.read_bytes()
        for p in (tmp_path / "cli").rglob("*")
        if p.is_file() and p.name != "serve.log"
    )
    log = server.log.read_text()
    for value in secrets:
        assert value not in log
        assert value.encode() not in stored
    assert ADMIN_KEY.encode() not in stored  # the operator key too: only its hash is kept


def test_operator_key_recovery_offline(tmp_path: Path) -> None:
    data = tmp_path / "recover"
    server = Server(data).start()
    server.stop()
    done = subprocess.run(
        [sys.executable, "-m", "footfall", "operator-key", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    new_key = done.stdout.strip().rsplit(" ", 1)[-1]
    assert new_key.startswith("ffk_")
    restarted = Server(data).start()
    try:
        r = httpx.get(
            f"{restarted.url}/v1/admin/accounts", headers={"authorization": f"Bearer {new_key}"}
        )
        assert r.status_code == 200 and r.json()["accounts"][0]["name"] == "Demo"
        # while the server runs, the store is locked: the command says so instead of corrupting it
        busy = subprocess.run(
            [sys.executable, "-m", "footfall", "operator-key", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert busy.returncode == 1 and "stop footfall serve" in busy.stderr
    finally:
        restarted.stop()
