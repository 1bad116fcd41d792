"""Checkpointing: every changed record written once, right before Faust commits offsets.

The engines mark records dirty through a :class:`TableStore`. At each commit,
:func:`checkpoint` writes each dirty record once, in this order:

1. to the table's **changelog** (one Kafka batch per partition, ``acks=all``), and waits until
   Kafka has acknowledged every message;
2. to the table's **local store** (a RocksDB database per partition, or memory), with the
   changelog offset it now covers (Faust's *persisted offset*, so a restart reads only the
   changelog after it);
3. only then are the consumer offsets committed (:func:`flush_before_commit`).

So the changelog always holds at least what the local store holds, and both at least what the
committed offsets cover: a crash loses only uncommitted work, which Kafka redelivers and the
records' event ids make a duplicate. (Faust's own ``table[key] = value`` writes the local store
first and its offset when the changelog answers; a crash between the two leaves a local record
the changelog never got, and a node without that disk would recover without it.) An entity
touched by many events between two commits (a call's queued/answered/ended/wrap-up) costs one
changelog message instead of one per event.

:func:`local_base` and :func:`local_slices` read a partition's records back from the local store.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any, Protocol

import orjson

from streams.core.engine import BASE_KEY

log = logging.getLogger("ccpulse.worker")


class ChangelogTable(Protocol):
    """The part of a Faust table the worker uses: its local data and its changelog topic."""

    data: MutableMapping[bytes, bytes]
    changelog_topic: Any


#: table key -> (partition, record or None for a delete), written at the next commit
Pending = dict[bytes, tuple[int, dict[str, Any] | None]]
#: One record as written: table key and JSON bytes, or None for a delete.
Write = tuple[bytes, bytes | None]


class TableStore:
    """A :class:`~streams.core.engine.RecordStore` that marks records dirty for the next flush."""

    def __init__(self, pending: Pending, partition: int) -> None:
        self._pending = pending
        self._partition = partition

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._pending[table_key(key, self._partition)] = (self._partition, record)

    def delete(self, key: str) -> None:
        self._pending[table_key(key, self._partition)] = (self._partition, None)


def table_key(key: str, partition: int) -> bytes:
    """Records are keyed by entity id, which lives in exactly one partition, except the base
    record that every partition has: it gets the partition number."""
    if key == BASE_KEY:
        return f"{BASE_KEY}:{partition}".encode()
    return key.encode()


def _plain(value: Any) -> Any:
    """orjson's fallback: records hold named tuples (events, state changes); store lists."""
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot persist {type(value).__name__}")


def encode_record(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, default=_plain)


def writes_by_partition(pending: Pending) -> dict[int, list[Write]]:
    """Encode every dirty record once and group the writes by partition, emptying ``pending``.

    Base records go first: a prune's deletes must never be applied before the base record
    that keeps their counters (see ``Engine.prune``)."""
    base = BASE_KEY.encode()
    out: dict[int, list[Write]] = {}
    for key, (partition, record) in sorted(pending.items(),
                                           key=lambda item: not item[0].startswith(base)):
        out.setdefault(partition, []).append(
            (key, None if record is None else encode_record(record)))
    pending.clear()
    return out


#: A queued Kafka batch: its future (resolving to the ``RecordMetadata`` of its first message)
#: and how many messages it holds.
Sent = tuple[Awaitable[Any], int]


async def send_changelog(producer: Any, topic: str, partition: int,
                         writes: list[Write]) -> list[Sent]:
    """Queue ``writes`` on ``topic``/``partition`` in as few Kafka batches as fit (aiokafka's
    ``create_batch``/``send_batch``); returns the batches in order."""
    futures: list[Sent] = []
    batch = producer.create_batch()
    for key, value in writes:
        if batch.append(key=key, value=value, timestamp=None) is None:
            futures.append((await producer.send_batch(batch, topic, partition=partition),
                            batch.record_count()))
            batch = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a record of {len(value or b'')} bytes does not fit in a "
                                 f"Kafka batch of {topic}: raise the producer's max_batch_size")
    if batch.record_count():
        futures.append((await producer.send_batch(batch, topic, partition=partition),
                        batch.record_count()))
    return futures


def write_local(data: Any, partition: int, writes: list[Write],
                offset: int | None = None) -> None:
    """Write ``writes`` to the table's local store: one atomic RocksDB write batch into the
    partition's database (Faust's ``rocksdb://`` store), with the changelog ``offset`` they
    cover as the persisted offset; or into the dict of the ``memory://`` store."""
    if hasattr(data, "_db_for_partition"):  # faust.stores.rocksdb.Store
        import rocksdict

        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if offset is not None:
            batch.put(data.offset_key, str(offset).encode())
        data._db_for_partition(partition).write(batch)
        return
    for key, value in writes:
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value


async def checkpoint(tables: dict[str, ChangelogTable], pending: dict[str, Pending],
                     producer: Any) -> int:
    """Write every dirty record: changelog first, acknowledged, then the local store (see the
    module docstring). Returns how many records were written. Raises what the producer raises
    when Kafka refuses a write (the commit then fails and nothing is committed)."""
    # One snapshot of every table, taken before the first await: the engines keep applying
    # events while Kafka answers, and an event can change records of two tables (a contact
    # and the survey whose queue follows it); tables written as of different instants could
    # restore a survey that missed a change its contact already holds.
    snapshot = [(tables[topic], writes_by_partition(dirty))
                for topic, dirty in pending.items() if dirty]
    sent: list[tuple[Any, int, list[Write], list[Sent]]] = []
    count = 0
    for table, by_partition in snapshot:
        name = table.changelog_topic.get_topic_name()
        # aiokafka's send_batch finds a topic in the metadata cache without tracking it when
        # an earlier all-topics fetch put it there; the next update asks for tracked topics
        # only, the topic's leaders drop out, and the batch waits for ever while the sender
        # forces metadata updates (a worker stalled mid-backlog at 60 % CPU). Track it first.
        await producer.client.add_topic(name)
        for partition, writes in by_partition.items():
            futures = await send_changelog(producer, name, partition, writes)
            sent.append((table, partition, writes, futures))
            count += len(writes)
    for table, partition, writes, batches in sent:
        offset = None
        for future, size in batches:
            offset = (await future).offset + size - 1
        write_local(table.data, partition, writes, offset=offset)
    return count


def flush_before_commit(consumer: Any, flush: Callable[[], Awaitable[int]]) -> None:
    """Make ``consumer`` await ``flush`` right before it commits offsets.

    Faust's consumer flushes the producer and then commits in ``_commit_offsets``; writing the
    records first (:func:`checkpoint` waits for Kafka's acknowledgement) means no offset is
    ever committed ahead of the state it produced. faust-streaming 0.15.x has no pre-commit
    hook (``tables.on_commit`` fires after the commit); a unit test pins the method this
    relies on.
    """
    commit_offsets = consumer._commit_offsets

    async def flushing_commit(offsets: Any, start_new_transaction: bool = True) -> Any:
        written = await flush()
        log.debug("commit: %d dirty records written first", written)
        return await commit_offsets(offsets, start_new_transaction=start_new_transaction)

    consumer._commit_offsets = flushing_commit


def local_base(data: Any, partition: int) -> dict[str, Any] | None:
    """The base record of ``partition`` in a table's local store, if any."""
    key = table_key(BASE_KEY, partition)
    raw = data._db_for_partition(partition).get(key) if hasattr(data, "_db_for_partition") \
        else data.get(key)
    return None if raw is None else orjson.loads(raw)


def local_slices(data: Any, partition: int, size: int,
                 ) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The entity records of ``partition`` in a table's local store (base record left out),
    decoded, ``size`` at a time: a worker restores a large partition slice by slice."""
    base = table_key(BASE_KEY, partition)
    if hasattr(data, "_db_for_partition"):
        skip = {data.offset_key, base}
        items: Iterable[tuple[bytes, bytes]] = (
            (k, v) for k, v in data._db_for_partition(partition).items() if k not in skip)
    else:
        items = ((k, v) for k, v in list(data.items()) if k != base)
    chunk: list[tuple[str, dict[str, Any]]] = []
    for raw_key, raw_value in items:
        if raw_value is None:
            continue
        record = orjson.loads(raw_value)
        if record.get("p", partition) != partition or record.get("kind") == "base":
            continue
        chunk.append((raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key), record))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
