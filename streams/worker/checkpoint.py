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
from itertools import islice
from operator import is_, itemgetter
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
    """A :class:`~streams.core.engine.RecordStore` that marks records dirty for the next flush.

    Given the table's local ``data`` and a RocksDB store behind it, it is also a
    :class:`~streams.core.engine.SpillStore`: the engine leaves idle records in it rather
    than in memory (issue 10: memory that stays flat), reading one back when an event, a
    prune or a reference needs it. It holds a key's latest put once no write of the key is
    pending and no checkpoint is in flight (``busy``: a checkpoint takes the pending writes
    before Kafka acknowledges them, and writes the local store after)."""

    def __init__(self, pending: Pending, partition: int, data: Any = None,
                 busy: Callable[[], bool] | None = None) -> None:
        self._pending = pending
        self._partition = partition
        self._db = (data._db_for_partition if hasattr(data, "_db_for_partition")
                    and busy is not None else None)
        self._busy = busy
        self.spills = self._db is not None

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._pending[table_key(key, self._partition)] = (self._partition, record)

    def delete(self, key: str) -> None:
        self._pending[table_key(key, self._partition)] = (self._partition, None)

    def holds(self, key: str) -> bool:
        """Whether :meth:`get` gives ``key``'s latest put: written, none pending or in flight."""
        return (self._db is not None and not self._busy()  # type: ignore[misc]
                and table_key(key, self._partition) not in self._pending)

    def get(self, key: str) -> dict[str, Any] | None:
        """``key``'s record in the local store, JSON-decoded (None: none, or no local store)."""
        if self._db is None:
            return None
        raw = self._db(self._partition).get(table_key(key, self._partition))
        return None if raw is None else orjson.loads(raw)  # type: ignore[no-any-return]


def table_key(key: str, partition: int) -> bytes:
    """Records are keyed by entity id, which lives in exactly one partition, except the base
    record that every partition has: it gets the partition number."""
    if key == BASE_KEY:
        return f"{BASE_KEY}:{partition}".encode()
    return key.encode()


#: orjson's fallback: records hold named tuples (events, state changes), which orjson does not
#: write itself; their slice ``[:]`` is the plain tuple of their fields, which it writes as a
#: list. In C: called for every event of every record written, a Python function was a fifth
#: of a checkpoint. What else orjson cannot write has no slice (``TypeError``) or one it
#: cannot write either (``bytes``): ``orjson.dumps`` raises for it as before.
_plain = itemgetter(slice(None))


def encode_record(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, default=_plain)


def _kept_json(item: Any) -> bytes:
    """The JSON of one list item, in a ``bytes`` of its own size, to be kept: orjson (3.12
    on) returns its output in a buffer of at least 4 KiB that it does not shrink (the length
    is right, the allocation is not), so the ~40,000 items of the agents' timelines that
    :class:`ListJson` keeps held ~160 MiB where their JSON is a few MiB (measured in a worker
    with ``tracemalloc``, 2026-12-02). The copy costs ~0.1 µs."""
    return bytes(memoryview(orjson.dumps(item, default=_plain)))


#: A record whose last field is a list of at least this many items (an agent's timeline holds
#: two days of state changes) is written with the JSON of the items its previous write already
#: had reused (:class:`ListJson`): a checkpoint usually adds a few state changes to it.
LONG_LIST = 64


class ListJson:
    """The JSON of each item of the long lists written last, per table key, so that the next
    write of the same record encodes only its new items.

    An item's JSON is reused only for the very same object (``is``) as last written: records
    hold immutable named tuples of strings, numbers and tuples, so the same object has the same
    JSON. Two changes keep most of a list: items added at the end, and the history trimmed at
    the head (an agent's oldest changes dropped, its new first change a new object); anything
    else is encoded anew. Bounded: at :data:`KEPT_ITEMS` items held, everything is forgotten.
    """

    KEPT_ITEMS = 500_000

    def __init__(self) -> None:
        self._lists: dict[bytes, tuple[list[Any], list[bytes]]] = {}
        self._items = 0

    def encode(self, key: bytes, record: dict[str, Any]) -> bytes:
        """``encode_record(record)``, byte for byte."""
        name = next(reversed(record), None)
        items = record[name] if name is not None else None
        if items.__class__ is not list or len(items) < LONG_LIST or name.__class__ is not str:
            if key in self._lists:
                self.forget(key)
            return orjson.dumps(record, default=_plain)
        parts = self._parts(key, items)  # type: ignore[arg-type]
        rest = orjson.dumps({k: v for k, v in record.items() if k != name}, default=_plain)
        field = orjson.dumps(name) + b":[" + b",".join(parts) + b"]}"
        return (rest[:-1] + b"," if len(rest) > 2 else b"{") + field

    def forget(self, key: bytes) -> None:
        kept = self._lists.pop(key, None)
        if kept is not None:
            self._items -= len(kept[0])

    def _parts(self, key: bytes, items: list[Any]) -> list[bytes]:
        kept = self._lists.get(key)
        parts = None
        if kept is not None:
            parts = _reused(items, *kept)
            self._items -= len(kept[0])
        if parts is None:
            parts = [_kept_json(item) for item in items]
        if self._items + len(items) > self.KEPT_ITEMS:
            self._lists.clear()
            self._items = 0
        self._lists[key] = (items.copy(), parts)
        self._items += len(items)
        return parts


def _reused(items: list[Any], old: list[Any], old_parts: list[bytes]) -> list[bytes] | None:
    """The JSON of ``items``, reusing ``old_parts`` (that of ``old``) where ``items`` holds the
    same objects in the same order: ``old`` then new items, or a new head, a tail of ``old``,
    then new items. ``None`` for any other change."""
    n, n_old = len(items), len(old)
    if n >= n_old and all(map(is_, items, old)):  # map stops at the shorter: old's length
        return old_parts + [_kept_json(item) for item in items[n_old:]]
    if n < 2:
        return None
    try:
        j = old.index(items[1])
    except ValueError:
        return None
    kept = n_old - j  # old[j:] should be items[1:1 + kept]
    if kept > n - 1 or not all(map(is_, islice(items, 1, None), islice(old, j, None))):
        return None
    head = old_parts[j - 1] if j and items[0] is old[j - 1] else _kept_json(items[0])
    return [head, *old_parts[j:], *[_kept_json(item) for item in items[1 + kept:]]]


#: The worker's: one process, one set of tables.
_LIST_JSON = ListJson()


def writes_by_partition(pending: Pending, lists: ListJson | None = None,
                        ) -> dict[int, list[Write]]:
    """Encode every dirty record once and group the writes by partition, emptying ``pending``.

    Base records go first: a prune's deletes must never be applied before the base record
    that keeps their counters (see ``Engine.prune``). Records with a long list reuse the JSON
    of the items their previous write had (``lists``, by default the process's
    :class:`ListJson`)."""
    lists = _LIST_JSON if lists is None else lists
    base = BASE_KEY.encode()
    out: dict[int, list[Write]] = {}
    later: list[tuple[bytes, tuple[int, dict[str, Any] | None]]] = []
    for item in pending.items():
        if item[0].startswith(base):
            _write(out, lists, *item)
        else:
            later.append(item)
    for item in later:
        _write(out, lists, *item)
    pending.clear()
    return out


def _write(out: dict[int, list[Write]], lists: ListJson, key: bytes,
           value: tuple[int, dict[str, Any] | None]) -> None:
    partition, record = value
    writes = out.get(partition)
    if writes is None:
        writes = out[partition] = []
    if record is None:
        lists.forget(key)
        writes.append((key, None))
    else:
        writes.append((key, lists.encode(key, record)))


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


#: Called with (store, partition, writes, offset) right before a local write: the snapshot
#: journal (``WorkerState.journal_write``, streams.worker.journal).
BeforeWrite = Callable[[Any, int, list[Write], int | None], None]


def write_local(data: Any, partition: int, writes: list[Write],
                offset: int | None = None, before: BeforeWrite | None = None) -> None:
    """Write ``writes`` to the table's local store: one atomic RocksDB write batch into the
    partition's database (Faust's ``rocksdb://`` store), with the changelog ``offset`` they
    cover as the persisted offset; or into the dict of the ``memory://`` store. ``before``,
    if given, is called first (it journals what the keys held)."""
    if before is not None:
        before(data, partition, writes, offset)
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
                     producer: Any, before: BeforeWrite | None = None) -> int:
    """Write every dirty record: changelog first, acknowledged, then the local store (see the
    module docstring; ``before`` as for :func:`write_local`). Returns how many records were
    written. Raises what the producer raises when Kafka refuses a write (the commit then
    fails and nothing is committed)."""
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
        write_local(table.data, partition, writes, offset=offset, before=before)
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
