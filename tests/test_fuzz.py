"""Property-based tests: generated input never gets a 5xx or an exception, only a success or a
4xx with a message.

- hypothesis against the decoders and validators themselves (collect envelope, runReport and
  runRealtimeReport bodies and filters, admin bodies, dates and times, time zones);
- schemathesis against ``/openapi.json`` of the in-process app: every operation, with cases
  that fit the document (positive) and cases that break it (negative), sent with the operator
  key and real ids so they reach the handlers;
- a hostile mutator on top: valid bodies from schemathesis with one value replaced by a huge
  integer, deep nesting, invalid UTF-8, odd strings or types, or the bytes cut short.

Runs in ``make test``; ``-m fuzz`` selects it. ``FUZZ_SCALE`` multiplies the number of cases
(default 1). The cases sent per route are printed at the end of the run and written to
``fuzz-cases.json`` in pytest's base temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlencode

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from conftest import ADMIN_KEY, CHROME, CLOCK, TEST_NOW_US, App, make_settings
from footfall.api import admin
from footfall.api.app import _realtime_decoder, _report_decoder
from footfall.collect.protocols.native import Limits, Stamp, build_events, decode_envelope
from footfall.errors import ApiError
from footfall.gateway.body import decode_json
from footfall.gateway.jsonpath import locate
from footfall.report.dates import EARLIEST, resolve_date
from footfall.report.realtime import build_realtime_query
from footfall.report.validate import build_query
from footfall.serve import Runtime
from footfall.store.duckdb import DuckDBStore
from footfall.tenancy.service import Tenancy

pytestmark = pytest.mark.fuzz

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
UNIT_EXAMPLES = int(1000 * SCALE)  # per decoder or validator
SCHEMA_EXAMPLES = int(100 * SCALE)  # per operation with inputs, and mode (positive, negative)
HOSTILE_EXAMPLES = int(1000 * SCALE)  # per operation with a body or a query
TODAY = dt.date(2026, 5, 20)
FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=True,  # the same cases on every run: CI never fails on a new random draw
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)


def unit(examples: int = UNIT_EXAMPLES) -> Callable[[Any], Any]:
    return settings(FUZZ, max_examples=examples)


def refused_cleanly(exc: ApiError) -> None:
    assert 400 <= exc.code < 500, (exc.code, exc.message)
    assert exc.message and len(exc.message) < 2_000


# -- hostile values --------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "today",
    "yesterday",
    "9999daysAgo",
    "0daysAgo",
    "99999999999999999999daysAgo",
    "2015-08-13",
    "9999-12-31",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "10000-01-01T00:00:00Z",
    "2026-05-20T10:00:00Z",
    "localtime",
    "posixrules",
    "Europe/Paris",
    "../../etc/passwd",
    "A" * 5000,
    "\x00",
    "\u202e",
    "null",
    "NaN",
    "1e400",
    "-0",
    "9223372036854775808",
    "G-XXXXXXXXXX",
    "ffk_" + "x" * 43,
    "read",
    "admin",
    "EXACT",
    "FULL_REGEXP",
    "(a+)+$",
    "[",
    "eventCount",
    "customEvent:x",
]
INTS = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30, -(10**30)]),
    st.integers(min_value=-(10**400), max_value=10**400),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INTS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=60),
    st.sampled_from(ODD_STRINGS),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=20), inner, max_size=5)
    ),
    max_leaves=20,
)
DEEP = "\x00deep:"  # a marker replaced by this many nested arrays when serialized


def dump(value: Any) -> bytes:
    """JSON with lone surrogates passed through (invalid UTF-8) and deep-nesting markers."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    marker = json.dumps(DEEP)[:-1]  # the marker's opening quote and escaped text
    while marker in text:
        start = text.index(marker)
        end = text.index('"', start + 1) + 1
        depth = int(json.loads(text[start:end])[len(DEEP) :])
        text = text[:start] + "[" * depth + "]" * depth + text[end:]
    return text.encode("utf-8", "surrogatepass")


HOSTILE = st.one_of(
    JSON,
    st.integers(min_value=100, max_value=60_000).map(lambda n: f"{DEEP}{n}"),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1).map(
        lambda s: "x" + s
    ),  # lone surrogates: invalid UTF-8 once written out
)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*here, i))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(value)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return out


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> bytes:
    """A valid body with one value replaced by a hostile one, or its bytes damaged."""
    seed = draw(st.sampled_from(seeds))
    paths = list(_paths(seed))
    body = _replace(seed, draw(st.sampled_from(paths)), draw(HOSTILE))
    if isinstance(body, dict) and draw(st.booleans()):
        body = _replace(body, (draw(st.text(max_size=12)),), draw(SCALARS))  # an extra field
    raw = dump(body)
    damage = draw(st.sampled_from(["none", "none", "byte", "cut"]))
    if damage != "none" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + (b"\xff" if damage == "byte" else b"")
    return raw


def _bodies(seeds: list[Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(seeds), JSON.map(dump), st.binary(max_size=300))


# -- the decoders and validators -------------------------------------------------------------

ENVELOPES = [
    {"client_id": "c.1", "events": [{"name": "page_view", "params": {"page_location": "/"}}]},
    {
        "client_id": "c.2",
        "timestamp_micros": TEST_NOW_US,
        "events": [
            {
                "name": "purchase",
                "event_id": "e-1",
                "timestamp_micros": TEST_NOW_US - 1,
                "params": {"value": 9.5, "currency": "EUR", "engagement_time_msec": 100},
            }
        ],
        "user_agent": CHROME,
        "ip_override": "203.0.113.1",
    },
]
REPORTS = [
    {
        "dateRanges": [{"startDate": "7daysAgo", "endDate": "today"}],
        "dimensions": [{"name": "country"}],
        "metrics": [{"name": "activeUsers"}],
        "dimensionFilter": {
            "notExpression": {
                "filter": {"fieldName": "country", "stringFilter": {"value": "France"}}
            }
        },
        "orderBys": [{"metric": {"metricName": "activeUsers"}, "desc": True}],
        "limit": 10,
        "offset": 0,
        "metricAggregations": ["TOTAL"],
    },
    {
        "dateRanges": [{"startDate": "2026-01-01", "endDate": "2026-01-31", "name": "jan"}],
        "metrics": [{"name": "eventCount"}],
        "dimensionFilter": {
            "andGroup": {
                "expressions": [
                    {
                        "filter": {
                            "fieldName": "eventName",
                            "numericFilter": {"operation": "EQUAL", "value": {"int64Value": 3}},
                        }
                    },
                    {
                        "filter": {
                            "fieldName": "eventName",
                            "betweenFilter": {
                                "fromValue": {"doubleValue": 1.5},
                                "toValue": {"int64Value": "9"},
                            },
                        }
                    },
                ]
            }
        },
    },
]
REALTIME = [
    {
        "dimensions": [{"name": "minutesAgo"}],
        "metrics": [{"name": "activeUsers"}],
        "minuteRanges": [{"startMinutesAgo": 29, "endMinutesAgo": 0}],
        "limit": 5,
    }
]


@unit()
@given(body=_bodies(ENVELOPES))
def test_collect_envelopes(body: bytes) -> None:
    stamp = Stamp(property_id="1", received_at=TEST_NOW_US, ip="203.0.113.1", user_agent=CHROME)
    try:
        envelope = decode_envelope(body)
        for server_side in (False, True):
            stamped = msgspec.structs.replace(stamp, server_side=server_side, backfill=server_side)
            accepted, results = build_events(envelope, stamped, Limits())
            assert len(results) == len(envelope.events) >= len(accepted)
            for result in results:
                assert result.status == "accepted" or (result.reason and result.message)
            for event in accepted:
                msgspec.msgpack.encode(event)  # what the collector publishes
    except ApiError as exc:
        refused_cleanly(exc)


@unit()
@given(body=_bodies(REPORTS))
def test_run_report_bodies(body: bytes) -> None:
    try:
        query = build_query(decode_json(_report_decoder, body), "1", TODAY)
        assert all(r.start >= EARLIEST for r in query.date_ranges)
        assert 0 <= query.offset < 2**63 and 0 < query.limit <= 250_000
    except ApiError as exc:
        refused_cleanly(exc)


@unit()
@given(body=_bodies(REALTIME))
def test_realtime_bodies(body: bytes) -> None:
    try:
        build_realtime_query(decode_json(_realtime_decoder, body), "1", TEST_NOW_US)
    except ApiError as exc:
        refused_cleanly(exc)


FILTERS = st.deferred(
    lambda: st.one_of(
        st.fixed_dictionaries(
            {"andGroup": st.fixed_dictionaries({"expressions": st.lists(FILTERS, max_size=3)})}
        ),
        st.fixed_dictionaries(
            {"orGroup": st.fixed_dictionaries({"expressions": st.lists(FILTERS, max_size=3)})}
        ),
        st.fixed_dictionaries({"notExpression": FILTERS}),
        st.fixed_dictionaries(
            {
                "filter": st.fixed_dictionaries(
                    {"fieldName": st.sampled_from(["country", "eventName", "x", "activeUsers"])},
                    optional={
                        "stringFilter": st.fixed_dictionaries(
                            {"value": st.text(max_size=20)},
                            optional={
                                "matchType": st.sampled_from(["EXACT", "FULL_REGEXP", "X"]),
                                "caseSensitive": st.booleans(),
                            },
                        ),
                        "inListFilter": st.fixed_dictionaries(
                            {"values": st.lists(st.text(max_size=5), max_size=3)}
                        ),
                        "numericFilter": st.fixed_dictionaries(
                            {
                                "operation": st.sampled_from(["EQUAL", "LESS_THAN", "BAD"]),
                                "value": st.fixed_dictionaries(
                                    {}, optional={"int64Value": INTS, "doubleValue": st.floats()}
                                ),
                            }
                        ),
                        "emptyFilter": st.just({}),
                    },
                )
            }
        ),
        JSON,
    )
)


@unit()
@given(flt=FILTERS)
def test_filters(flt: Any) -> None:
    body = {**REPORTS[0], "dimensionFilter": flt}
    try:
        build_query(decode_json(_report_decoder, dump(body)), "1", TODAY)
    except ApiError as exc:
        refused_cleanly(exc)


ADMIN_BODIES: dict[type[Any], list[dict[str, Any]]] = {
    admin.AccountIn: [{"name": "Shop"}],
    admin.AccountPatch: [{"name": "Shop", "disabled": False}],
    admin.PropertyIn: [
        {
            "name": "Site",
            "time_zone": "Europe/Paris",
            "currency": "EUR",
            "allowed_hostnames": ["shop.example.com"],
            "hostname_policy": "flag",
            "retention_days": 30,
            "key_events": ["purchase"],
        }
    ],
    admin.PropertyPatch: [{"time_zone": "UTC", "retention_days": 0}],
    admin.NameIn: [{"name": "Web"}],
    admin.KeyIn: [{"name": "k", "scopes": ["read"], "expires_at": "2027-01-01T00:00:00Z"}],
    admin.KeyPatch: [{"scopes": ["admin"], "expires_at": "2030-01-01T00:00:00+02:00"}],
}


@pytest.fixture(scope="module")
def tenancy() -> Iterator[Tenancy]:
    store = DuckDBStore(":memory:")
    yield Tenancy(store, CLOCK)
    store.close()


@pytest.mark.parametrize("kind", list(ADMIN_BODIES), ids=lambda k: k.__name__)
def test_admin_bodies(kind: type[Any], tenancy: Tenancy) -> None:
    account = tenancy.create_account("Fuzz")
    prop = tenancy.create_property(account.account_id, "Fuzz site")
    key = tenancy.create_key(account.account_id, "fuzz", ["read"]).record

    @unit(UNIT_EXAMPLES // 3)
    @given(body=_bodies(ADMIN_BODIES[kind]))
    def run(body: bytes) -> None:
        try:
            value = decode_json(msgspec.json.Decoder(kind), body)
            fields = msgspec.structs.asdict(value)
            expires = (
                admin.parse_time(fields["expires_at"], "expires_at")
                if fields.get("expires_at")
                else None
            )
            if kind is admin.PropertyIn:
                fields.pop("stream_name")
                fields.pop("account_id")
                tenancy.create_property(account.account_id, **fields)
            elif kind is admin.PropertyPatch:
                changes = {k: v for k, v in fields.items() if v is not None}
                tenancy.update_property(prop.property_id, **changes)
            elif kind is admin.KeyIn:
                tenancy.create_key(account.account_id, value.name, value.scopes, expires_at=expires)
            elif kind is admin.KeyPatch:
                tenancy.update_key(
                    key.key_id, name=value.name, scopes=value.scopes, expires_at=expires
                )
            elif kind in (admin.AccountIn, admin.NameIn):
                tenancy.create_account(value.name)
            for record in tenancy.api_keys():
                admin.public(record)  # every stored record can be shown
        except ApiError as exc:
            refused_cleanly(exc)

    run()


DATE_TEXT = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=30),
    st.integers(min_value=0, max_value=10**25).map(lambda n: f"{n}daysAgo"),
    st.dates().map(str),
)


@unit()
@given(value=DATE_TEXT, today=st.dates(min_value=EARLIEST))
def test_date_values(value: str, today: dt.date) -> None:
    try:
        day = resolve_date(value, today, "dateRanges[0].startDate")
        assert day >= EARLIEST
    except ApiError as exc:
        refused_cleanly(exc)
        assert "dateRanges[0].startDate" in exc.message


TIME_TEXT = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=40),
    st.datetimes(
        timezones=st.sampled_from(
            [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-14))]
        )
    ).map(dt.datetime.isoformat),
)


@unit()
@given(value=TIME_TEXT)
def test_times_are_parsed_within_range_or_refused(value: str) -> None:
    try:
        us = admin.parse_time(value, "expires_at")
    except ApiError as exc:
        refused_cleanly(exc)
        assert "expires_at" in exc.message
    else:
        assert admin.EARLIEST_US <= us <= admin.LATEST_US
        assert admin.parse_time(str(admin._time(us)), "t") == us  # shown, then read back


@unit()
@given(us=st.integers(min_value=-(2**63), max_value=2**64))
def test_any_stored_time_can_be_shown(us: int) -> None:
    shown = admin._time(us)
    assert shown is not None and shown.endswith("Z")


@unit()
@given(zone=st.one_of(st.text(max_size=80), st.sampled_from(ODD_STRINGS)))
def test_time_zones(zone: str, tenancy: Tenancy) -> None:
    account = tenancy.accounts()[0] if tenancy.accounts() else tenancy.create_account("Zones")
    try:
        prop = tenancy.create_property(account.account_id, "Zoned", time_zone=zone)
    except ApiError as exc:
        refused_cleanly(exc)
    else:
        from zoneinfo import ZoneInfo

        ZoneInfo(prop.time_zone)  # a stored zone always loads


@unit()
@given(body=st.binary(max_size=500), offset=st.integers(0, 600), depth=st.integers(0, 80))
def test_locating_a_problem_never_fails(body: bytes, offset: int, depth: int) -> None:
    assert locate(body, offset=offset)
    assert locate(body, depth=depth, prefix="events[0]")


# -- schemathesis against /openapi.json ------------------------------------------------------


class Target:
    """The in-process app with its processor running, real ids, and spare objects for the
    operations that change or delete what they touch."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.asgi = app.http.transport.app
        t = app.runtime.tenancy
        self.spare = t.create_account("Spare")
        self.spare_property = t.create_property(self.spare.account_id, "Spare site")
        self.spare_stream = t.create_stream(self.spare_property.property_id, "Web")
        self.spare_secret = t.create_secret(self.spare_stream.stream_id, "server").record
        self.spare_key = t.create_key(self.spare.account_id, "spare", ["read"]).record
        self.loop = asyncio.new_event_loop()
        self.counts: Counter[str] = Counter()

    def path_values(self, operation_id: str) -> dict[str, str]:
        changes = operation_id.startswith(("update", "delete", "revoke", "reprocess"))
        prop = self.spare_property if changes else self.app.property
        return {
            "property_id": prop.property_id,
            "stream_id": self.spare_stream.stream_id,
            "secret_id": self.spare_secret.record_id,
            "key_id": self.spare_key.record_id,
            "account_id": self.spare.account_id,
        }

    def send(
        self,
        label: str,
        method: str,
        url: str,
        *,
        params: Any = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> tuple[int, bytes]:
        """One request straight into the ASGI app (no HTTP client in between: the cases are
        many), with the operator key; the status and body of the answer."""
        fields = {"user-agent": CHROME, **(headers or {}), "authorization": f"Bearer {ADMIN_KEY}"}
        raw_headers = [(b"host", b"testserver")]
        for name, value in fields.items():
            if name.lower() in ("host", "content-length", "transfer-encoding"):
                continue
            with contextlib.suppress(UnicodeEncodeError):  # a server refuses these itself
                raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        body = content or b""
        raw_headers.append((b"content-length", str(len(body)).encode()))
        path, _, query = url.partition("?")
        if params:
            query = urlencode(params, doseq=True)
        status, answer = self.loop.run_until_complete(
            self._call(method, path, query.encode("latin-1", "replace"), raw_headers, body)
        )
        self.counts[label] += 1
        assert status < 500, (label, status, answer[:300], body[:300])
        return status, answer

    async def _call(
        self, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": path.encode("latin-1", "replace"),
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": ("203.0.113.8", 40000),
            "server": ("testserver", 80),
            "state": {},
        }
        status = 0
        chunks: list[bytes] = []
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return pending.pop() if pending else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.asgi(scope, receive, send)
        except Exception:
            if not status:
                raise
        answer = b"".join(chunks)
        if status >= 400 and answer.startswith(b"{"):
            _check_error(status, json.loads(answer))
        return status, answer

    def close(self) -> None:
        self.loop.close()


def _check_error(status: int, answer: dict[str, Any]) -> None:
    if "error" in answer:  # Google's shape, with a message
        error = answer["error"]
        assert error["message"] and error["code"] == status, error
    else:  # the collector's per-event answer: every event rejected, with a reason
        assert all(e["reason"] and e["message"] for e in answer["events"]), answer


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Target]:
    settings_ = make_settings(
        tmp_path_factory.mktemp("fuzz"),
        rate_limit_per_key=0,
        rate_limit_per_property=0,
        rate_limit_auth_failures_per_minute=0,
    )
    runtime = Runtime(settings_, clock=CLOCK)
    runtime.start()
    target = Target(App(runtime))
    for i in range(20):  # some data for the reports to read
        event = {"name": "page_view", "params": {"page_location": f"https://shop.example/{i}"}}
        target.app.collect({"client_id": f"c.{i % 5}", "events": [event]})
    yield target
    target.close()
    runtime.stop()
    report = dict(sorted(target.counts.items()))
    (tmp_path_factory.getbasetemp() / "fuzz-cases.json").write_text(json.dumps(report, indent=1))
    request.config.fuzz_cases = report  # type: ignore[attr-defined]  # printed by conftest


def _transport_request(case: Any) -> tuple[str, str, Any, dict[str, str], bytes | None]:
    kw = case.as_transport_kwargs(base_url="http://testserver")
    content = kw.get("data")
    if "json" in kw:
        content = dump(kw["json"])
    elif isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    headers = {str(k): str(v) for k, v in (kw.get("headers") or {}).items()}
    return kw["method"], kw["url"], kw.get("params"), headers, content


def _operations(target: Target) -> Iterator[tuple[Any, dict[str, str]]]:
    schema = schemathesis.openapi.from_dict(target.app.http.get("/openapi.json").json())
    for result in schema.get_all_operations():
        op = result.ok()
        fixed = target.path_values(op.definition.raw["operationId"])
        yield op, {p.name: fixed[p.name] for p in op.path_parameters}


def _fuzz(
    target: Target, op: Any, path_values: dict[str, str], mode: Any, examples: int
) -> list[tuple[bytes | None, int]]:
    """Send ``examples`` cases of one operation; the bodies sent and their statuses."""
    sent: list[tuple[bytes | None, int]] = []

    @settings(FUZZ, max_examples=examples)
    @given(case=op.as_strategy(mode, path_parameters=path_values))
    def run(case: Any) -> None:
        method, url, params, headers, content = _transport_request(case)
        status, _ = target.send(
            op.label, method, url, params=params, headers=headers, content=content
        )
        sent.append((content, status))

    try:
        run()
    except Unsatisfiable:
        # nothing to break: an operation without parameters or a body
        assert mode is schemathesis.GenerationMode.NEGATIVE, op.label
    return sent


@pytest.fixture(scope="module")
def seeds(target: Target) -> dict[str, list[Any]]:
    """Bodies that fit the document, per operation, preferring those the server accepted."""
    out: dict[str, list[Any]] = {}
    for op, path_values in _operations(target):
        sent = _fuzz(target, op, path_values, schemathesis.GenerationMode.POSITIVE, 25)
        bodies = [(json.loads(c), s) for c, s in sent if c and _is_json(c)]
        accepted = [b for b, s in bodies if s < 300]
        out[op.label] = (accepted or [b for b, _ in bodies] or [{}])[:10]
    return out


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True


def test_schemathesis_finds_no_5xx_on_any_route(target: Target) -> None:
    started, cpu = time.monotonic(), time.process_time()
    for op, path_values in _operations(target):
        raw = op.definition.raw
        inputs = "requestBody" in raw or any(p["in"] != "path" for p in raw["parameters"])
        for mode in schemathesis.GenerationMode:
            # an operation with only ids in its path has little to vary
            _fuzz(
                target, op, path_values, mode, SCHEMA_EXAMPLES if inputs else SCHEMA_EXAMPLES // 4
            )
    cases = sum(target.counts.values())
    seconds, cpu_s = time.monotonic() - started, time.process_time() - cpu
    print(f"schemathesis: {cases} cases, {seconds:.0f} s, cpu {cpu_s:.0f} s")


def test_hostile_bodies_and_queries_get_no_5xx(target: Target, seeds: dict[str, list[Any]]) -> None:
    """Valid bodies and queries with one value made hostile, on every operation that takes
    either (the valid bodies are positive cases schemathesis generated from the document)."""
    document = target.app.http.get("/openapi.json").json()
    started, cpu = time.monotonic(), time.process_time()
    for path, item in document["paths"].items():
        for method, op in item.items():
            takes_body = "requestBody" in op
            query = [p["name"] for p in op["parameters"] if p["in"] == "query"]
            if not takes_body and not query:
                continue
            label = f"{method.upper()} {path}"
            url = path
            for name, value in target.path_values(op["operationId"]).items():
                url = url.replace("{" + name + "}", value)
            query_seed = dict.fromkeys(query, "2026-05-20T10:00:00Z")
            if "measurement_id" in query_seed:
                query_seed = {"measurement_id": target.app.mid}
            bodies = mutated(seeds.get(label) or [{}]) if takes_body else st.none()
            queries = st.one_of(
                st.just(query_seed),
                st.dictionaries(
                    st.sampled_from(query or ["x"]),
                    st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=40)),
                ),
            )
            _hostile(target, f"{label} (hostile)", method.upper(), url, bodies, queries)
    print(f"hostile: {time.monotonic() - started:.0f} s, cpu {time.process_time() - cpu:.0f} s")


def _hostile(
    target: Target,
    label: str,
    method: str,
    url: str,
    bodies: st.SearchStrategy[bytes | None],
    queries: st.SearchStrategy[dict[str, str]],
) -> None:
    @settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
    @given(body=bodies, params=queries)
    def run(body: bytes | None, params: dict[str, str]) -> None:
        target.send(label, method, url, params=params, content=body)

    run()
