"""Readiness probes for deploy/cluster.sh, run with the build venv's python.

    probe.py cassandra HOST:PORT      prints release_version from system.local
    probe.py kafka HOST:PORT          prints the brokers of a metadata response
    probe.py spark-master URL         prints the master's status (ALIVE) from its JSON
    probe.py spark-worker URL PORT    prints the worker registered on PORT, if ALIVE

Exit 0 when ready, 1 when not (the reason on stderr). Each probe gives up after a few seconds:
the caller loops.
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.request


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def cassandra(address: str) -> str:
    from cassandra.cluster import Cluster  # type: ignore[import-untyped]

    host, port = _host_port(address)
    cluster = Cluster([host], port=port, connect_timeout=5, control_connection_timeout=5)
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local", timeout=10).one()
        return str(row.release_version)
    finally:
        cluster.shutdown()


def kafka(address: str) -> str:
    from confluent_kafka.admin import AdminClient  # type: ignore[import-untyped]

    admin = AdminClient({"bootstrap.servers": address, "socket.timeout.ms": 5000})
    metadata = admin.list_topics(timeout=5)
    if not metadata.brokers or metadata.controller_id < 0:
        raise RuntimeError("no broker or no controller in the metadata yet")
    brokers = ",".join(f"{b.id}@{b.host}:{b.port}" for b in metadata.brokers.values())
    return f"brokers={brokers} controller={metadata.controller_id} cluster_id={metadata.cluster_id}"


def _master_json(url: str) -> dict:
    with urllib.request.urlopen(url.rstrip("/") + "/json/", timeout=5) as response:  # noqa: S310
        return json.load(response)


def spark_master(url: str) -> str:
    status = _master_json(url).get("status")
    if status != "ALIVE":
        raise RuntimeError(f"master status {status}")
    return str(status)


def spark_worker(url: str, port: str) -> str:
    for worker in _master_json(url).get("workers", []):
        if worker.get("port") == int(port) and worker.get("state") == "ALIVE":
            return f"{worker['id']} cores={worker['cores']} memory={worker['memory']}MB"
    raise RuntimeError(f"no ALIVE worker on port {port} registered yet")


PROBES = {
    "cassandra": cassandra,
    "kafka": kafka,
    "spark-master": spark_master,
    "spark-worker": spark_worker,
}


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.CRITICAL)  # the drivers log every refused connection
    if len(argv) < 2 or argv[0] not in PROBES:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(PROBES[argv[0]](*argv[1:]))
    except Exception as exc:
        print(f"{argv[0]} not ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
