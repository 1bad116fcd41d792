"""The worker's RocksDB databases get bounded memory settings (streams/worker/store_options.py,
docs/configuration.md "Local state: RocksDB memory"). Faust builds its ``RocksDBOptions``
from a table's ``options``; a key it does not know lands in ``extra_options``, which the
rocksdict driver ignores without a word — so each key is pinned to reach its setting."""

from __future__ import annotations

from faust.stores.rocksdb import RocksDBOptions

from streams.worker import store_options as S

MIB = 2**20


def test_every_table_option_reaches_faust_s_rocksdb_settings():
    options = RocksDBOptions(**S.table_options(), use_rocksdict=True)
    assert options.extra_options == {}
    assert options.write_buffer_size == 4 * MIB
    assert options.max_write_buffer_number == 2
    assert options.block_cache_size == 8 * MIB
    assert options.max_open_files == 64


def test_each_table_gets_its_own_options_dict():
    # Faust's store takes keys out of the dict it is given (read_only, driver)
    first, second = S.table_options(), S.table_options()
    assert first == second and first is not second


def test_the_memory_budget_of_24_databases_is_384_mib():
    assert S.memory_budget_bytes(24) == 384 * MIB
