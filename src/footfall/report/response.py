"""The ``runReport`` response in GA4's shape: string values, headers with metric types."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from footfall.report import catalog
from footfall.report.query import MetricValue, ReportQuery, ReportResult, ReportRow
from footfall.schema.money import format_amount
from footfall.tenancy.model import Property


def _value(v: MetricValue) -> str:
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Decimal):  # currency: exact, from integer micros
        return format_amount(v)
    if v.is_integer():
        return str(int(v))
    return repr(v)


def _row(row: ReportRow) -> dict[str, Any]:
    return {
        "dimensionValues": [{"value": d} for d in row.dimensions],
        "metricValues": [{"value": _value(m)} for m in row.metrics],
    }


def to_response(
    query: ReportQuery, result: ReportResult, prop: Property, kind: str = "analyticsData#runReport"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dimensionHeaders": [{"name": d} for d in query.dimensions],
        "metricHeaders": [{"name": m, "type": catalog.METRICS[m].type} for m in query.metrics],
    }
    if result.rows:
        body["rows"] = [_row(r) for r in result.rows]
    if result.totals:
        body["totals"] = [_row(r) for r in result.totals]
    if result.maximums:
        body["maximums"] = [_row(r) for r in result.maximums]
    if result.minimums:
        body["minimums"] = [_row(r) for r in result.minimums]
    body["rowCount"] = result.row_count
    body["metadata"] = {"currencyCode": prop.currency, "timeZone": prop.time_zone}
    body["kind"] = kind
    return body


def metadata_response(property_id: str) -> dict[str, Any]:
    """``getMetadata``: the dimensions and metrics this property can report."""
    return {
        "name": f"properties/{property_id}/metadata",
        "dimensions": [
            {"apiName": d.name, "uiName": d.name, "description": d.description}
            for d in catalog.DIMENSIONS.values()
        ]
        + [
            {
                "apiName": "customEvent:<param>",
                "uiName": "Event parameter",
                "description": "Any event parameter, by name",
                "customDefinition": True,
            }
        ],
        "metrics": [
            {"apiName": m.name, "uiName": m.name, "description": m.description, "type": m.type}
            for m in catalog.METRICS.values()
        ],
    }
