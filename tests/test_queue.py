"""The queue port, on the memory adapter and the durable local (SQLite WAL) adapter."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from footfall.queue import open_consumer, open_publisher
from footfall.queue.local import LocalPublisher
from footfall.queue.memory import reset_memory_logs

_names = itertools.count()


@pytest.fixture(params=["memory", "local"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "memory":
        yield f"memory://t{next(_names)}"
        reset_memory_logs()
    else:
        yield f"local://{tmp_path / 'queue.sqlite3'}"


def publish(url: str, values: list[bytes]) -> None:
    pub = open_publisher(url)
    asyncio.run(pub.publish([(b"k", v) for v in values]))
    pub.close()


def test_consume_commit_and_resume(url: str) -> None:
    publish(url, [b"a", b"b", b"c"])
    consumer = open_consumer(url, "g")
    batch = consumer.poll(2, 0)
    assert batch.messages == [b"a", b"b"]
    consumer.commit(batch)
    uncommitted = consumer.poll(10, 0)
    assert uncommitted.messages == [b"c"]
    consumer.close()
    # a new member of the group starts after the last commit: the uncommitted batch comes again
    again = open_consumer(url, "g")
    assert again.poll(10, 0).messages == [b"c"]
    assert again.poll(10, 0).messages == []
    again.close()


def test_groups_are_independent(url: str) -> None:
    publish(url, [b"x"])
    a, b = open_consumer(url, "a"), open_consumer(url, "b")
    a.commit(a.poll(10, 0))
    assert b.poll(10, 0).messages == [b"x"]
    a.close()
    b.close()


def test_seek_replays_from_a_time(url: str) -> None:
    publish(url, [b"old"])
    time.sleep(0.01)
    middle = time.time_ns() // 1000
    time.sleep(0.01)
    publish(url, [b"new1", b"new2"])
    c = open_consumer(url, "g")
    c.commit(c.poll(10, 0))
    assert c.poll(10, 0).messages == []
    c.seek(middle)
    assert c.poll(10, 0).messages == [b"new1", b"new2"]
    c.seek(0)
    assert c.poll(10, 0).messages == [b"old", b"new1", b"new2"]
    c.close()


def test_poll_waits_up_to_the_timeout(url: str) -> None:
    c = open_consumer(url, "g")
    started = time.monotonic()
    assert c.poll(10, 0.1).messages == []
    assert time.monotonic() - started >= 0.09
    c.close()


def test_local_queue_survives_reopening(tmp_path: Path) -> None:
    url = f"local://{tmp_path / 'q.sqlite3'}"
    publish(url, [b"durable"])
    c = open_consumer(url, "g")
    assert c.poll(10, 0).messages == [b"durable"]
    c.close()


def test_group_commit_shares_one_transaction_between_concurrent_publishers(tmp_path: Path) -> None:
    pub = LocalPublisher(str(tmp_path / "q.sqlite3"))

    async def many() -> None:
        await asyncio.gather(*(pub.publish([(b"k", f"m{i}".encode())]) for i in range(200)))

    asyncio.run(many())
    commits = pub.commits
    pub.close()
    assert commits < 200  # concurrent requests shared fsyncs
    c = open_consumer(f"local://{tmp_path / 'q.sqlite3'}", "g")
    assert len(c.poll(1000, 0).messages) == 200
    c.close()


def test_retention_trims_only_old_committed_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "q.sqlite3")
    pub = LocalPublisher(path, retention_hours=1)
    asyncio.run(pub.publish([(b"k", b"1"), (b"k", b"2"), (b"k", b"3")]))
    c = open_consumer(f"local://{path}", "g")
    batch = c.poll(2, 0)
    c.commit(batch)
    assert pub.trim(now_us=time.time_ns() // 1000) == 0  # recent: kept for replay
    later = time.time_ns() // 1000 + 2 * 3_600_000_000
    assert pub.trim(now_us=later) == 2  # old and committed
    assert c.poll(10, 0).messages == [b"3"]  # old but not committed: kept
    c.close()
    pub.close()


def test_unmarked_tests_cannot_reach_the_cluster_engines() -> None:
    from footfall.store import open_store

    with pytest.raises(RuntimeError, match=r"mark it @pytest\.mark\.cluster"):
        open_publisher("kafka://127.0.0.1:9092/anything")
    with pytest.raises(RuntimeError, match=r"mark it @pytest\.mark\.cluster"):
        open_store("cassandra://127.0.0.1:9042/anything")
