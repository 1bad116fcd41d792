"""Checkpointing: every changed record written once, right before Faust commits offsets.

The engines mark records dirty through a :class:`TableStore`; :func:`flush_pending` writes each
dirty record once — to the Faust table's data and, explicitly to the engine's partition, to
its changelog — and :func:`flush_before_commit` makes the consumer do that right before it
commits the consumer offsets. So the changelog always holds at least what the committed
offsets cover: a crash loses only uncommitted work, which Kafka redelivers and the records'
event ids make a duplicate. An entity touched by many events between two commits (a call's
queued/answered/ended/wrap-up) costs one changelog message instead of one per event.

:func:`records_by_partition` reads a recovered table back, grouped by engine partition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, Protocol

import orjson

from streams.core.engine import BASE_KEY

log = logging.getLogger("ccpulse.worker")


class ChangelogTable(Protocol):
    """The part of a Faust table the worker uses: its local data and its changelog."""

    data: MutableMapping[bytes, bytes]

    def send_changelog(self, partition: int | None, key: Any, value: Any) -> Any: ...


#: table key -> (partition, record or None for a delete), written at the next commit
Pending = dict[bytes, tuple[int, dict[str, Any] | None]]


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


def flush_pending(table: ChangelogTable, pending: Pending) -> int:
    """Write every dirty record once (a tombstone for a delete); returns how many.

    Base records go first: a prune's deletes must never reach the changelog before the base
    record that keeps their counters (see ``Engine.prune``)."""
    count = len(pending)
    base = BASE_KEY.encode()
    ordered = sorted(pending.items(), key=lambda item: not item[0].startswith(base))
    for key, (partition, record) in ordered:
        if record is None:
            table.data.pop(key, None)
            table.send_changelog(partition, key, None)
        else:
            raw = encode_record(record)
            table.data[key] = raw
            table.send_changelog(partition, key, raw)
    pending.clear()
    return count


def flush_before_commit(consumer: Any, flush: Callable[[], int]) -> None:
    """Make ``consumer`` call ``flush`` right before it commits offsets.

    Faust's consumer flushes the producer and then commits in ``_commit_offsets``; sending the
    records' changelog messages just before that puts them in the same flush, so no offset is
    ever committed ahead of the state it produced. faust-streaming 0.15.x has no pre-commit
    hook (``tables.on_commit`` fires after the commit); a unit test pins the method this
    relies on.
    """
    commit_offsets = consumer._commit_offsets

    async def flushing_commit(offsets: Any, start_new_transaction: bool = True) -> Any:
        written = flush()
        log.debug("commit: %d dirty records written first", written)
        return await commit_offsets(offsets, start_new_transaction=start_new_transaction)

    consumer._commit_offsets = flushing_commit


def records_by_partition(
    items: Iterable[tuple[bytes, bytes]],
) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    """Decode a table's records and group them by the engine partition stored in each."""
    out: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for raw_key, raw_value in items:
        if raw_value is None:
            continue
        record = orjson.loads(raw_value)
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        if key.startswith(BASE_KEY + ":"):
            key = BASE_KEY
        out.setdefault(record["p"], []).append((key, record))
    return out
