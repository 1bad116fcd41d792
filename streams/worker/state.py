"""Per-partition engines of one worker process, and their Faust-table stores.

Every (topic, partition) the worker owns gets its own :class:`~streams.core.engine.Engine`.
Its records persist in the topic's Faust table (one changelog message per event: the coarse
write), and its ledger lives in memory only: after a restart or a rebalance the engine is
rebuilt from the recovered table, so the ledger never needs a write of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import orjson

from streams.core.config import Config
from streams.core.engine import BASE_KEY, Engine
from streams.core.kpis import Family, contact_families
from streams.core.pipeline import PipelineStats

TP = tuple[str, int]  # (base topic name, partition)

#: How often (wall clock) an engine drops entities older than the retention.
PRUNE_EVERY_MS = 60_000


class TableStore:
    """A :class:`~streams.core.engine.RecordStore` over a Faust table of bytes.

    Must be called from inside the agent that consumes the partition: Faust sends each write
    to the changelog partition of the event being processed, which is the engine's partition.
    """

    def __init__(self, table: MutableMapping[bytes, bytes]) -> None:
        self._table = table

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._table[_table_key(key, record["p"])] = orjson.dumps(record)

    def delete(self, key: str) -> None:
        raw = key.encode()
        if raw in self._table:
            del self._table[raw]  # a tombstone on the changelog


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

    def __init__(self, config: Config, tables: Mapping[str, MutableMapping[bytes, bytes]],
                 clock_ms: Callable[[], int] | None = None) -> None:
        self.config = config
        self.tables = tables  # base topic -> Faust table
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
        grouped = records_by_partition(table.items()) if table is not None else {}
        for p in partitions:
            store = TableStore(table) if table is not None else None
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
        """Forget engines of partitions this worker no longer actively owns."""
        for tp in tps:
            self.engines.pop(tp, None)
            self._last_prune.pop(tp, None)

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
