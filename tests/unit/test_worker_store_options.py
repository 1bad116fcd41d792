"""The worker's RocksDB databases share one bounded memory (streams/worker/store_options.py,
docs/configuration.md "Local state: RocksDB memory"). Faust builds its ``RocksDBOptions``
from a table's ``options``; a key it does not know lands in ``extra_options``, which the
rocksdict driver ignores without a word — so each key is pinned to reach its setting, and the
shared cache and write buffer manager are shown to be one for two databases."""

from __future__ import annotations

from pathlib import Path

import faust
import faust.stores
import rocksdict
from faust.stores.rocksdb import RocksDBOptions

from streams.worker import store_options as S

MIB = 2**20


def test_every_table_option_reaches_faust_s_rocksdb_settings():
    options = RocksDBOptions(**S.table_options(), use_rocksdict=True)
    assert options.extra_options == {}
    assert options.write_buffer_size == 4 * MIB
    assert options.max_write_buffer_number == 2
    assert options.block_cache_size == 8 * MIB  # Faust's own store: each database's cache
    assert options.max_open_files == 64


def test_each_table_gets_its_own_options_dict():
    # Faust's store takes keys out of the dict it is given (read_only, driver)
    first, second = S.table_options(), S.table_options()
    assert first == second and first is not second


def test_the_memory_budget_is_the_shared_cache_whatever_the_databases():
    assert S.memory_budget_bytes() == S.TOTAL_MEMORY_BYTES == 64 * MIB
    assert S.MEMTABLE_BYTES < S.TOTAL_MEMORY_BYTES


def test_faust_finds_the_worker_s_store_by_its_url():
    assert faust.stores.by_url(S.STORE_URL) is S.Store


def _worker_app(tmp_path: Path, name: str) -> faust.App:
    return faust.App(name, store=S.STORE_URL, datadir=str(tmp_path / name),
                     autodiscover=False)


def _table_store(app: faust.App, name: str) -> S.Store:
    table = app.Table(name, default=None, key_type=bytes, value_type=bytes, partitions=2,
                      options=S.table_options())
    store = table.data
    assert isinstance(store, S.Store)
    return store


def test_every_database_of_a_worker_shares_one_cache_and_write_buffer_manager(tmp_path):
    app = _worker_app(tmp_path, "shared")
    calls, tickets = _table_store(app, "calls"), _table_store(app, "tickets")
    shared = calls.rocksdb_options.shared
    assert tickets.rocksdb_options.shared is shared
    assert isinstance(calls.rocksdb_options, S.BoundedMemoryOptions)
    # the table's options still reach the database's settings
    assert calls.rocksdb_options.write_buffer_size == S.WRITE_BUFFER_BYTES
    assert calls.rocksdb_options.max_open_files == S.MAX_OPEN_FILES
    assert calls.rocksdb_options.extra_options == {}
    assert shared.write_buffers.get_buffer_size() == S.MEMTABLE_BYTES
    dbs = [calls._db_for_partition(0), calls._db_for_partition(1),
           tickets._db_for_partition(0)]
    try:
        before = shared.write_buffers.get_usage()
        grown = []
        for db in dbs:  # each database's memtable is charged to the one manager and cache
            for i in range(2_000):
                db[b"k%d" % i] = b"x" * 200
            grown.append(shared.write_buffers.get_usage())
        assert before < grown[0] < grown[1] < grown[2]
        assert shared.cache.get_usage() >= grown[2]
        for db in dbs:
            db.flush()
        # the flushed files' index and filter blocks are in the shared cache (pinned)
        assert shared.cache.get_pinned_usage() > 0
        assert dbs[2][b"k7"] == b"x" * 200
    finally:
        for db in dbs:
            db.close()


def test_two_workers_in_one_process_have_their_own_memory(tmp_path):
    first = _table_store(_worker_app(tmp_path, "one"), "calls")
    second = _table_store(_worker_app(tmp_path, "two"), "calls")
    assert first.rocksdb_options.shared is not second.rocksdb_options.shared


def test_a_database_opens_with_the_bounded_options(tmp_path):
    shared = S.SharedMemory.new(8 * MIB, 4 * MIB)
    options = S.BoundedMemoryOptions(shared, **S.table_options(), use_rocksdict=True)
    db = options.open(tmp_path / "p0.db")
    try:
        db[b"a"] = b"1"
        assert db[b"a"] == b"1"
        assert shared.write_buffers.get_usage() > 0
    finally:
        db.close()
    assert isinstance(options.as_options(), rocksdict.Options)


def test_the_worker_s_tables_use_the_bounded_store(tmp_path, monkeypatch):
    from streams.core.config import parse_config
    from streams.worker.app import build_pipeline

    monkeypatch.chdir(tmp_path)  # Faust makes the stores' directories under data_dir
    pipeline = build_pipeline(parse_config({}))
    assert pipeline.app.conf.store.scheme == S.STORE_URL.split(":")[0]
    assert all(isinstance(table.data, S.Store) for table in pipeline.tables.values())
