"""A worker that crashed after its last engine snapshot restarts from it (streams.worker.journal):
every write to a partition's local store after the snapshot journals what the keys held, and
the engine restored from the snapshot, caught up with the journaled keys, gives exactly what the
engine that crashed gave. A journal that does not cover the store (torn by a machine crash, or
a write that went around it) makes the worker rebuild from the records instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import rocksdict
from test_engine_invariants import config, exported, traffic

from streams.core.engine import Engine
from streams.worker import state as state_module
from streams.worker.checkpoint import write_local, writes_by_partition
from streams.worker.snapshots import Snapshots
from streams.worker.state import WorkerState

TP = ("cc.calls", 0)


class RocksData:
    """The part of Faust's RocksDB store the worker uses: a real RocksDB database per partition
    (raw bytes, as Faust's ``rocksdb://`` store opens them)."""

    offset_key = b"__faust\x00offset__"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dbs: dict[int, rocksdict.Rdict] = {}

    def _db_for_partition(self, partition: int) -> rocksdict.Rdict:
        db = self.dbs.get(partition)
        if db is None:
            options = rocksdict.Options(raw_mode=True)
            db = self.dbs[partition] = rocksdict.Rdict(str(self.root / f"p{partition}"),
                                                       options=options)
        return db


class Table:
    def __init__(self, root: Path) -> None:
        self.data = RocksData(root)
        self.changelog_topic = None


class Worker:
    """A worker's state over one table, with checkpoints that write the local store as the real
    one does after Kafka acknowledged the changelog (the offsets a changelog would give)."""

    def __init__(self, root: Path, table: Table | None = None) -> None:
        self.root = root
        self.table = table or Table(root / "store")
        self.config = config()
        self.state = WorkerState(self.config, {"cc.calls": self.table},
                                 snapshots=Snapshots(root / "snapshots", self.config))
        self.offset = int(self.table.data._db_for_partition(0).get(RocksData.offset_key)
                          or b"-1")

    def checkpoint(self, *, journal: bool = True) -> None:
        for partition, writes in writes_by_partition(self.state.pending["cc.calls"]).items():
            self.offset += len(writes)
            write_local(self.table.data, partition, writes, offset=self.offset,
                        before=self.state.journal_write if journal else None)

    def run(self, events, every: int = 200) -> Engine:
        engine = self.state.engine(TP)
        for i, event in enumerate(events, 1):
            engine.apply(event)
            engine.maybe_prune()
            if i % every == 0:
                self.checkpoint()
        self.checkpoint()
        return engine


@pytest.mark.parametrize(("at_snapshot", "at_crash"), [(0.2, 0.45), (0.3, 0.7), (0.5, 0.95)])
def test_a_worker_that_crashed_after_its_snapshot_restarts_from_it_and_the_journal(
        tmp_path, at_snapshot, at_crash, status_lines):
    events = traffic()
    n, m = int(len(events) * at_snapshot), int(len(events) * at_crash)
    first = Worker(tmp_path)
    engine = first.run(events[:n])
    assert first.state.write_snapshots() == 1
    first.run(events[n:m])  # then it crashes: no snapshot at the stop
    again = Worker(tmp_path, first.table)  # a new process on the same data directory
    restored = again.state.engine(TP)
    assert again.state.from_snapshots == 1, status_lines()
    now = events[m - 1].occurred_us + 60_000_000
    assert exported(restored, now) == exported(engine, now)
    assert restored.entity_count == engine.entity_count
    rest = [*events[m:], *events[:m]]  # the rest, and everything again (redelivery)
    outcomes = [engine.apply(e) for e in rest]
    assert [restored.apply(e) for e in rest] == outcomes
    end = events[-1].occurred_us + 60_000_000
    assert exported(restored, end) == exported(engine, end)


def test_a_journal_is_kept_across_restarts_until_the_next_snapshot(tmp_path):
    events = traffic()
    n = len(events) // 3
    first = Worker(tmp_path)
    first.run(events[:n])
    first.state.write_snapshots()
    first.run(events[n:2 * n])
    second = Worker(tmp_path, first.table)  # crash, restart from the snapshot
    engine = second.run(events[2 * n:])  # crash again, still on the first snapshot
    third = Worker(tmp_path, first.table)
    restored = third.state.engine(TP)
    assert third.state.from_snapshots == 1
    end = events[-1].occurred_us + 60_000_000
    assert exported(restored, end) == exported(engine, end)


def test_a_torn_journal_makes_the_worker_rebuild_from_the_records(tmp_path, status_lines):
    events = traffic()
    first = Worker(tmp_path)
    first.run(events[:400])
    first.state.write_snapshots()
    engine = first.run(events[400:900])
    journal = first.state.snapshots.journal_path(TP)  # type: ignore[union-attr]
    journal.write_bytes(journal.read_bytes()[:-7])  # the last write's tail lost
    again = Worker(tmp_path, first.table)
    restored = again.state.engine(TP)
    assert again.state.from_snapshots == 0
    assert "(its journal is torn, damaged or missing: it covers the local store up to " \
           "changelog offset" in status_lines()
    now = events[899].occurred_us
    assert exported(restored, now) == exported(engine, now)


def test_a_write_that_went_around_the_journal_makes_the_worker_rebuild(tmp_path, status_lines):
    events = traffic()
    first = Worker(tmp_path)
    first.run(events[:400])
    first.state.write_snapshots()
    engine = first.state.engine(TP)
    for event in events[400:700]:
        engine.apply(event)
    first.checkpoint(journal=False)
    again = Worker(tmp_path, first.table)
    again.state.engine(TP)
    assert again.state.from_snapshots == 0
    assert "rebuilding from the records" in status_lines()


def test_a_running_worker_snapshots_a_partition_without_one_then_after_many_changes(
        tmp_path, monkeypatch):
    events = traffic()
    worker = Worker(tmp_path)
    worker.run(events[:300])
    assert worker.state._snapshots_due() == [TP]  # none yet
    captured = Snapshots.capture(worker.state.engines[TP])
    worker.state._write_captured([(TP, captured)])
    assert worker.state.snapshots.journal_size(TP) == 0  # type: ignore[union-attr]
    monkeypatch.setattr(state_module.time, "monotonic", lambda: 10**9)  # spacing over
    assert worker.state._snapshots_due() == []  # nothing changed since
    monkeypatch.setattr(state_module, "JOURNAL_LIMIT", 50)
    worker.run(events[300:600])
    assert worker.state.snapshots.journal_size(TP) >= 50  # type: ignore[union-attr]
    assert worker.state._snapshots_due() == [TP]


def test_no_snapshot_is_taken_while_the_last_ones_spacing_lasts(tmp_path, monkeypatch):
    worker = Worker(tmp_path)
    worker.run(traffic()[:300])
    clock = [1000.0]
    monkeypatch.setattr(state_module.time, "monotonic", lambda: clock[0])
    worker.state._write_captured([(TP, Snapshots.capture(worker.state.engines[TP])._replace(
        seconds=0.5))])
    worker.state.snapshots.discard(TP)  # type: ignore[union-attr]
    clock[0] += 14.0  # 30 × 0.5 s = 15 s
    assert worker.state._snapshots_due() == []
    clock[0] += 2.0
    assert worker.state._snapshots_due() == [TP]


def test_an_engine_rebuilt_from_its_records_is_snapshotted_at_once(tmp_path):
    """A crash right after a long rebuild (a new node, a config change) must not cost another
    rebuild: the rebuilt engine holds exactly what its store holds, so it is snapshotted."""
    events = traffic()
    n = len(events) // 2
    first = Worker(tmp_path)
    first.run(events[:n])  # its engine was new: nothing to snapshot at its build
    assert not first.state.snapshots.path(TP).exists()  # type: ignore[union-attr]
    second = Worker(tmp_path, first.table)
    engine = second.state.engine(TP)  # rebuilt from the records
    assert second.state.from_snapshots == 0
    assert second.state.snapshots.path(TP).exists()  # type: ignore[union-attr]
    second.run(events[n:])  # and crashes
    third = Worker(tmp_path, first.table)
    restored = third.state.engine(TP)
    assert third.state.from_snapshots == 1
    end = events[-1].occurred_us + 60_000_000
    assert exported(restored, end) == exported(engine, end)
    assert second.state.build_counts() == {"restored_from_snapshots": 0,
                                           "records_caught_up": 0, "rebuilt_from_records": 1}
    counts = third.state.build_counts()
    assert counts["restored_from_snapshots"] == 1 and counts["rebuilt_from_records"] == 0
    assert counts["records_caught_up"] > 0


def test_a_journal_past_the_catch_up_limit_is_dropped_with_its_snapshot(
        tmp_path, monkeypatch, status_lines):
    """Past the limit a rebuild is about as fast as a catch-up: journaling stops (a journal
    keeps every key written since its snapshot in memory), and the restart rebuilds."""
    monkeypatch.setattr(Snapshots, "MIN_CATCH_UP_LIMIT", 40)
    monkeypatch.setattr(Snapshots, "CATCH_UP_SHARE", 0.0)
    events = traffic()
    first = Worker(tmp_path)
    first.run(events[:400])
    first.state.write_snapshots()
    engine = first.run(events[400:900])
    assert "dropped: " in status_lines()
    assert first.state.snapshots.journal_size(TP) is None  # type: ignore[union-attr]
    assert not first.state.snapshots.path(TP).exists()  # type: ignore[union-attr]
    again = Worker(tmp_path, first.table)
    restored = again.state.engine(TP)
    assert again.state.from_snapshots == 0
    now = events[899].occurred_us
    assert exported(restored, now) == exported(engine, now)
