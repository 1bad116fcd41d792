"""The RocksDB settings of the worker's table stores: memory bounded whatever the state's size.

Faust's ``rocksdb://`` store opens one RocksDB database per table and partition (six tables:
with 4 partitions, 24 databases), each with Faust's defaults
(``faust.stores.rocksdb.RocksDBOptions``): memtables of 64 MiB, up to 3 of them, and a block
cache of 2 GiB, per database. The worker rewrites a record at every change and flushes its
records at every checkpoint, so every database's memtables fill to their size before they are
flushed: up to 24 × 192 MiB of memtables, plus what reads put in the caches (a rebuild reads
every record) — the worker's RSS grew with every simulated day (docs/performance.md, "Soak").

Here each database gets small memtables and a small block cache; :func:`memory_budget_bytes`
is what they can hold at most. The worker keeps every record it needs decoded in its engines,
and reads the store only to restore (a sequential read: a cache does not help it) and to
bring a record a snapshot left on disk into memory (once per record), so a small cache costs
no speed. Small memtables are flushed more often: more, smaller files at level 0, compacted in
RocksDB's background threads. docs/configuration.md ("Local state") gives the budget.
"""

from __future__ import annotations

from typing import Any

MIB = 2**20

#: One memtable of a database (Faust: 64 MiB): flushed to a level-0 file when full.
WRITE_BUFFER_BYTES = 4 * MIB
#: Memtables a database holds at most: the one written and one being flushed (Faust: 3).
MAX_WRITE_BUFFERS = 2
#: Each database's LRU cache of data blocks read (Faust: 2 GiB).
BLOCK_CACHE_BYTES = 8 * MIB
#: Files a database keeps open (Faust: 90 % of the process's limit, for each database): an
#: open file keeps its index and bloom filter in memory. A database of the worker holds a few
#: files of 64 MiB (``target_file_size_base``), so this bounds descriptors and memory without
#: reopening files in practice.
MAX_OPEN_FILES = 64


def table_options() -> dict[str, Any]:
    """The ``options`` of one table (Faust passes them to ``RocksDBOptions``). A new dict per
    table: Faust's store takes keys out of the dict it is given."""
    return {"write_buffer_size": WRITE_BUFFER_BYTES,
            "max_write_buffer_number": MAX_WRITE_BUFFERS,
            "block_cache_size": BLOCK_CACHE_BYTES,
            "max_open_files": MAX_OPEN_FILES}


def memory_budget_bytes(databases: int) -> int:
    """The most the memtables and block caches of ``databases`` databases hold together."""
    return databases * (WRITE_BUFFER_BYTES * MAX_WRITE_BUFFERS + BLOCK_CACHE_BYTES)
