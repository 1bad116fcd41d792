"""The RocksDB settings of the worker's table stores: one memory budget for all its databases.

Faust's ``rocksdb://`` store opens one RocksDB database per table and partition (six tables:
with 4 partitions, 24 databases), each with Faust's defaults
(``faust.stores.rocksdb.RocksDBOptions``): memtables of 64 MiB, up to 3 of them, and a block
cache of 2 GiB, per database. The worker rewrites a record at every change and flushes its
records at every checkpoint, so every database's memtables fill to their size before they are
flushed, and every cache fills as records are read: memory that grows with the number of
databases and with the run (docs/performance.md, "Memory").

Here, as Kafka Streams' ``BoundedMemoryRocksDBConfig`` does, every database the worker opens
shares one LRU block cache of :data:`TOTAL_MEMORY_BYTES`, and one write buffer manager whose
memtables (at most :data:`MEMTABLE_BYTES` for all the databases together) are charged to that
cache; the index and filter blocks of the table files are kept in the cache too, instead of
beside each open file. So RocksDB holds about :data:`TOTAL_MEMORY_BYTES` whatever the number of
databases (:func:`memory_budget_bytes`). The worker keeps the records of active entities
decoded in its engines, and reads the store only to restore (a sequential read: a cache does
not help it) and to bring into memory a record a snapshot or an idle entity left on disk (each
time it is needed again: ``Engine.spill`` leaves it there), so a small cache costs no speed.
Small memtables are flushed more often: more, smaller files at level 0, compacted in RocksDB's
background threads. docs/configuration.md ("Local state") gives the budget.

Faust builds a store's ``RocksDBOptions`` itself and gives each database a cache of its own, so
the worker uses :class:`Store` (Faust's store with :class:`BoundedMemoryOptions`), registered
with Faust as :data:`STORE_URL`; :func:`table_options` are the per-database settings Faust
passes on.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import faust.stores
import rocksdict
from faust.stores.rocksdb import RocksDBOptions
from faust.stores.rocksdb import Store as FaustRocksDBStore

MIB = 2**20

#: The LRU block cache every database of a worker shares: data, index and filter blocks
#: read, and the memtables (charged to it by the write buffer manager), in bytes.
TOTAL_MEMORY_BYTES = 64 * MIB
#: The memtables of all the databases together, in bytes (part of :data:`TOTAL_MEMORY_BYTES`):
#: past 7/8 of it the database written to flushes its memtable (Kafka Streams' example: half).
MEMTABLE_BYTES = 32 * MIB
#: One memtable of a database (Faust: 64 MiB), in bytes: flushed to a level-0 file when full.
WRITE_BUFFER_BYTES = 4 * MIB
#: Memtables a database holds at most: the one written and one being flushed (Faust: 3).
MAX_WRITE_BUFFERS = 2
#: The ``block_cache_size`` Faust is given, in bytes: what Faust's own ``rocksdb://`` store
#: gives each database (Faust: 2 GiB); :class:`BoundedMemoryOptions` ignores it and uses the
#: shared cache.
BLOCK_CACHE_BYTES = 8 * MIB
#: Files a database keeps open (Faust: 90 % of the process's limit, for each database). A
#: database of the worker holds a few files of 64 MiB (``target_file_size_base``), so this
#: bounds descriptors without reopening files in practice; their index and filter blocks are
#: in the shared cache.
MAX_OPEN_FILES = 64
#: The scheme of the worker's store (``faust.App(store=STORE_URL)``).
STORE_URL = "ccpulse-rocksdb://"


def table_options() -> dict[str, Any]:
    """The ``options`` of one table (Faust passes them to ``RocksDBOptions``). A new dict per
    table: Faust's store takes keys out of the dict it is given."""
    return {"write_buffer_size": WRITE_BUFFER_BYTES,
            "max_write_buffer_number": MAX_WRITE_BUFFERS,
            "block_cache_size": BLOCK_CACHE_BYTES,
            "max_open_files": MAX_OPEN_FILES}


def memory_budget_bytes() -> int:
    """What the memtables and block cache of all the worker's databases hold together, in
    bytes, whatever their number (the cache may pass it briefly while blocks in use are
    pinned: RocksDB's LRU cache has no strict limit)."""
    return TOTAL_MEMORY_BYTES


@dataclass(frozen=True)
class SharedMemory:
    """The block cache and the write buffer manager every database of one worker shares."""

    cache: rocksdict.Cache
    write_buffers: rocksdict.WriteBufferManager

    @classmethod
    def new(cls, total_bytes: int = TOTAL_MEMORY_BYTES,
            memtable_bytes: int = MEMTABLE_BYTES) -> SharedMemory:
        """A cache of ``total_bytes`` and memtables of at most ``memtable_bytes`` charged to
        it (a write never stalls: past the limit, the database written to flushes)."""
        cache = rocksdict.Cache(total_bytes)
        return cls(cache, rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            memtable_bytes, False, cache))


#: Faust app -> the memory its stores share (one per worker; dropped with the app).
_SHARED: weakref.WeakKeyDictionary[Any, SharedMemory] = weakref.WeakKeyDictionary()


def shared_memory(app: Any) -> SharedMemory:
    """The :class:`SharedMemory` of ``app``'s stores, made at its first database."""
    shared = _SHARED.get(app)
    if shared is None:
        shared = _SHARED[app] = SharedMemory.new()
    return shared


def store_memory(app: Any) -> SharedMemory | None:
    """The :class:`SharedMemory` of ``app``'s stores, None before its first database opened
    (or with no RocksDB store)."""
    return _SHARED.get(app)


class BoundedMemoryOptions(RocksDBOptions):
    """Faust's settings for one database (``options`` of the table, bloom filter, index
    type, file size), with the shared cache and write buffer manager of ``shared``."""

    def __init__(self, shared: SharedMemory, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shared = shared

    def as_options(self) -> Any:
        """The ``rocksdict.Options`` of one database (Faust's other driver: Faust's own)."""
        if not self.use_rocksdict:
            return super().as_options()
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(self.shared.write_buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        table.set_block_cache(self.shared.cache)
        # index and filter blocks in the cache (bounded with it), those of level-0 files
        # pinned there while their file is open: they are read at every lookup
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        options.set_block_based_table_factory(table)
        return options


class Store(FaustRocksDBStore):
    """Faust's RocksDB store whose databases use :class:`BoundedMemoryOptions` with the
    memory shared by every store of the app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rocksdb_options = BoundedMemoryOptions(
            shared_memory(self.app), **self.options, use_rocksdict=self.use_rocksdict)


# Faust finds a store class by the scheme of its URL (as a ``faust.stores`` entry point would
# register it): ``ccpulse-rocksdb://`` is :class:`Store`.
faust.stores.STORES.aliases.setdefault(STORE_URL.split(":", 1)[0], f"{__name__}:Store")
