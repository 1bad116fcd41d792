"""Checkpoint order (streams/worker/checkpoint.py): changelog acknowledged, then the local
store with the changelog offset it covers, then — and only then — the consumer offsets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import rocksdict

from streams.worker.checkpoint import (
    checkpoint,
    flush_before_commit,
    local_slices,
    write_local,
)

OFFSET_KEY = b"__faust\0offset__"


class FakeBatch:
    def __init__(self, room: int) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []
        self.room = room

    def append(self, *, key: bytes, value: bytes | None, timestamp: Any) -> Any:
        if len(self.records) >= self.room:
            return None
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class FakeProducer:
    """aiokafka's batch API; each batch's future stays pending until :meth:`acknowledge`."""

    def __init__(self, room: int = 100) -> None:
        self.room = room
        self.sent: list[tuple[str, int, FakeBatch, asyncio.Future]] = []
        self.next_offset: dict[tuple[str, int], int] = {}
        self.tracked: set[str] = set()
        self.client = SimpleNamespace(add_topic=self._add_topic)

    def _add_topic(self, topic: str) -> asyncio.Future:
        self.tracked.add(topic)
        future = asyncio.get_running_loop().create_future()
        future.set_result(True)
        return future

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.room)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        assert topic in self.tracked, "a changelog topic must be tracked before send_batch"
        future = asyncio.get_running_loop().create_future()
        self.sent.append((topic, partition, batch, future))
        return future

    def acknowledge(self) -> None:
        for topic, partition, batch, future in self.sent:
            if not future.done():
                base = self.next_offset.get((topic, partition), 100)
                self.next_offset[(topic, partition)] = base + batch.record_count()
                future.set_result(SimpleNamespace(offset=base))


class MemoryTable:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: "app-calls-changelog")


class RocksStore:
    """Faust's rocksdb Store as far as the checkpoint uses it: one database per partition."""

    offset_key = OFFSET_KEY

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dbs: dict[int, rocksdict.Rdict] = {}

    def _db_for_partition(self, partition: int) -> rocksdict.Rdict:
        if partition not in self.dbs:
            self.dbs[partition] = rocksdict.Rdict(str(self.root / f"p{partition}.db"),
                                                  options=rocksdict.Options(raw_mode=True))
        return self.dbs[partition]

    def close(self) -> None:
        for db in self.dbs.values():
            db.close()


def rec(p: int, n: int) -> dict[str, Any]:
    return {"kind": "call", "p": p, "n": n}


def test_the_local_store_is_written_only_after_kafka_acknowledged_the_changelog():
    async def scenario() -> None:
        table = MemoryTable()
        producer = FakeProducer()
        pending = {"cc.calls": {b"c1": (0, rec(0, 1)), b"c2": (1, rec(1, 2))}}
        task = asyncio.create_task(checkpoint({"cc.calls": table}, pending, producer))
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(producer.sent) == 2  # one batch per partition, queued
        assert table.data == {}  # nothing local before Kafka answered
        assert pending["cc.calls"] == {}  # taken: new changes go to the next checkpoint
        producer.acknowledge()
        assert await task == 2
        assert orjson.loads(table.data[b"c1"]) == rec(0, 1)

    asyncio.run(scenario())


def test_a_failed_changelog_write_leaves_the_local_store_untouched_and_raises():
    async def scenario() -> None:
        table = MemoryTable()
        producer = FakeProducer()
        task = asyncio.create_task(checkpoint(
            {"cc.calls": table}, {"cc.calls": {b"c1": (0, rec(0, 1))}}, producer))
        for _ in range(5):
            await asyncio.sleep(0)
        producer.sent[0][3].set_exception(ConnectionError("broker gone"))
        with pytest.raises(ConnectionError):
            await task
        assert table.data == {}

    asyncio.run(scenario())


def test_base_records_are_written_before_the_deletes_they_account_for():
    from streams.core.engine import BASE_KEY

    base = f"{BASE_KEY}:0".encode()

    async def with_real_base() -> list[bytes]:
        producer = FakeProducer()
        pending = {"cc.calls": {b"old": (0, None), base: (0, rec(0, 0))}}
        task = asyncio.create_task(checkpoint({"cc.calls": MemoryTable()}, pending, producer))
        for _ in range(5):
            await asyncio.sleep(0)
        producer.acknowledge()
        await task
        return [k for k, _ in producer.sent[0][2].records]

    assert asyncio.run(with_real_base()) == [base, b"old"]


def test_rocksdb_gets_the_records_and_the_changelog_offset_of_the_last_batch(tmp_path):
    async def scenario(store: RocksStore) -> None:
        table = SimpleNamespace(data=store, changelog_topic=MemoryTable().changelog_topic)
        producer = FakeProducer(room=2)  # 5 records -> batches of 2, 2, 1
        pending = {"cc.calls": {f"c{i}".encode(): (3, rec(3, i)) for i in range(5)}}
        task = asyncio.create_task(checkpoint({"cc.calls": table}, pending, producer))
        for _ in range(10):
            await asyncio.sleep(0)
        assert len(producer.sent) == 3
        producer.acknowledge()
        await task

    store = RocksStore(tmp_path)
    try:
        asyncio.run(scenario(store))
        db = store._db_for_partition(3)
        assert db[OFFSET_KEY] == b"104"  # offsets 100..104: Faust resumes at 105
        assert orjson.loads(db[b"c4"]) == rec(3, 4)
        restored = [key for chunk in local_slices(store, 3, 2) for key, _ in chunk]
        assert sorted(restored) == [f"c{i}" for i in range(5)]
    finally:
        store.close()


def test_a_delete_removes_the_record_from_rocksdb(tmp_path):
    store = RocksStore(tmp_path)
    try:
        write_local(store, 0, [(b"a", b'{"p": 0}'), (b"b", b'{"p": 0}')], offset=7)
        write_local(store, 0, [(b"a", None)], offset=8)
        assert [k for chunk in local_slices(store, 0, 10) for k, _ in chunk] == ["b"]
        assert store._db_for_partition(0)[OFFSET_KEY] == b"8"
    finally:
        store.close()


def test_a_record_larger_than_a_kafka_batch_is_a_clear_error():
    async def scenario() -> None:
        producer = FakeProducer(room=0)
        await checkpoint({"cc.calls": MemoryTable()}, {"cc.calls": {b"c": (0, rec(0, 1))}},
                         producer)

    with pytest.raises(ValueError, match="does not fit in a Kafka batch"):
        asyncio.run(scenario())


def test_offsets_are_committed_only_after_the_state_they_cover_is_written():
    """The order the whole at-least-once guarantee rests on: if the commit ran before the
    checkpoint (or without waiting for it), the committed call would find no local record
    and unacknowledged changelog batches, and this test fails."""
    seen_at_commit: dict[str, Any] = {}

    async def scenario() -> None:
        table = MemoryTable()
        producer = FakeProducer()
        pending = {"cc.calls": {b"c1": (0, rec(0, 1))}}

        async def commit_offsets(offsets: Any, start_new_transaction: bool = True) -> bool:
            seen_at_commit["local"] = dict(table.data)
            seen_at_commit["acknowledged"] = all(f.done() for *_, f in producer.sent)
            seen_at_commit["offsets"] = offsets
            return True

        consumer = SimpleNamespace(_commit_offsets=commit_offsets)

        async def flush() -> int:
            writing = asyncio.create_task(checkpoint({"cc.calls": table}, pending, producer))
            for _ in range(5):
                await asyncio.sleep(0)
            producer.acknowledge()  # Kafka answers while the checkpoint waits
            return await writing

        flush_before_commit(consumer, flush)
        assert await consumer._commit_offsets({"tp": 5}) is True

    asyncio.run(scenario())
    assert b"c1" in seen_at_commit["local"]
    assert seen_at_commit["acknowledged"] is True
    assert seen_at_commit["offsets"] == {"tp": 5}
