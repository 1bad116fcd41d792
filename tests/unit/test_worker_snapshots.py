"""When a worker writes and uses engine snapshots (streams.worker.snapshots): only with every
record of the partition in the local store, and only for a store still at the snapshot's
changelog offset, with the same core code and engine settings."""

from __future__ import annotations

from pathlib import Path

from streams.core.config import parse_config
from streams.worker.snapshots import Snapshots
from streams.worker.state import WorkerState

OFFSET_KEY = b"__faust\x00offset__"


class FakeRocksData:
    """The part of Faust's RocksDB store the worker reads: one dict per partition."""

    offset_key = OFFSET_KEY

    def __init__(self) -> None:
        self.dbs: dict[int, dict[bytes, bytes]] = {}

    def _db_for_partition(self, partition: int) -> dict[bytes, bytes]:
        return self.dbs.setdefault(partition, {})


class FakeTable:
    def __init__(self) -> None:
        self.data = FakeRocksData()
        self.changelog_topic = None


def worker(tmp_path: Path) -> tuple[WorkerState, FakeTable]:
    config = parse_config({})
    table = FakeTable()
    state = WorkerState(config, {"cc.calls": table},
                        snapshots=Snapshots(tmp_path / "snapshots", config))
    return state, table


def test_no_snapshot_is_written_while_a_record_of_the_partition_is_dirty(tmp_path):
    state, table = worker(tmp_path)
    state.engine(("cc.calls", 0))
    state.engine(("cc.calls", 1))
    table.data._db_for_partition(0)[OFFSET_KEY] = b"41"
    table.data._db_for_partition(1)[OFFSET_KEY] = b"17"
    state.pending["cc.calls"][b"call:x"] = (1, {"kind": "contact"})  # not yet checkpointed
    assert state.write_snapshots() == 1
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [
        "cc.calls-0.journal", "cc.calls-0.snapshot"]


def test_no_snapshot_is_written_for_a_store_that_covers_no_offset(tmp_path):
    state, _ = worker(tmp_path)
    state.engine(("cc.calls", 0))
    assert state.write_snapshots() == 0


def test_a_snapshot_is_used_only_at_its_offset_and_kept_until_it_is_invalid(tmp_path):
    state, table = worker(tmp_path)
    state.engine(("cc.calls", 0))
    table.data._db_for_partition(0)[OFFSET_KEY] = b"41"
    assert state.write_snapshots() == 1
    snapshots = state.snapshots
    assert snapshots is not None
    assert snapshots.take(("cc.calls", 0), 41) is not None
    assert snapshots.take(("cc.calls", 0), 41) is not None  # a valid one stays for a retry
    assert snapshots.take(("cc.calls", 0), 42) is None  # the store moved on
    assert not snapshots.path(("cc.calls", 0)).exists()  # an invalid one is removed
    assert not snapshots.journal_path(("cc.calls", 0)).exists()  # with its journal


def test_a_snapshot_of_other_engine_settings_is_not_used(tmp_path, status_lines):
    state, table = worker(tmp_path)
    state.engine(("cc.calls", 0))
    table.data._db_for_partition(0)[OFFSET_KEY] = b"41"
    state.write_snapshots()
    other = Snapshots(tmp_path / "snapshots", parse_config({"limits": {"max_queues": 7}}))
    assert other.take(("cc.calls", 0), 41) is None
    other.report()
    assert status_lines() == (
        "ccpulse worker: 1 snapshot not used, rebuilding from the records (written with "
        "other settings: [limits]): cc.calls-0\n")


def test_refused_snapshots_are_reported_one_line_per_reason(tmp_path, status_lines):
    """A config change refuses every partition's snapshot: one line names them all."""
    state, table = worker(tmp_path)
    for p in range(3):
        state.engine(("cc.calls", p))
        table.data._db_for_partition(p)[OFFSET_KEY] = b"41"
    assert state.write_snapshots() == 3
    other = Snapshots(tmp_path / "snapshots", parse_config({"defaults": {
        "service_level": {"threshold_seconds": 30}}}))
    for p in range(3):
        assert other.take(("cc.calls", p), 41) is None
    other.report()
    assert status_lines().splitlines() == [
        "ccpulse worker: 3 snapshots not used, rebuilding from the records (written with "
        "other settings: [defaults]): cc.calls-0, cc.calls-1, cc.calls-2"]


def test_a_torn_snapshot_file_is_not_used(tmp_path, status_lines):
    state, _ = worker(tmp_path)
    snapshots = state.snapshots
    assert snapshots is not None
    path = snapshots.path(("cc.calls", 0))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x80\x05not a pickle")
    assert snapshots.take(("cc.calls", 0), 41) is None
    assert not path.exists()
    snapshots.report()
    assert "(its file is damaged: UnpicklingError" in status_lines()


def test_an_engine_is_restored_from_its_snapshot_with_no_record_read(tmp_path):
    state, table = worker(tmp_path)
    engine = state.engine(("cc.calls", 0))
    engine.stream_us = 1_795_338_000_000_000
    table.data._db_for_partition(0)[OFFSET_KEY] = b"41"
    state.write_snapshots()
    state.drop([("cc.calls", 0)])
    restored = state.engine(("cc.calls", 0))
    assert restored is not engine
    assert restored.stream_us == engine.stream_us
    assert state.from_snapshots == 1
