"""One typed settings object for every footfall role.

Layers, later wins: defaults < TOML file < ``FOOTFALL_*`` environment < command-line flags.
Loaded once at start by :func:`load_settings`; a bad value stops the process with a message
that names the setting, where it came from and what to do. No other module reads the
environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from footfall.clock import is_time_zone
from footfall.report.request import MAX_LIMIT
from footfall.schema.money import currency_code

ENV_PREFIX = "FOOTFALL_"
# read by command-line clients (admin commands, simulate), not by the server
CLIENT_ENV = {"FOOTFALL_CONFIG", "FOOTFALL_URL", "FOOTFALL_KEY"}
CLUSTER_ENV_PREFIX = "FOOTFALL_CLUSTER_"  # deploy/cluster.sh's knobs
QUEUE_SCHEMES = ("local", "memory", "kafka")
STORE_SCHEMES = ("duckdb", "memory", "cassandra")


class SettingsError(Exception):
    """A setting is missing or wrong; the message says which one and how to fix it."""


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    # where to listen
    host: str = "127.0.0.1"
    port: int = 8000
    # where state lives; queue and store default to files under data_dir
    data_dir: str = "./footfall-data"
    queue: str = ""
    store: str = ""
    # processing
    flush_interval: float = 0.5
    batch_size: int = 5000
    raw_retention_hours: int = 168
    # ingestion limits (GA4 Measurement Protocol's, unless changed)
    max_body_bytes: int = 130_000
    max_decompressed_bytes: int = 1_000_000
    max_events_per_request: int = 25
    max_params_per_event: int = 25
    max_event_age_hours: int = 72
    max_future_minutes: int = 15
    # publish waits this long for the queue to say the batch is durable, then answers 503
    publish_timeout: float = 10.0
    # the collector refuses events (503) while the disk of the local queue or store has less
    # free space than this, which is kept for the processor and the store to drain (0: off)
    disk_reserve_bytes: int = 268_435_456
    # client address: trust X-Forwarded-For only behind a proxy you run
    trust_forwarded_for: bool = False
    # first start: the demo property's time zone and currency, and the operator key's value
    # (empty: a random one, printed once)
    default_time_zone: str = "UTC"
    default_currency: str = "USD"
    admin_key: str = ""
    # HTTP connections (seconds): to send a request head (request line and headers), to send
    # its body once the head is in, and how long an idle keep-alive connection stays open
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: int = 15  # whole seconds (uvicorn's timeout_keep_alive)
    # rate limits (requests per second; 0 turns one off); buckets hold burst_seconds of rate.
    # rate_limit_per_property is the collector's (ingest) bucket; reports have their own
    rate_limit_per_key: float = 50.0
    rate_limit_per_property: float = 1000.0
    rate_limit_reports_per_property: float = 100.0
    rate_limit_burst_seconds: float = 2.0
    rate_limit_auth_failures_per_minute: float = 10.0
    # the cost of reports: rows per report (GA4's maximum limit), bytes per response, a time
    # budget that stops the query (seconds), the threads (and DuckDB reader cursors) reports run
    # on, how many may run at once per property and per key, and how long one waits for a turn
    report_max_rows: int = 250_000
    report_max_response_bytes: int = 64_000_000
    report_timeout: float = 15.0
    report_workers: int = 4
    report_concurrency_per_property: int = 2
    report_concurrency_per_key: int = 3
    report_queue_timeout: float = 5.0
    # the embedded store's memory (DuckDB memory_limit); bigger sorts spill under data_dir
    duckdb_memory_limit: str = "1GB"
    # usage statistics are added to the store this often (seconds)
    usage_flush_interval: float = 5.0
    # the cluster store: replication (production: NetworkTopologyStrategy with 3 replicas per
    # data centre), consistency of reads and writes, shards per time bucket
    cassandra_replication: str = "NetworkTopologyStrategy:datacenter1=3"
    cassandra_consistency: str = "LOCAL_QUORUM"
    cassandra_shards: int = 16
    # the cluster queue's topic, created by footfall migrate: partitions bound how many
    # processors share the work; production replication 3 with 2 in sync
    kafka_partitions: int = 12
    kafka_replication_factor: int = 3
    kafka_min_insync_replicas: int = 2
    # Spark (cluster shape): the master the rollup job and report queries run on, the connector
    # jars (comma-separated paths; or spark.jars in SPARK_CONF_DIR), shuffle partitions, and how
    # often the rollup scheduler rebuilds the hours that changed (seconds)
    spark_master: str = "local[2]"
    spark_jars: str = ""
    spark_partitions: int = 8
    spark_cores: int = 0  # spark.cores.max of each footfall Spark app (0: Spark's default)
    spark_executor_memory: str = "1g"
    rollup_interval: float = 300.0
    # geography: a MaxMind-format country database replacing the bundled one
    geo_database: str = ""
    log_level: str = "info"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def queue_url(self) -> str:
        return self.queue or f"local://{(self.data_path / 'queue.sqlite3').resolve()}"

    @property
    def store_url(self) -> str:
        return self.store or f"duckdb://{(self.data_path / 'footfall.duckdb').resolve()}"


_FIELDS: tuple[str, ...] = Settings.__struct_fields__


class ClientSettings(msgspec.Struct, frozen=True):
    """Where a command-line client finds the server, and the key it uses."""

    url: str
    key: str


def client_settings(
    url: str | None, key: str | None, environ: Mapping[str, str] | None = None
) -> ClientSettings:
    environ = os.environ if environ is None else environ
    return ClientSettings(
        url=url or environ.get("FOOTFALL_URL") or "http://127.0.0.1:8000",
        key=key or environ.get("FOOTFALL_KEY") or "",
    )


def _env_layer(environ: Mapping[str, str]) -> dict[str, str]:
    layer: dict[str, str] = {}
    for key, value in environ.items():
        if (
            not key.startswith(ENV_PREFIX)
            or key in CLIENT_ENV
            or key.startswith(CLUSTER_ENV_PREFIX)
        ):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in _FIELDS:
            raise SettingsError(
                f"unknown environment variable {key}; footfall settings are: "
                + ", ".join(ENV_PREFIX + f.upper() for f in _FIELDS)
            )
        layer[name] = value
    return layer


def _file_layer(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(
            f"config file {path} does not exist; fix --config or FOOTFALL_CONFIG"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise SettingsError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return data


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Settings:
    """Merge the layers and validate; raise :class:`SettingsError` with a fix on failure."""
    environ = os.environ if environ is None else environ
    config_file = config_file or environ.get(ENV_PREFIX + "CONFIG")
    sources: dict[str, str] = {}
    merged: dict[str, Any] = {}
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if config_file:
        layers.append((f"config file {config_file}", _file_layer(Path(config_file))))
    layers.append(("environment", _env_layer(environ)))
    layers.append(("command line", {k: v for k, v in (flags or {}).items() if v is not None}))
    for origin, layer in layers:
        for key, value in layer.items():
            merged[key] = value
            sources[key] = origin
    try:
        settings = msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(exc, sources)) from None
    _check(settings)
    return settings


def _explain(exc: msgspec.ValidationError, sources: Mapping[str, str]) -> str:
    text = str(exc)
    for name, origin in sources.items():
        if f"`$.{name}`" in text:
            return (
                f"setting {name!r} (from {origin}; env {ENV_PREFIX}{name.upper()}) is invalid: "
                f"{text.split(' - at ', maxsplit=1)[0]}"
            )
    return f"invalid settings: {text}"


def _check(s: Settings) -> None:  # noqa: PLR0912 (one branch per setting that needs a check)
    if not 0 < s.port < 65536:
        raise SettingsError(f"port must be between 1 and 65535, got {s.port}")
    if not 0 < s.flush_interval <= 60:
        raise SettingsError(f"flush_interval must be in (0, 60] seconds, got {s.flush_interval}")
    if s.batch_size < 1:
        raise SettingsError("batch_size must be at least 1")
    for name in (
        "max_body_bytes",
        "max_decompressed_bytes",
        "max_events_per_request",
        "max_params_per_event",
    ):
        if getattr(s, name) < 1:
            raise SettingsError(f"{name} must be positive")
    if s.disk_reserve_bytes < 0:
        raise SettingsError("disk_reserve_bytes must be 0 (off) or a number of bytes")
    if s.max_decompressed_bytes < s.max_body_bytes:
        raise SettingsError("max_decompressed_bytes must be at least max_body_bytes")
    if currency_code(s.default_currency) is None:
        raise SettingsError(
            f"default_currency {s.default_currency[:20]!r} is not an ISO 4217 code (e.g. USD)"
        )
    if not is_time_zone(s.default_time_zone):
        raise SettingsError(
            f"default_time_zone {s.default_time_zone[:60]!r} is not an IANA time zone (e.g. Europe/Paris)"
        )
    _check_url("queue", s.queue_url, QUEUE_SCHEMES)
    _check_url("store", s.store_url, STORE_SCHEMES)
    if s.geo_database and not Path(s.geo_database).is_file():
        raise SettingsError(f"geo_database {s.geo_database!r} is not a file (a MaxMind .mmdb)")
    if s.admin_key and len(s.admin_key) < 24:
        raise SettingsError(
            "admin_key must be at least 24 characters (or leave it empty to generate one)"
        )
    _check_limits(s)
    if s.cassandra_consistency not in (
        "ONE",
        "TWO",
        "THREE",
        "QUORUM",
        "ALL",
        "LOCAL_QUORUM",
        "EACH_QUORUM",
        "LOCAL_ONE",
    ):
        raise SettingsError(
            f"cassandra_consistency {s.cassandra_consistency!r} is not a Cassandra consistency level"
        )
    if (
        not 1 <= s.kafka_partitions <= 10_000
        or not 1 <= s.kafka_min_insync_replicas <= s.kafka_replication_factor
    ):
        raise SettingsError(
            "kafka_partitions must be 1..10000 and kafka_min_insync_replicas 1..kafka_replication_factor"
        )
    if not 1 <= s.spark_partitions <= 10_000 or not 1 <= s.rollup_interval <= 3600:
        raise SettingsError(
            "spark_partitions must be 1..10000 and rollup_interval 1..3600 seconds (the lag "
            "promise is one hour)"
        )
    if not 1 <= s.cassandra_shards <= 4096:
        raise SettingsError("cassandra_shards must be between 1 and 4096")
    if not 0 < s.usage_flush_interval <= 3600:
        raise SettingsError("usage_flush_interval must be in (0, 3600] seconds")
    if s.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise SettingsError("log_level must be one of debug, info, warning, error")


MEMORY_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


def _check_limits(s: Settings) -> None:
    """Connection timeouts, rate limits and the cost bounds of reports."""
    for name, most in (
        ("header_timeout", 300),
        ("body_timeout", 600),
        ("report_timeout", 3600),
        ("report_queue_timeout", 60),
    ):
        if not 0 < getattr(s, name) <= most:
            raise SettingsError(f"{name} must be in (0, {most}] seconds, got {getattr(s, name)}")
    if not 1 <= s.keep_alive_timeout <= 3600:
        raise SettingsError(
            f"keep_alive_timeout must be 1..3600 whole seconds, got {s.keep_alive_timeout}"
        )
    for name in (
        "rate_limit_per_key",
        "rate_limit_per_property",
        "rate_limit_reports_per_property",
        "rate_limit_auth_failures_per_minute",
    ):
        if getattr(s, name) < 0:
            raise SettingsError(f"{name} must be 0 (off) or positive")
    if s.rate_limit_burst_seconds <= 0:
        raise SettingsError("rate_limit_burst_seconds must be positive")
    if not 1 <= s.report_max_rows <= MAX_LIMIT:
        raise SettingsError(
            f"report_max_rows must be 1..{MAX_LIMIT} (GA4's maximum), got {s.report_max_rows}"
        )
    if s.report_max_response_bytes < 100_000:
        raise SettingsError("report_max_response_bytes must be at least 100000")
    if not 2 <= s.report_workers <= 64:
        raise SettingsError(f"report_workers must be 2..64, got {s.report_workers}")
    for name in ("report_concurrency_per_property", "report_concurrency_per_key"):
        if not 1 <= getattr(s, name) < s.report_workers:
            raise SettingsError(
                f"{name} must be 1..report_workers - 1 ({s.report_workers - 1}), so that one "
                f"property or key never takes every report worker; got {getattr(s, name)}"
            )
    if not MEMORY_SIZE.match(s.duckdb_memory_limit):
        raise SettingsError(
            f"duckdb_memory_limit {s.duckdb_memory_limit!r} is not a size such as 512MB or 2GB"
        )


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise SettingsError(
            f"{name} URL {url!r} has scheme {parts.scheme!r}; use one of "
            + ", ".join(f"{s}://" for s in schemes)
        )
    if parts.scheme in ("local", "duckdb") and not (parts.netloc + parts.path):
        raise SettingsError(
            f"{name} URL {url!r} names no file, e.g. {parts.scheme}:///var/lib/footfall/x"
        )
