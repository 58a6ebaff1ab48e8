"""Helpers for the cluster tier: footfall's roles as separate processes on the engines that
``deploy/cluster.sh up`` starts (Kafka on 9092, Cassandra on 9042). Each test module gets its
own keyspace and topic."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ADMIN_KEY
from server import Server

KAFKA = "127.0.0.1:9092"
CASSANDRA = "127.0.0.1:9042"
SPARK = "127.0.0.1:7077"
JARS = Path(__file__).resolve().parents[2] / "build" / "cluster" / "spark" / "jars"


def _reachable(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, int(port))) == 0


class Cluster:
    def __init__(self, tmp: Path, name: str) -> None:
        self.tmp = tmp
        self.env = {
            "FOOTFALL_QUEUE": f"kafka://{KAFKA}/footfall.{name}",
            "FOOTFALL_STORE": f"cassandra://{CASSANDRA}/{name}",
            "FOOTFALL_CASSANDRA_REPLICATION": "NetworkTopologyStrategy:datacenter1=1",
            "FOOTFALL_CASSANDRA_SHARDS": "4",
            "FOOTFALL_KAFKA_PARTITIONS": "4",
            "FOOTFALL_KAFKA_REPLICATION_FACTOR": "1",
            "FOOTFALL_KAFKA_MIN_INSYNC_REPLICAS": "1",
            "FOOTFALL_ADMIN_KEY": ADMIN_KEY,
            "FOOTFALL_FLUSH_INTERVAL": "0.5",
            "FOOTFALL_SPARK_MASTER": f"spark://{SPARK}",
            "FOOTFALL_SPARK_JARS": ",".join(str(j) for j in sorted(JARS.glob("*.jar"))),
            "FOOTFALL_SPARK_PARTITIONS": "2",
            "FOOTFALL_SPARK_CORES": "1",
            "FOOTFALL_SPARK_EXECUTOR_MEMORY": "512m",
            "FOOTFALL_ROLLUP_INTERVAL": "3",
        }
        self.servers: list[Server] = []

    def migrate(self, time_zone: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "footfall", "migrate", "--data-dir", str(self.tmp)],
            env={**os.environ, **self.env, "FOOTFALL_DEFAULT_TIME_ZONE": time_zone},
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return done.stdout

    def run(self, *args: str, timeout: float = 600) -> str:
        """A one-off footfall command with the cluster settings (e.g. ``rollup --once``)."""
        done = subprocess.run(
            [sys.executable, "-m", "footfall", *args, "--data-dir", str(self.tmp)],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def start(self, role: str, time_zone: str = "UTC") -> Server:
        server = Server(
            self.tmp / f"{role}-{len(self.servers)}", command=role, time_zone=time_zone, **self.env
        )
        self.servers.append(server.start(timeout=120))
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for address in (KAFKA, CASSANDRA, SPARK):
        if not _reachable(address):
            pytest.fail(
                f"the cluster tier needs the engines: nothing listens on {address}; "
                "run bash deploy/cluster.sh up"
            )
    c = Cluster(tmp_path_factory.mktemp("cluster"), "t" + uuid.uuid4().hex[:10])
    yield c
    c.stop()
