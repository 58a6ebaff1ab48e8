"""The GA4 Data API v1beta ``runReport`` and ``batchRunReports`` request bodies, as msgspec
structs (camelCase on the wire), decoded from the canonical form ``proto3.py`` makes of any
proto3 JSON encoding; a struct's defaults are GA4's for an unset field.

Unknown fields are refused with a 400 that names them. ``currencyCode``, ``keepEmptyRows`` and
``returnPropertyQuota`` are accepted for GA4 client compatibility and ignored: reports use the
property's own currency and never include empty rows. ``property``, when given, must name the
property of the path.
"""

from __future__ import annotations

import msgspec

# a filter tree (dimensionFilter, metricFilter) holds at most this many expressions
MAX_FILTER_NODES = 50
MAX_LIMIT = 250_000  # GA4's maximum rows per report (limit)


class _Camel(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    pass


class DateRange(_Camel):
    start_date: str
    end_date: str
    name: str | None = None


class Dimension(_Camel):
    name: str


class Metric(_Camel):
    name: str


class StringFilter(_Camel):
    value: str = ""
    match_type: str = "EXACT"
    case_sensitive: bool = False


class InListFilter(_Camel):
    values: list[str] = []
    case_sensitive: bool = False


class NumericValue(_Camel):
    int64_value: int | None = None
    double_value: float | None = None


class NumericFilter(_Camel):
    operation: str
    value: NumericValue


class BetweenFilter(_Camel):
    from_value: NumericValue
    to_value: NumericValue


class EmptyFilter(_Camel):
    pass


class Filter(_Camel):
    field_name: str
    string_filter: StringFilter | None = None
    in_list_filter: InListFilter | None = None
    numeric_filter: NumericFilter | None = None
    between_filter: BetweenFilter | None = None
    empty_filter: EmptyFilter | None = None


class FilterExpressionList(_Camel):
    expressions: list[FilterExpression] = []


class FilterExpression(_Camel):
    and_group: FilterExpressionList | None = None
    or_group: FilterExpressionList | None = None
    not_expression: FilterExpression | None = None
    filter: Filter | None = None


class MetricOrderBy(_Camel):
    metric_name: str


class DimensionOrderBy(_Camel):
    dimension_name: str
    order_type: str = "ALPHANUMERIC"


class OrderBy(_Camel):
    metric: MetricOrderBy | None = None
    dimension: DimensionOrderBy | None = None
    desc: bool = False


class RunReportRequest(_Camel):
    date_ranges: list[DateRange] = []
    dimensions: list[Dimension] = []
    metrics: list[Metric] = []
    dimension_filter: FilterExpression | None = None
    offset: int = 0
    limit: int = 0
    metric_aggregations: list[str] = []
    order_bys: list[OrderBy] = []
    currency_code: str | None = None
    keep_empty_rows: bool = False
    return_property_quota: bool = False
    property: str | None = None


class BatchRunReportsRequest(_Camel):
    property: str | None = None
    requests: list[RunReportRequest] = []
