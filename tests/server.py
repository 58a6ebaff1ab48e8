"""``footfall serve`` as a real process on a loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from conftest import ADMIN_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``footfall serve`` (or one role: ``command="collect"``, ``"process"``, ``"api"``)."""

    def __init__(
        self, data_dir: Path, *, time_zone: str = "UTC", command: str = "serve", **env: str
    ) -> None:
        self.data_dir = data_dir
        self.command = command
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "FOOTFALL_ADMIN_KEY": ADMIN_KEY,
            "FOOTFALL_RATE_LIMIT_PER_KEY": "0",
            "FOOTFALL_RATE_LIMIT_PER_PROPERTY": "0",
            "FOOTFALL_DEFAULT_TIME_ZONE": time_zone,
            "FOOTFALL_LOG_LEVEL": "warning",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "serve.log"
        self.property_id = ""
        self.measurement_id = ""

    def start(self, timeout: float = 60, *, ready: bool = True) -> Server:
        """Start and wait until ``/readyz`` answers 200 (``ready=False``: until ``/healthz``
        does, for a server that is expected to start not ready)."""
        probe = "/readyz" if ready else "/healthz"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "footfall",
                    self.command,
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"footfall serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}{probe}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"footfall serve not ready: {self.log.read_text()[-2000:]}")
        if self.command in ("serve", "api"):
            props = httpx.get(
                f"{self.url}/v1/admin/properties", headers=self.auth, timeout=10
            ).json()
            self.property_id = props["properties"][0]["property_id"]
            self.measurement_id = props["properties"][0]["streams"][0]["measurement_id"]
        return self

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {ADMIN_KEY}"}

    def readiness(self) -> dict[str, Any]:
        # the checks are the operator's detail: public readiness says only ready or why not
        body: dict[str, Any] = httpx.get(f"{self.url}/readyz", headers=self.auth, timeout=10).json()
        return body

    def wait_processed(self, timeout: float = 120) -> None:
        """Until every queued event is committed by the processor (so it is in the store)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.readiness()["checks"]["queue"].get("pending") == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"queue not drained: {self.readiness()}")

    def report(self, body: dict[str, Any]) -> dict[str, Any]:
        r = httpx.post(
            f"{self.url}/v1beta/properties/{self.property_id}:runReport",
            json=body,
            headers=self.auth,
            timeout=300,  # on the cluster, the first Spark SQL report starts a Spark driver
        )
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
