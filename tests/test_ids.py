"""Generated identifiers never take over another tenant's records: every account, property,
stream, measurement id, secret and key is created with insert-if-absent, and a clash draws a
new identifier. The id generator is injected; one that repeats what it gave out before forces
the clashes that random ids make rarely (about 5% for one property id at 10,000 properties)."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import ADMIN_KEY, CHROME, CLOCK, App, make_settings
from footfall.errors import ApiError
from footfall.serve import Runtime
from footfall.store.duckdb import DuckDBStore
from footfall.tenancy import secrets as sec
from footfall.tenancy.model import Account, ApiKey, ApiSecret, Property, Scope, Stream
from footfall.tenancy.service import ATTEMPTS, Tenancy

_FRESH = {
    "record_id": sec.new_id,
    "property_id": sec.new_property_id,
    "measurement_id": sec.new_measurement_id,
    "secret": sec.new_secret,
}


class ReplayIds:
    """Random identifiers, but after ``replay()`` each kind of draw first hands out again, in
    order, every value it gave out before: a forced repeat of another tenant's ids."""

    def __init__(self) -> None:
        self.issued: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
        self.queued: dict[tuple[str, tuple[str, ...]], deque[str]] = defaultdict(deque)
        self.repeats = 0

    def forget(self) -> None:
        """Replay only what is given out from now on."""
        self.issued.clear()

    def replay(self) -> None:
        for key, values in self.issued.items():
            self.queued[key].extend(values)

    def _draw(self, method: str, *args: str) -> str:
        key = (method, args)
        if self.queued[key]:
            self.repeats += 1
            return self.queued[key].popleft()
        value: str = _FRESH[method](*args)
        self.issued[key].append(value)
        return value

    def record_id(self, kind: str) -> str:
        return self._draw("record_id", kind)

    def property_id(self) -> str:
        return self._draw("property_id")

    def measurement_id(self) -> str:
        return self._draw("measurement_id")

    def secret(self, prefix: str) -> str:
        return self._draw("secret", prefix)


class SameIds:
    """Always the same identifiers: every create after the first clashes."""

    def record_id(self, kind: str) -> str:
        return f"{kind}_000000000000"

    def property_id(self) -> str:
        return "100000000"

    def measurement_id(self) -> str:
        return "G-0000000000"

    def secret(self, prefix: str) -> str:
        return prefix + "0" * 43


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore(":memory:")
    yield s
    s.close()


# -- the store: insert-if-absent ---------------------------------------------------------------


def _stream(stream_id: str, mid: str, name: str = "Web") -> Stream:
    return Stream(
        stream_id=stream_id,
        property_id="100000001",
        account_id="acc_a",
        name=name,
        measurement_id=mid,
    )


def _key(key_id: str, prefix: str, name: str = "k") -> ApiKey:
    return ApiKey(
        key_id=key_id, account_id="acc_a", name=name, prefix=prefix, hash="h", scopes=(Scope.READ,)
    )


def test_insert_refuses_a_taken_id_or_lookup_and_changes_nothing(store: DuckDBStore) -> None:
    assert store.insert(Account(account_id="acc_b", name="B"))
    assert not store.insert(Account(account_id="acc_b", name="A"))
    assert store.get(Account, "acc_b") == Account(account_id="acc_b", name="B")
    assert store.insert(Account(account_id="acc_c", name="C"))  # no lookup: only the id counts

    assert store.insert(_stream("str_b", "G-BBBBBBBBBB", "B's"))
    assert not store.insert(_stream("str_a", "G-BBBBBBBBBB", "A's"))  # a taken measurement id
    assert not store.insert(_stream("str_b", "G-AAAAAAAAAA", "A's"))  # a taken stream id
    assert store.find(Stream, "G-BBBBBBBBBB") == _stream("str_b", "G-BBBBBBBBBB", "B's")
    assert store.get(Stream, "str_a") is None and store.find(Stream, "G-AAAAAAAAAA") is None

    assert store.insert(_key("key_b", "ffk_samepref"))
    assert not store.insert(_key("key_a", "ffk_samepref"))
    secret = ApiSecret(
        secret_id="sec_b",
        stream_id="str_b",
        property_id="100000001",
        account_id="acc_a",
        name="s",
        prefix="ffk_samepref",
        hash="h",
    )
    assert store.insert(secret)  # lookups are unique per kind: keys and secrets apart
    assert store.count("tenancy") == 5

    # updates stay updates
    store.put(Account(account_id="acc_b", name="B renamed"))
    assert store.get(Account, "acc_b") == Account(account_id="acc_b", name="B renamed")


def test_the_file_refuses_a_second_record_with_a_taken_lookup(tmp_path: Path) -> None:
    """The guarantee is in the database (a unique index), not only in the adapter's check, and
    it holds in a file opened again."""
    path = str(tmp_path / "footfall.duckdb")
    first = DuckDBStore(path)
    assert first.insert(_stream("str_b", "G-BBBBBBBBBB"))
    first.close()
    store = DuckDBStore(path)
    try:
        with pytest.raises(duckdb.ConstraintException):
            store.put(_stream("str_a", "G-BBBBBBBBBB"))
        assert store.find(Stream, "G-BBBBBBBBBB") == _stream("str_b", "G-BBBBBBBBBB")
        assert not store.insert(_stream("str_a", "G-BBBBBBBBBB"))
    finally:
        store.close()


def test_concurrent_inserts_of_one_id_let_exactly_one_win(store: DuckDBStore) -> None:
    start = threading.Barrier(8)
    won: list[str] = []

    def create(i: int) -> None:
        start.wait()
        if store.insert(_key(f"key_{i}", "ffk_contest1", name=f"n{i}")):
            won.append(f"key_{i}")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    found = store.find(ApiKey, "ffk_contest1")
    assert found is not None and found.key_id == won[0]
    assert len(store.records(ApiKey)) == 1


# -- the service: a clash draws again ----------------------------------------------------------


def test_repeated_ids_get_fresh_ones_and_leave_the_first_owner_untouched(
    store: DuckDBStore,
) -> None:
    ids = ReplayIds()
    t = Tenancy(store, CLOCK, ids=ids)
    b = t.create_account("B")
    b_prop = t.create_property(b.account_id, "B shop")
    b_stream = t.create_stream(b_prop.property_id, "Web")
    b_secret = t.create_secret(b_stream.stream_id, "server")
    b_key = t.create_key(b.account_id, "B reports", ["read"])
    before = {kind: store.records(kind) for kind in (Account, Property, Stream, ApiSecret, ApiKey)}

    ids.replay()  # from now on every first draw is one of B's
    a = t.create_account("A")
    a_prop = t.create_property(a.account_id, "A shop")
    a_stream = t.create_stream(a_prop.property_id, "Web")
    a_secret = t.create_secret(a_stream.stream_id, "server")
    a_key = t.create_key(a.account_id, "A reports", ["read"])
    assert ids.repeats >= 5  # each create met B's identifier first

    assert a.account_id != b.account_id
    assert a_prop.property_id != b_prop.property_id and a_prop.account_id == a.account_id
    assert a_stream.stream_id != b_stream.stream_id
    assert a_stream.measurement_id != b_stream.measurement_id
    assert a_secret.record.record_id != b_secret.record.record_id
    assert a_secret.value != b_secret.value and a_secret.record.prefix != b_secret.record.prefix
    assert a_key.record.record_id != b_key.record.record_id
    assert a_key.record.prefix != b_key.record.prefix
    for kind, records in before.items():  # B's records, exactly as they were
        for record in records:
            assert store.get(kind, record.record_id) == record
    assert t.by_measurement_id(b_stream.measurement_id) == (b_stream, b_prop)
    assert t.by_measurement_id(a_stream.measurement_id) == (a_stream, a_prop)
    assert t.verify_secret(b_stream, b_secret.value) == b_secret.record
    assert t.verify_secret(a_stream, a_secret.value) == a_secret.record
    assert t.authenticate(b_key.value) == b_key.record
    assert t.authenticate(a_key.value) == a_key.record
    assert not a_key.record.covers(b_prop)


def test_a_create_that_never_finds_a_free_id_answers_503(store: DuckDBStore) -> None:
    t = Tenancy(store, CLOCK, ids=SameIds())
    first = t.create_account("B")
    with pytest.raises(ApiError) as refused:
        t.create_account("A")
    assert refused.value.code == 503 and f"after {ATTEMPTS} attempts" in refused.value.message
    assert t.accounts() == [first]


def test_a_chosen_key_value_whose_prefix_exists_is_refused(store: DuckDBStore) -> None:
    t = Tenancy(store, CLOCK)
    account = t.create_account("B")
    mine = t.create_key(account.account_id, "mine", ["read"], value="ffk_chosen-value-number-one")
    with pytest.raises(ApiError, match="prefix exists") as refused:
        t.create_key(None, "op", ["admin"], value="ffk_chosen-value-number-two")
    assert refused.value.code == 400
    assert t.authenticate("ffk_chosen-value-number-one") == mine.record
    assert t.authenticate("ffk_chosen-value-number-two") is None


class _RivalFirst:
    """A store where another creator's key with the same prefix lands just before ours: the
    window between a check and a write."""

    def __init__(self, store: DuckDBStore, rival: ApiKey) -> None:
        self.store, self.rival = store, rival

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def _rival_lands(self) -> None:
        if self.rival is not None:
            assert self.store.insert(self.rival)
            self.rival = None  # type: ignore[assignment]

    def insert(self, record: Any) -> bool:
        self._rival_lands()
        return self.store.insert(record)

    def put(self, record: Any) -> None:
        self._rival_lands()
        self.store.put(record)


def test_a_chosen_key_value_is_checked_and_stored_in_one_step(store: DuckDBStore) -> None:
    value = "ffk_contested-operator-value"
    rival = ApiKey(
        key_id="key_rival00000",
        account_id=None,
        name="rival",
        prefix=sec.visible_prefix(value),
        hash=sec.hash_secret("ffk_contested-but-another-value"),
        scopes=(Scope.ADMIN,),
    )
    t = Tenancy(_RivalFirst(store, rival), CLOCK)  # type: ignore[arg-type]
    with pytest.raises(ApiError, match="prefix exists"):
        t.create_key(None, "operator", ["admin"], value=value)
    assert store.records(ApiKey) == [rival]
    assert t.authenticate("ffk_contested-but-another-value") == rival


# -- over HTTP: account A's creates after B's, with every generated id repeating ---------------


@pytest.fixture
def replayed(monkeypatch: pytest.MonkeyPatch) -> ReplayIds:
    """The module's generators replaced by a replaying one (how ``RandomIds`` draws)."""
    ids = ReplayIds()
    monkeypatch.setattr(sec, "new_id", ids.record_id)
    monkeypatch.setattr(sec, "new_property_id", ids.property_id)
    monkeypatch.setattr(sec, "new_measurement_id", ids.measurement_id)
    monkeypatch.setattr(sec, "new_secret", ids.secret)
    return ids


def test_a_forced_repeat_through_the_admin_api_takes_nothing_over(
    tmp_path: Path, replayed: ReplayIds
) -> None:
    runtime = Runtime(make_settings(tmp_path), clock=CLOCK)
    app = App(runtime)
    try:
        http, op = app.http, {"authorization": f"Bearer {ADMIN_KEY}"}

        def post(path: str, body: dict[str, Any], headers: dict[str, str] = op) -> Any:
            r = http.post(path, json=body, headers=headers)
            assert r.status_code == 201, r.text
            return r.json()

        def tenant(name: str, other: dict[str, Any] | None = None) -> dict[str, Any]:
            """One account's records; with ``other``, each checked to be none of its ids."""
            t: dict[str, Any] = {"account": post("/v1/admin/accounts", {"name": name})}
            aid = t["account"]["account_id"]
            if other:
                assert aid != other["account"]["account_id"]
            t["property"] = post(
                "/v1/admin/properties", {"name": f"{name} shop", "account_id": aid}
            )
            stream = t["property"]["streams"][0]
            if other:
                theirs = other["property"]
                assert t["property"]["property_id"] != theirs["property_id"]
                assert stream["stream_id"] != theirs["streams"][0]["stream_id"]
                assert stream["measurement_id"] != theirs["streams"][0]["measurement_id"]
            t["key"] = post(
                "/v1/admin/keys", {"name": name, "scopes": ["admin"], "account_id": aid}
            )
            t["secret"] = post(f"/v1/admin/streams/{stream['stream_id']}/secrets", {"name": "s"})
            if other:
                assert t["key"]["key_id"] != other["key"]["key_id"]
                assert t["key"]["prefix"] != other["key"]["prefix"]
                assert t["secret"]["secret_id"] != other["secret"]["secret_id"]
                assert t["secret"]["prefix"] != other["secret"]["prefix"]
            return t

        def send(mid: str, client_id: str) -> None:
            r = http.post(
                f"/v1/collect?measurement_id={mid}",
                json={
                    "client_id": client_id,
                    "events": [
                        {"name": "purchase", "params": {"page_location": "https://b.example/"}}
                    ],
                },
                headers={"user-agent": CHROME},
            )
            assert r.status_code == 200, r.text
            app.process()

        def events(pid: str, key: str) -> Any:
            r = http.post(
                f"/v1beta/properties/{pid}:runReport",
                json={
                    "dateRanges": [{"startDate": "2015-08-14", "endDate": "today"}],
                    "metrics": [{"name": "eventCount"}],
                },
                headers={"authorization": f"Bearer {key}"},
            )
            if r.status_code != 200:
                return r.status_code
            return sum(int(row["metricValues"][0]["value"]) for row in r.json().get("rows", []))

        replayed.forget()  # first start's ids are not B's
        b = tenant("B")
        b_pid, b_mid = b["property"]["property_id"], b["property"]["streams"][0]["measurement_id"]
        b_key = b["key"]["value"]
        send(b_mid, "b.1")
        assert events(b_pid, b_key) == 1

        replayed.replay()
        a = tenant("A", b)
        assert replayed.repeats >= 7  # each create met one of B's identifiers first
        a_pid, a_mid = a["property"]["property_id"], a["property"]["streams"][0]["measurement_id"]
        a_key = a["key"]["value"]

        # B's property, key and stream are B's as before; A's key cannot see them
        r = http.get(f"/v1/admin/properties/{b_pid}", headers={"authorization": f"Bearer {b_key}"})
        assert r.status_code == 200 and r.json() == b["property"]
        assert (
            http.get(
                f"/v1/admin/properties/{b_pid}", headers={"authorization": f"Bearer {a_key}"}
            ).status_code
            == 404
        )
        assert events(b_pid, a_key) == 404
        send(b_mid, "b.2")  # B's stream still feeds B
        send(a_mid, "a.1")
        assert events(b_pid, b_key) == 2
        assert events(a_pid, a_key) == 1
        assert events(a_pid, b_key) == 404
    finally:
        runtime.stop()
