"""Per-partition engines of one worker process, and their Faust-table stores.

Every (topic, partition) the worker owns gets its own :class:`~streams.core.engine.Engine`.
Its records persist in the topic's Faust table — each changed record once per commit, see
:class:`TableStore` — and its ledger lives in memory only: after a restart or a rebalance the
engine is rebuilt from the recovered table, so the ledger never needs a write of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any, Protocol

import orjson

from streams.core.config import Config
from streams.core.engine import BASE_KEY, Engine
from streams.core.kpis import Family, contact_families
from streams.core.pipeline import PipelineStats

TP = tuple[str, int]  # (base topic name, partition)

#: How often (wall clock) an engine drops entities older than the retention.
PRUNE_EVERY_MS = 60_000


class ChangelogTable(Protocol):
    """The part of a Faust table the worker uses: its local data and its changelog."""

    data: MutableMapping[bytes, bytes]

    def send_changelog(self, partition: int | None, key: Any, value: Any) -> Any: ...


#: table key -> (partition, record or None for a delete), written at the next commit
Pending = dict[bytes, tuple[int, dict[str, Any] | None]]


class TableStore:
    """A :class:`~streams.core.engine.RecordStore` over a Faust table, written at commit.

    ``put``/``delete`` only mark the record dirty; :func:`flush_pending` writes each dirty
    record once — to the table's data and, explicitly to the engine's partition, to its
    changelog — right before Faust commits the consumer offsets (``Pipeline`` hooks it
    there). So the changelog always holds at least what the committed offsets cover: a crash
    loses only uncommitted work, which Kafka redelivers, and the records' event ids make any
    re-application a duplicate. An entity touched by many events between two commits (a call's
    queued/answered/ended/wrap-up) costs one changelog message instead of one per event.
    """

    def __init__(self, pending: Pending, partition: int) -> None:
        self._pending = pending
        self._partition = partition

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._pending[_table_key(key, self._partition)] = (self._partition, record)

    def delete(self, key: str) -> None:
        self._pending[key.encode()] = (self._partition, None)


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
            raw = orjson.dumps(record)
            table.data[key] = raw
            table.send_changelog(partition, key, raw)
    pending.clear()
    return count




def _table_key(key: str, partition: int) -> bytes:
    # Records are keyed by entity id, which lives in exactly one partition, except the base
    # record that every partition has: give it the partition number.
    if key == BASE_KEY:
        return f"{BASE_KEY}:{partition}".encode()
    return key.encode()


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


class WorkerState:
    """Engines per owned partition, pipeline counts, and the snapshot for ``/metrics``."""

    def __init__(self, config: Config, tables: Mapping[str, ChangelogTable],
                 clock_ms: Callable[[], int] | None = None) -> None:
        self.config = config
        self.tables = tables  # base topic -> Faust table
        self.pending: dict[str, Pending] = {topic: {} for topic in tables}
        self.engines: dict[TP, Engine] = {}
        self.stats = PipelineStats()
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.last_offsets: dict[TP, int] = {}
        self._last_prune: dict[TP, int] = {}

    def engine(self, tp: TP) -> Engine:
        """The engine of ``tp``, rebuilt from its recovered table the first time it is used."""
        engine = self.engines.get(tp)
        if engine is None:
            self.rebuild(tp[0], {tp[1]})
            engine = self.engines[tp]
        return engine

    def rebuild(self, topic: str, partitions: set[int]) -> None:
        """Build the engines of ``partitions`` of ``topic`` in one pass over its table."""
        table = self.tables.get(topic)
        grouped = records_by_partition(table.data.items()) if table is not None else {}
        for p in partitions:
            store = TableStore(self.pending[topic], p) if table is not None else None
            engine = Engine(self.config, store, partition=p)
            engine.rebuild(grouped.get(p, []))
            self.engines[(topic, p)] = engine

    def ensure(self, active: Iterable[TP]) -> None:
        missing: dict[str, set[int]] = {}
        for tp in active:
            if tp not in self.engines:
                missing.setdefault(tp[0], set()).add(tp[1])
        for topic, parts in missing.items():
            self.rebuild(topic, parts)

    def drop(self, tps: Iterable[TP]) -> None:
        """Forget engines of partitions no longer actively owned (after :meth:`flush`)."""
        for tp in tps:
            self.engines.pop(tp, None)
            self._last_prune.pop(tp, None)

    def flush(self) -> int:
        """Write every dirty record to its table and changelog (called before a commit)."""
        return sum(flush_pending(self.tables[t], p) for t, p in self.pending.items() if p)

    def maybe_prune(self, tp: TP, engine: Engine, now_ms: int) -> None:
        last = self._last_prune.get(tp)
        if last is None:
            self._last_prune[tp] = now_ms
        elif now_ms - last >= PRUNE_EVERY_MS:
            self._last_prune[tp] = now_ms
            engine.prune(now_ms)

    def families(self, active: Iterable[TP]) -> list[Family]:
        now = self.clock_ms()
        ledgers = [self.engines[tp].ledger for tp in sorted(set(active)) if tp in self.engines]
        return [*contact_families(self.config, ledgers, now), *self.stats.families()]
