"""Insert-if-absent tenancy records on Cassandra: lightweight transactions on the lookup and
on the id, the lookup released when the id is taken, one winner among concurrent creators, and
the ``Tenancy`` service drawing fresh ids when a repeating generator hands out taken ones."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from clusterkit import cluster  # noqa: F401 (the fixture)

from conftest import CLOCK
from footfall.tenancy.model import Account, ApiKey, Property, Scope, Stream
from footfall.tenancy.service import Tenancy
from test_ids import ReplayIds

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def store(cluster: Any) -> Iterator[Any]:
    from footfall.store.cassandra import CassandraStore  # the cluster extra, only here

    cluster.migrate("UTC")  # the keyspace, and first start's operator key through insert
    s = CassandraStore(cluster.env["FOOTFALL_STORE"])
    yield s
    s.close()


def _stream(stream_id: str, mid: str, name: str = "Web") -> Stream:
    return Stream(
        stream_id=stream_id,
        property_id="100000001",
        account_id="acc_a",
        name=name,
        measurement_id=mid,
    )


def test_insert_refuses_a_taken_id_or_lookup_and_releases_what_it_claimed(
    store: Any,
) -> None:
    assert store.insert(Account(account_id="acc_b", name="B"))
    assert not store.insert(Account(account_id="acc_b", name="A"))
    assert store.get(Account, "acc_b") == Account(account_id="acc_b", name="B")

    assert store.insert(_stream("str_b", "G-BBBBBBBBBB", "B's"))
    assert not store.insert(_stream("str_a", "G-BBBBBBBBBB", "A's"))  # the measurement id
    assert store.find(Stream, "G-BBBBBBBBBB") == _stream("str_b", "G-BBBBBBBBBB", "B's")
    # the id is taken: the new lookup claimed first is released again ...
    assert not store.insert(_stream("str_b", "G-CCCCCCCCCC", "A's"))
    assert store.find(Stream, "G-CCCCCCCCCC") is None
    assert store.get(Stream, "str_b") == _stream("str_b", "G-BBBBBBBBBB", "B's")
    # ... so another stream may have it
    assert store.insert(_stream("str_c", "G-CCCCCCCCCC"))
    assert store.find(Stream, "G-CCCCCCCCCC") == _stream("str_c", "G-CCCCCCCCCC")

    store.put(Account(account_id="acc_b", name="B renamed"))  # updates stay updates
    assert store.get(Account, "acc_b") == Account(account_id="acc_b", name="B renamed")


def test_concurrent_inserts_of_one_prefix_let_exactly_one_win(store: Any) -> None:
    start = threading.Barrier(6)
    won: list[str] = []

    def create(i: int) -> None:
        start.wait()
        key = ApiKey(
            key_id=f"key_race{i}",
            account_id="acc_b",
            name=f"n{i}",
            prefix="ffk_racing01",
            hash="h",
            scopes=(Scope.READ,),
        )
        if store.insert(key):
            won.append(key.key_id)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    found = store.find(ApiKey, "ffk_racing01")
    assert found is not None and found.key_id == won[0]
    losers = [store.get(ApiKey, f"key_race{i}") for i in range(6) if f"key_race{i}" != won[0]]
    assert losers == [None] * 5


def test_repeated_ids_on_cassandra_get_fresh_ones(store: Any) -> None:
    ids = ReplayIds()
    t = Tenancy(store, CLOCK, ids=ids)
    b = t.create_account("B")
    b_prop = t.create_property(b.account_id, "B shop")
    b_stream = t.create_stream(b_prop.property_id, "Web")
    b_key = t.create_key(b.account_id, "B", ["read"])
    ids.replay()
    a = t.create_account("A")
    a_prop = t.create_property(a.account_id, "A shop")
    a_stream = t.create_stream(a_prop.property_id, "Web")
    a_key = t.create_key(a.account_id, "A", ["read"])
    assert ids.repeats >= 4
    assert a.account_id != b.account_id and a_prop.property_id != b_prop.property_id
    assert a_stream.measurement_id != b_stream.measurement_id
    assert a_key.record.prefix != b_key.record.prefix
    assert (
        store.get(Account, b.account_id) == b and store.get(Property, b_prop.property_id) == b_prop
    )
    assert t.by_measurement_id(b_stream.measurement_id) == (b_stream, b_prop)
    assert t.authenticate(b_key.value) == b_key.record
    assert t.authenticate(a_key.value) == a_key.record
