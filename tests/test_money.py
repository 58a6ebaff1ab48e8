"""Money is exact: values in integer micros end to end, refunds as GA4 counts them, other
currencies converted with the exchange rates the operator loads, and old store files migrated."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from conftest import ADMIN_KEY, CLOCK, TEST_NOW, App, make_settings
from footfall.process.rates import ExchangeRates, RatesIn
from footfall.report import catalog
from footfall.report.request import RunReportRequest
from footfall.report.validate import build_query
from footfall.rollup.cells import MONEY_COLUMNS, SUMS, Packed
from footfall.schema.money import format_amount, to_micros
from footfall.serve import Runtime
from footfall.store.duckdb import DuckDBStore
from footfall.store.duckdb.migrate import LATEST

AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}
MONEY = ["totalRevenue", "purchaseRevenue", "grossPurchaseRevenue", "refundAmount"]
TODAY = TEST_NOW.date()  # the demo property is in UTC


def buy(name: str, value: Any, currency: str | None = "USD", **params: Any) -> dict[str, Any]:
    p = {"page_location": "https://shop.example.com/cart", "value": value, **params}
    if currency is not None:
        p["currency"] = currency
    return {"name": name, "params": p}


def send(app: App, *events: dict[str, Any], raw: bytes | None = None) -> Any:
    body = raw if raw is not None else {"client_id": "c1", "events": list(events)}
    r = app.collect(body)
    assert r.status_code == 200, r.text
    app.process()
    return r.json()


def totals(app: App, metrics: list[str] = MONEY, dims: list[str] | None = None) -> Any:
    return app.rows(
        {
            "dateRanges": [{"startDate": "7daysAgo", "endDate": "today"}],
            "dimensions": [{"name": d} for d in dims or []],
            "metrics": [{"name": m} for m in metrics],
        }
    )


# -- exact amounts ---------------------------------------------------------------------------


def test_revenue_is_printed_exactly_from_integer_micros(app: App) -> None:
    assert repr(4000.5 + 50.2 + 0.2) != "4050.9"  # what summing floats gives
    send(app, buy("purchase", 4000.5), buy("purchase", 50.2), buy("purchase", 0.2))
    assert totals(app, ["totalRevenue"]) == {(): ["4050.9"]}
    body = app.report(
        {
            "dateRanges": [{"startDate": "today", "endDate": "today"}],
            "metrics": [{"name": "totalRevenue"}],
            "metricAggregations": ["TOTAL", "MAXIMUM"],
        }
    ).json()
    assert body["metricHeaders"] == [{"name": "totalRevenue", "type": "TYPE_CURRENCY"}]
    assert body["totals"][0]["metricValues"] == [{"value": "4050.9"}]
    assert body["maximums"][0]["metricValues"] == [{"value": "4050.9"}]
    with app.runtime.store._reader() as cur:  # type: ignore[attr-defined]
        stored = cur.execute("SELECT value_micros FROM events ORDER BY 1").fetchall()
    assert stored == [(200_000,), (50_200_000,), (4_000_500_000,)]


def test_a_json_number_is_read_from_its_decimal_text_not_through_a_float(app: App) -> None:
    # a float keeps about 16 digits: 123456789012.345678 would become 123456789012.34567
    raw = (
        b'{"client_id": "c1", "events": [{"name": "purchase", "params": '
        b'{"value": 123456789012.345678, "currency": "USD"}}, {"name": "purchase", "params": '
        b'{"value": 0.30000000000000004441, "currency": "USD"}}]}'
    )
    send(app, raw=raw)
    assert totals(app, ["grossPurchaseRevenue"]) == {(): ["123456789012.645678"]}


def test_only_ascii_decimal_text_is_money() -> None:
    assert to_micros("12.5") == 12_500_000
    for text in ("\u0661\u0662\u0663.\u0665", "\uff11\uff12", "1_000", "1,5", "NaN"):
        assert to_micros(text) is None, text


def test_micros_round_half_to_even_past_six_decimals() -> None:
    assert to_micros("0.0000015") == 2
    assert to_micros("0.0000025") == 2
    assert to_micros("-0.0000035") == -4
    assert to_micros("0.1234565") == 123456
    assert to_micros(" 12.50 ") == 12_500_000
    assert to_micros(42) == 42_000_000
    for bad in ("abc", "NaN", "Infinity", "1_000", "", True, None, 10**12, "1e12"):
        assert to_micros(bad) is None, bad
    assert format_amount(Decimal("1000.000000")) == "1000"
    assert format_amount(Decimal("-0.000000")) == "0"


def test_the_contract_refuses_values_and_currencies_it_cannot_count(app: App) -> None:
    r = app.collect(
        {
            "client_id": "c1",
            "events": [
                buy("purchase", "12,50"),
                buy("purchase", 10**13),
                buy("purchase", True),
                buy("purchase", 5, currency="dollars"),
                buy("purchase", "7.5", currency=" eur "),
            ],
        }
    )
    assert r.status_code == 200, r.text
    results = r.json()["events"]
    assert [e["status"] for e in results] == ["rejected"] * 4 + ["accepted"]
    assert [e.get("reason") for e in results[:4]] == [
        "invalid_param_value",
        "invalid_param_value",
        "invalid_param_value",
        "invalid_currency",
    ]
    assert "params.value" in results[0]["message"] and "params.currency" in results[3]["message"]
    app.process()
    with app.runtime.store._reader() as cur:  # type: ignore[attr-defined]
        assert cur.execute("SELECT currency FROM events").fetchall() == [("EUR",)]


# -- refunds and GA4's revenue metrics -------------------------------------------------------


def test_refunds_subtract_from_total_and_purchase_revenue(app: App) -> None:
    send(
        app,
        buy("purchase", 100, transaction_id="T1"),
        buy("purchase", 50.25, transaction_id="T2"),
        buy("in_app_purchase", 9.99),
        buy("app_store_subscription_renew", "4.99"),
        buy("refund", "20.10", transaction_id="T1"),
        buy("app_store_refund", 0.9),
        buy("add_to_cart", 29.5),  # a value, but not revenue
    )
    assert totals(app, MONEY) == {(): ["144.23", "144.23", "165.23", "21"]}
    by_event = totals(app, [*MONEY, "eventCount"], dims=["eventName"])
    assert by_event[("refund",)] == ["-20.1", "-20.1", "0", "20.1", "1"]
    assert by_event[("add_to_cart",)] == ["0", "0", "0", "0", "1"]


def test_every_currency_metric_is_defined_by_money_measures_every_engine_sums() -> None:
    for name in catalog.CURRENCY_METRICS:
        terms = catalog.METRICS[name].money
        assert terms and all(m in catalog.MONEY_MEASURES and s in (1, -1) for m, s in terms)
    # the rollup cells keep one sum per measure, in Packed's order
    assert set(MONEY_COLUMNS) == set(catalog.MONEY_MEASURES)
    assert Packed._fields[: len(SUMS)] == SUMS


# -- currencies ------------------------------------------------------------------------------


def load_rates(app: App, body: dict[str, Any], key: str = ADMIN_KEY) -> Any:
    return app.http.post(
        "/v1/admin/exchange-rates", json=body, headers={"authorization": f"Bearer {key}"}
    )


def usage_totals(app: App) -> dict[str, int]:
    r = app.http.get(f"/v1/admin/properties/{app.property.property_id}/usage", headers=AUTH)
    assert r.status_code == 200, r.text
    totals: dict[str, int] = r.json()["totals"]
    return totals


def day(days_ago: int) -> str:
    return (TODAY - dt.timedelta(days=days_ago)).isoformat()


def test_a_foreign_purchase_is_converted_with_the_operators_rates(app: App) -> None:
    send(app, buy("purchase", 10), buy("purchase", "18.00", currency="EUR"))
    # no rate for EUR: counted as an event, kept out of revenue, and said so in the usage
    assert totals(app, ["totalRevenue", "eventCount"]) == {(): ["10", "2"]}
    assert usage_totals(app).get("revenue_unconverted:EUR") == 1

    r = load_rates(app, {"base": "USD", "rates": {day(3): {"EUR": "0.8"}, day(1): {"EUR": 0.9}}})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "base": "USD",
        "stored": 2,
        "currencies": ["EUR"],
        "firstDay": day(3),
        "lastDay": day(1),
    }
    # today has no rate: yesterday's applies (18 EUR / 0.9 = 20 USD)
    send(app, buy("purchase", "18.00", currency="eur"))
    assert totals(app, ["totalRevenue", "eventCount"]) == {(): ["30", "3"]}
    assert usage_totals(app).get("revenue_unconverted:EUR") == 1

    # re-processing converts the earlier one too, and gives the same revenue every time
    url = f"/v1/admin/properties/{app.property.property_id}:reprocess"
    assert app.runtime.rebuilder is not None
    for _ in range(2):
        assert app.http.post(url, headers=AUTH).status_code == 202
        app.runtime.rebuilder.drain()  # the rebuild runs, catches up and switches
        assert totals(app, ["totalRevenue", "eventCount"]) == {(): ["50", "3"]}


def test_conversion_uses_the_latest_earlier_day_and_rounds_half_to_even() -> None:
    store = DuckDBStore(":memory:")
    try:
        rates = ExchangeRates(store)
        d = dt.date(2026, 5, 10)
        rates.load(
            msgspec.json.decode(
                b'{"base": "USD", "rates": {"2026-05-10": {"EUR": "0.5", "GBP": 0.8}, '
                b'"2026-05-12": {"EUR": "0.9"}}}',
                type=RatesIn,
            )
        )
        assert rates.convert(5_000_000, "USD", "EUR", d) == 2_500_000
        assert rates.convert(5_000_000, "EUR", "USD", d) == 10_000_000
        # between two currencies other than the base: amount * rate(target) / rate(source)
        assert rates.convert(1_000_000, "GBP", "EUR", d) == 625_000
        # half a micro rounds to the even neighbour
        assert [rates.convert(m, "USD", "EUR", d) for m in (1, 3, 5, 7)] == [0, 2, 2, 4]
        assert rates.convert(10_000_000, "USD", "EUR", dt.date(2026, 5, 11)) == 5_000_000
        assert rates.convert(10_000_000, "USD", "EUR", dt.date(2027, 1, 1)) == 9_000_000
        assert rates.convert(10_000_000, "USD", "EUR", dt.date(2026, 5, 9)) is None
        assert rates.convert(10_000_000, "USD", "JPY", d) is None
        assert rates.convert(10_000_000, "JPY", "JPY", d) == 10_000_000
        # another process sees a load once it looks again
        other = ExchangeRates(store, refresh_seconds=0)
        assert other.rate("EUR", d) == Fraction(1, 2)
    finally:
        store.close()


def test_the_exchange_rate_routes(app: App) -> None:
    t = app.runtime.tenancy
    account = app.first.account.account_id
    tenant = t.create_key(account, "tenant admin", ["admin"]).value
    body = {"base": "USD", "rates": {"2026-05-01": {"EUR": "0.92", "gbp": 0.79}}}
    assert load_rates(app, body, key=tenant).status_code == 403  # rates are the operator's
    for bad, field in [
        ({"base": "US", "rates": {"2026-05-01": {"EUR": "1"}}}, "base"),
        ({"base": "USD", "rates": {"2026-13-01": {"EUR": "1"}}}, "2026-13-01"),
        ({"base": "USD", "rates": {"2026-05-01": {"EUR": "-1"}}}, "rates.2026-05-01.EUR"),
        ({"base": "USD", "rates": {"2026-05-01": {"EUR": "abc"}}}, "EUR"),
        ({"base": "USD", "rates": {"2026-05-01": {"USD": "1"}}}, "base currency"),
        ({"base": "USD", "rates": {}}, "at least one"),
        # only the plain forms: no digit separators, other scripts' digits, or other date forms
        ({"base": "USD", "rates": {"2026-05-01": {"EUR": "1_000"}}}, "rates.2026-05-01.EUR"),
        ({"base": "USD", "rates": {"2026-05-01": {"EUR": "\u0661.\u0665"}}}, "EUR"),
        ({"base": "USD", "rates": {"20260501": {"EUR": "1"}}}, "20260501"),
        ({"base": "USD", "rates": {"2026-W18-5": {"EUR": "1"}}}, "2026-W18-5"),
        ({"base": "\u00c4\u00d6\u00dc", "rates": {"2026-05-01": {"EUR": "1"}}}, "base"),
    ]:
        r = load_rates(app, bad)
        assert r.status_code == 400 and field in r.text, (bad, r.text)
    assert load_rates(app, body).status_code == 200
    r = load_rates(app, {"base": "EUR", "rates": {"2026-05-01": {"USD": "1.1"}}})
    assert r.status_code == 409 and "USD" in r.text
    listed = app.http.get(
        "/v1/admin/exchange-rates",
        params={"currency": "gbp"},
        headers={"authorization": f"Bearer {tenant}"},
    )
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "base": "USD",
        "rates": {"2026-05-01": {"GBP": "0.79"}},
        "truncated": False,
    }
    for query, field in [
        ({"currency": "\u00c4\u00d6\u00dc"}, "currency"),
        ({"start": "2026-W18-5"}, "start"),
        ({"end": "20260501"}, "end"),
    ]:
        r = app.http.get("/v1/admin/exchange-rates", params=query, headers=AUTH)
        assert r.status_code == 400 and field in r.json()["error"]["message"], (query, r.text)
    assert app.http.get("/v1/admin/exchange-rates").status_code == 401


# -- the store file of an older footfall -----------------------------------------------------


def test_a_store_file_with_double_values_is_migrated_to_micros(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old = (Path(__file__).parent / "data" / "duckdb_schema_v1.sql").read_text()
    assert "value DOUBLE" in old
    con = duckdb.connect(str(path))
    con.execute(old)
    t = int(dt.datetime.combine(TODAY, dt.time(9), dt.UTC).timestamp() * 1e6)
    for i, value in enumerate((4000.5, 50.2, 0.2, None)):
        con.execute(
            "INSERT INTO events (property_id, event_id, event_name, event_time, received_at, "
            "event_date, event_hour, visitor_id, session_key, page_location, page_host, "
            "page_path, page_title, page_referrer, source, medium, campaign, campaign_id, term, "
            "content, click_id, click_id_type, channel_group, country_id, country, "
            "device_category, browser, browser_version, os, os_version, language_code, "
            "language, screen_resolution, engagement_time_ms, is_key_event, value, currency, "
            "flags, params) VALUES ('100000001', ?, ?, ?, ?, ?, 9, 'v1', 's1', '', '', '/', "
            "'', '', '(direct)', '(none)', '(direct)', '', '', '', '', '', 'Direct', '', '', "
            "'desktop', '', '', '', '', '', '', '', 0, false, ?, 'USD', '', MAP {})",
            [f"e{i}", "purchase" if value else "page_view", t + i, t + i, TODAY, value],
        )
    con.execute(
        "INSERT INTO sessions VALUES ('100000001', 's1', 'v1', NULL, ?, ?, 4, 1, 0, 0, true, "
        "'/', '(direct)', '(none)', '(direct)', 'Direct')",
        [t, t + 3],
    )
    con.execute("INSERT INTO visitors VALUES ('100000001', 'v1', ?, 'e0')", [t])
    con.close()

    for _ in range(2):  # the second open finds the file at the latest version
        store = DuckDBStore(str(path))
        try:
            assert store.get_meta("schema_version") == str(LATEST)
            with store._reader() as cur:
                rows = cur.execute("SELECT event_id, value_micros FROM events ORDER BY 1")
                assert rows.fetchall() == [
                    ("e0", 4_000_500_000),
                    ("e1", 50_200_000),
                    ("e2", 200_000),
                    ("e3", None),
                ]
            request = msgspec.convert(
                {
                    "dateRanges": [{"startDate": "today", "endDate": "today"}],
                    "metrics": [{"name": "totalRevenue"}, {"name": "eventCount"}],
                },
                RunReportRequest,
                strict=False,
            )
            result = store.run_report(build_query(request, "100000001", TODAY))
            assert result.rows[0].metrics == (Decimal("4050.9"), 4)
        finally:
            store.close()


def test_a_new_store_file_starts_at_the_latest_version(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(tmp_path, store=f"duckdb://{tmp_path}/f.duckdb"), clock=CLOCK)
    try:
        assert runtime.store.get_meta("schema_version") == str(LATEST)
    finally:
        runtime.stop()


def test_cassandra_rows_from_before_value_micros_are_read_from_the_double_column() -> None:
    from types import SimpleNamespace

    from footfall.store.cassandra.base import EVENT_COLUMNS
    from footfall.store.cassandra.reports import _event

    columns = [c for c in EVENT_COLUMNS if c not in ("hour", "shard")]
    values: dict[str, Any] = dict.fromkeys(columns, "")
    values.update(
        event_time=1,
        received_at=1,
        event_date=SimpleNamespace(date=lambda: TODAY),
        event_hour=9,
        engagement_time_ms=0,
        is_key_event=False,
        params={},
    )
    legacy = SimpleNamespace(**{**values, "value_micros": None, "value": 4050.9})
    assert _event(legacy, columns).value_micros == 4_050_900_000
    current = SimpleNamespace(**{**values, "value_micros": 7, "value": None})
    assert _event(current, columns).value_micros == 7
