"""Process-wide settings of the long-running commands (worker, replay, benchmarks).

The engine keeps its whole state — every live entity's events and contributions — in small
long-lived tuples. CPython's generational garbage collector re-scans surviving objects each
time 700 new container objects have been allocated, so with a large state most collection
work is spent re-visiting objects that can never be garbage (the engine creates no reference
cycles). A larger first-generation threshold makes collections ~70× rarer for the same
memory behaviour: the same trade Instagram and other high-throughput Python services make.
Measured with ``bench/bench_engine.py``: ~3 µs of a ~25 µs event were collector passes.
"""

from __future__ import annotations

import gc

#: Allocations between young-generation collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Make garbage collection rare; call once at process start."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def freeze_long_lived() -> None:
    """Leave every object alive now out of future collections (``gc.freeze``): call after
    building a large state, and between the slices of a long build. Objects still go when
    their last reference does; only reference cycles among them would stay, and the engine
    makes none. Without this, each full
    collection re-visits the whole state — seconds with a million records, and Faust's
    RocksDB store runs one at every revoke and at shutdown, which delayed a clean stop past
    its grace period (no final commit, no engine snapshots)."""
    gc.freeze()
