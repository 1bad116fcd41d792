"""Per-partition engines of one worker process, and their Faust-table stores.

Every (topic, partition) the worker owns gets its own :class:`~streams.core.engine.Engine`.
Its records persist in the topic's Faust table — each changed record once per commit, see
``streams.worker.checkpoint`` — and its ledger lives in memory only: after a restart or a
rebalance the engine is rebuilt from the recovered table, so the ledger needs no write of its
own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from streams.core.config import Config
from streams.core.engine import Directory, Engine
from streams.core.kpis import all_families
from streams.core.metrics import Family
from streams.core.pipeline import PipelineStats
from streams.worker.checkpoint import (
    ChangelogTable,
    Pending,
    TableStore,
    flush_pending,
    records_by_partition,
)

TP = tuple[str, int]  # (base topic name, partition)


class WorkerState:
    """Engines per owned partition, pipeline counts, and the snapshot for ``/metrics``."""

    def __init__(self, config: Config, tables: Mapping[str, ChangelogTable],
                 clock_us: Callable[[], int] | None = None) -> None:
        self.config = config
        self.tables = tables  # base topic -> Faust table
        self.pending: dict[str, Pending] = {topic: {} for topic in tables}
        self.engines: dict[TP, Engine] = {}
        #: Partition number -> the directory its engines share (a survey finds the queue of
        #: its contact in the calls/chats/tickets engine of the same number: the topics are
        #: keyed by the same ids and co-partitioned).
        self.directories: dict[int, Directory] = {}
        self.stats = PipelineStats()
        #: The wall clock (epoch µs): which windows are current, live ages, the future limit.
        self.clock_us = clock_us or (lambda: time.time_ns() // 1000)
        self.last_offsets: dict[TP, int] = {}

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
            directory = self.directories.setdefault(p, Directory())
            old = self.engines.get((topic, p))
            if old is not None:
                directory.detach(old)
            engine = Engine(self.config, store, partition=p, directory=directory)
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
            engine = self.engines.pop(tp, None)
            if engine is not None:
                engine.directory.detach(engine)

    def flush(self) -> int:
        """Write every dirty record to its table and changelog (called before a commit)."""
        return sum(flush_pending(self.tables[t], p) for t, p in self.pending.items() if p)

    def families(self, active: Iterable[TP]) -> list[Family]:
        now = self.clock_us()
        ledgers = [self.engines[tp].ledger for tp in sorted(set(active)) if tp in self.engines]
        return [*all_families(self.config, ledgers, now), *self.stats.families()]
