"""The ``footfall`` command: one subcommand per role, plus ``serve`` (all roles in one process)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from footfall import __version__
from footfall.settings import Settings, SettingsError, client_settings, load_settings


def _server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML settings file (or FOOTFALL_CONFIG)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8000)")
    p.add_argument(
        "--data-dir", dest="data_dir", help="where embedded data lives (default ./footfall-data)"
    )
    p.add_argument("--queue", help="queue URL, e.g. local:///var/lib/footfall/queue.sqlite3")
    p.add_argument("--store", help="store URL, e.g. duckdb:///var/lib/footfall/footfall.duckdb")
    p.add_argument(
        "--flush-interval",
        dest="flush_interval",
        type=float,
        help="seconds an accepted event may wait before processing (default 0.5)",
    )
    p.add_argument("--log-level", dest="log_level", help="debug, info, warning or error")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="footfall", description="Self-hostable web and app analytics."
    )
    parser.add_argument("--version", action="version", version=f"footfall {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run collector, queue, processor, store, API and dashboard in one process"
    )
    _server_flags(serve)
    sim = sub.add_parser(
        "simulate", help="send realistic synthetic traffic and write the expected reports"
    )
    for role, text in ROLE_HELP.items():
        role_parser = sub.add_parser(role, help=text)
        _server_flags(role_parser)
        if role == "rollup":
            role_parser.add_argument(
                "--once",
                action="store_true",
                help="run the rollup job once over the hours that changed, print what it did, exit",
            )
            role_parser.add_argument(
                "--all",
                dest="everything",
                action="store_true",
                help="with --once: rebuild every hour, not only those that changed",
            )
    migrate = sub.add_parser(
        "migrate", help="apply the store's schema migrations; create the first operator key"
    )
    _server_flags(migrate)
    from footfall.admin_cli import add_arguments as add_admin
    from footfall.simulate.cli import add_arguments as add_simulate

    add_simulate(sim)
    add_admin(sub)
    offline = sub.add_parser(
        "operator-key", help="with the server stopped: mint a new operator key (shown once)"
    )
    _server_flags(offline)
    offline.add_argument("--name", default="operator (recovered)")
    offline.add_argument(
        "--revoke-others",
        dest="revoke_others",
        action="store_true",
        help="revoke every other operator key (one may have been lost)",
    )
    return parser


ROLE_HELP = {
    "collect": "run the collector role (ingestion to the queue)",
    "process": "run the processor role (queue to store)",
    "api": "run the report and admin API role (and the dashboard)",
    "rollup": "run the rollup scheduler: the Spark rollup job over the hours that changed (cluster)",
}


def _settings(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {
        k: getattr(args, k, None)
        for k in ("host", "port", "data_dir", "queue", "store", "flush_interval", "log_level")
    }
    return load_settings(flags, config_file=getattr(args, "config", None))


def _run(args: argparse.Namespace) -> int:
    command = args.command
    if command == "rollup" and args.once:
        return _rollup_once(_settings(args), everything=args.everything)
    if command in ("serve", *ROLE_HELP):
        return _serve(_settings(args), None if command == "serve" else frozenset({command}))
    if command == "migrate":
        return _migrate(_settings(args))
    if command == "operator-key":
        return _operator_key(_settings(args), args.name, revoke_others=args.revoke_others)
    client = client_settings(args.url, args.key)
    if command == "simulate":
        from footfall.simulate.cli import run

        return run(args, client)
    from footfall.admin_cli import run as run_admin

    return run_admin(args, client.url, client.key)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except SettingsError as exc:
        print(f"footfall: {exc}", file=sys.stderr)
        return 2


def _operator_key(settings: Settings, name: str, *, revoke_others: bool = False) -> int:
    from footfall.store import open_store
    from footfall.tenancy.service import Tenancy

    try:
        store = open_store(settings.store_url)
    except Exception as exc:  # DuckDB refuses a second process: the server is running
        print(
            f"footfall: cannot open the store ({type(exc).__name__}); stop footfall serve first",
            file=sys.stderr,
        )
        return 1
    try:
        tenancy = Tenancy(store)
        created = tenancy.create_key(None, name, ["admin"])
        revoked = [
            tenancy.revoke_key(k.key_id).key_id
            for k in tenancy.api_keys()
            if revoke_others
            and k.is_operator
            and k.revoked_at is None
            and k.key_id != created.record.record_id
        ]
    finally:
        store.close()
    for key_id in revoked:
        print(f"revoked operator key {key_id}")
    print(f"operator key {created.record.record_id} (shown once, stored hashed): {created.value}")
    return 0


def _migrate(settings: Settings) -> int:
    from urllib.parse import urlsplit

    from footfall.serve import Runtime

    if urlsplit(settings.store_url).scheme == "cassandra":
        from footfall.store.cassandra import CassandraStore
        from footfall.store.cassandra.migrate import migrate

        bare = CassandraStore(
            settings.store_url, consistency=settings.cassandra_consistency, check_schema=False
        )
        try:
            applied = migrate(bare.session, bare.keyspace, settings.cassandra_replication)
        finally:
            bare.close()
        print(f"schema migrations applied: {applied or 'none (up to date)'}")
    if urlsplit(settings.queue_url).scheme == "kafka":
        from footfall.queue import kafka_target
        from footfall.queue.kafka import dead_letter_topic, ensure_topic

        brokers, topic = kafka_target(settings.queue_url)
        for name in (topic, dead_letter_topic(topic)):
            created = ensure_topic(
                brokers,
                name,
                partitions=settings.kafka_partitions,
                replication=settings.kafka_replication_factor,
                min_insync=settings.kafka_min_insync_replicas,
            )
            print(f"Kafka topic {name}: {'created' if created else 'exists'}")
    runtime = Runtime(settings, frozenset())  # first start: demo tenant and operator key, once
    try:
        _banner(runtime, serving=False)
    finally:
        runtime.stop()
    return 0


def _rollup_once(settings: Settings, *, everything: bool = False) -> int:
    import msgspec

    from footfall.rollup.scheduler import RollupScheduler
    from footfall.store import open_store
    from footfall.store.cassandra import CassandraStore

    logging.basicConfig(level=settings.log_level.upper())
    store = open_store(settings.store_url, settings)
    try:
        if not isinstance(store, CassandraStore):
            print(
                "footfall: rollups are built on the cluster store (cassandra://)", file=sys.stderr
            )
            return 2
        scheduler = RollupScheduler(settings, store)
        try:
            run = scheduler.run_once(everything=everything)
        finally:
            scheduler.stop()
        if run is None:
            print(f"footfall: rollup failed: {scheduler.last_error}", file=sys.stderr)
            return 1
        print(msgspec.json.encode(run).decode())
        return 0
    finally:
        store.close()


def _disk_full_at_start(settings: Settings, exc: Exception) -> str | None:
    """What to tell the operator when the queue or store cannot be opened for want of space
    (SQLite says only "disk I/O error" when it cannot create its shared-memory file)."""
    from footfall.store.disk import DiskSpace, is_disk_full, local_dirs

    disk = DiskSpace(local_dirs(settings.queue_url, settings.store_url), 0)
    free = disk.free_bytes()
    if free is None or (free >= 1_048_576 and not is_disk_full(exc)):
        return None
    return (
        f"cannot open the queue and store: their disk has {free} bytes free "
        f"({type(exc).__name__}: {exc}); free some space and start again"
    )


def _serve(settings: Settings, roles: frozenset[str] | None = None) -> int:
    import uvicorn

    from footfall.gateway.timeouts import Timeouts, protocol_class
    from footfall.serve import ROLES, Runtime, create_app

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        runtime = Runtime(settings, roles or ROLES, first_start=roles is None)
    except Exception as exc:
        if (message := _disk_full_at_start(settings, exc)) is None:
            raise
        print(f"footfall: {message}", file=sys.stderr)
        return 1
    _banner(runtime)
    config = uvicorn.Config(
        create_app(runtime),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        # a slow or idle client is cut off: the request head and the body (our timers), idle
        # keep-alive (uvicorn's)
        http=protocol_class(Timeouts(header=settings.header_timeout, body=settings.body_timeout)),
        timeout_keep_alive=settings.keep_alive_timeout,
    )
    uvicorn.Server(config).run()
    return 0


def _banner(runtime: Any, *, serving: bool = True) -> None:
    s = runtime.settings
    base = f"http://{s.host}:{s.port}"
    roles = ", ".join(sorted(runtime.roles)) if serving else "none (migrate)"
    lines = [
        f"footfall {__version__} {'serving ' + base + '/' if serving else 'ready'}  (roles: {roles}; "
        f"queue {s.queue_url}; store {s.store_url})"
    ]
    first = runtime.first_start
    if first is None:
        lines.append(
            "  keys: the operator key printed at first start (lost it? footfall operator-key)"
        )
        print("\n".join(lines), flush=True)
        return
    prop, stream = first.property, first.stream
    lines += [
        f"  first start: account {first.account.account_id} {first.account.name!r}, property "
        f"{prop.property_id} {prop.name!r} ({prop.time_zone}), stream {stream.stream_id}",
        f"  measurement id (public, for browsers): {stream.measurement_id}",
        f"  stream API secret (server-side sending; shown once): {first.stream_secret}",
        f"  operator key (admin of this server; shown once, stored hashed): {first.operator_key}",
        f"  dashboard: {base}/  (paste the operator key)",
        "  web tracker (paste into a page's <head>; data-allow-localhost for a page on this machine):",
        f'    <script defer src="{base}/footfall.js" data-measurement-id="{stream.measurement_id}" '
        "data-allow-localhost></script>",
        "  try:",
        f"    curl -s '{base}/v1/collect?measurement_id={stream.measurement_id}' "
        "-A 'Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0' -H 'content-type: application/json' "
        '-d \'{"client_id":"1.1","events":[{"name":"page_view",'
        '"params":{"page_location":"https://example.com/"}}]}\'',
        f"    curl -s '{base}/v1beta/properties/{prop.property_id}:runReport' "
        f"-H 'authorization: Bearer {first.operator_key}' "
        '-d \'{"dateRanges":[{"startDate":"today","endDate":"today"}],'
        '"metrics":[{"name":"screenPageViews"}]}\'',
    ]
    print("\n".join(lines), flush=True)
