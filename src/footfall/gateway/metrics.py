"""Prometheus metrics on ``/metrics``: totals for the whole server, never labelled by property
or key (per-property figures come from the usage store)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "footfall_http_requests",
            "HTTP requests by route and status code",
            ["route", "code"],
            registry=r,
        )
        self.bytes_in = Counter(
            "footfall_ingest_bytes",
            "Collector request body bytes (after decompression)",
            registry=r,
        )
        self.accepted = Counter(
            "footfall_events_accepted", "Events accepted by the collector", registry=r
        )
        self.rejected = Counter(
            "footfall_events_rejected",
            "Events rejected by the collector, by reason",
            ["reason"],
            registry=r,
        )
        self.flagged = Counter(
            "footfall_events_flagged", "Events accepted with a flag, by flag", ["flag"], registry=r
        )
        self.rate_limited = Counter(
            "footfall_rate_limited",
            "Requests refused by a rate limit, by limit",
            ["limit"],
            registry=r,
        )
        self.reports_stopped = Counter(
            "footfall_reports_stopped",
            "Reports stopped by a cost bound, by bound (report_timeout, report_max_response_bytes)",
            ["bound"],
            registry=r,
        )
        self.auth_failures = Counter(
            "footfall_auth_failures", "Requests with a missing or invalid credential", registry=r
        )
        self.queue_pending = Gauge(
            "footfall_queue_pending", "Events queued but not yet processed", registry=r
        )
        self.processed = Gauge(
            "footfall_processor_events",
            "Events through the processor since start, by outcome",
            ["outcome"],
            registry=r,
        )

        self.rollup_lag = Gauge(
            "footfall_rollup_lag_seconds",
            "Age of the oldest event change not yet in the hourly rollups (0: all rolled up)",
            registry=r,
        )
        self.rollup_runs = Gauge(
            "footfall_rollup_runs",
            "Rollup job runs since start, by outcome",
            ["outcome"],
            registry=r,
        )
        self.rollup_hours = Gauge(
            "footfall_rollup_hours", "Hours rebuilt by the rollup job since start", registry=r
        )
        self.report_sources = Gauge(
            "footfall_reports",
            "Reports answered since start, by what answered them (rollups, spark, events)",
            ["source"],
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
