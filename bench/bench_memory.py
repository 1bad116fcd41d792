"""Memory over a long run: does the engine's state stay flat as stream time advances?

Simulated contact-centre traffic (every event family) goes through the one ingest step the
worker and the replay share (decode, validate, apply, prune by stream time), in-process with the
replay's store (none: the engine holds the records, an idle entity's frozen as bytes), for many
simulated days. Every ``--every`` events it prints the
process RSS, the records kept per entity kind, the events those records hold as events (a
customer's folded revenue and interactions are sums, not events: docs/customers.md), the event
ids held for de-duplication, the Python objects allocated (``sys.getallocatedblocks``: live
state, where RSS also counts memory the allocator holds) and the simulated date, then the RSS
growth from the 2 M mark to the end (issue 10 asks that RSS after 10 M be within 10 % of RSS
after 2 M). Beside RSS, glibc's heap (``mallinfo2``: bytes in use, bytes free but kept, bytes in
blocks of their own ``mmap``) tells live objects over 512 bytes from memory the allocator keeps;
``--trace-from N`` traces allocations (``tracemalloc``, slow) from event N on and prints, at
the end, the source lines holding most of what was allocated since N and is still alive;
``--sizes`` prints at each row the deep size of what the engine holds by owner (per kind: its
keys, records and contributions; the ids held, the prune index, the ledgers), each object
counted once, for the first owner that reaches it (slow: a walk over every object);
``--spill`` gives the engine a spilling store as the worker's RocksDB is (idle records leave
memory for it: here a dict of their JSON bytes, outside what ``--sizes`` counts, its size
printed beside), so the rows show what a worker's engine holds. ``--scenario wide`` feeds the
side-by-side bench's wide floor (500 queues on voice and chat, ~55 events a simulated second)
instead of the simulator's contact centre.

This is the engine's state only (no Faust, no Kafka, no RocksDB). Run:

    .venv/bin/python bench/bench_memory.py [--events 10000000] [--every 1000000] [--sizes]
        [--scenario wide]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import orjson

from streams.core.config import parse_config
from streams.core.engine import Engine, NoStore
from streams.core.pipeline import PipelineStats
from streams.ingest import ingest
from streams.runtime import tune_gc
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.worker.checkpoint import encode_record

START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z


def rss_mib() -> float:
    """Resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def glibc_heap_mib() -> tuple[float, float, float] | None:
    """glibc's heap, MiB: in use, free but kept, in blocks of their own ``mmap``; None when
    the C library is not glibc 2.33 or later (no ``mallinfo2``)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError, TypeError):
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return info.uordblks / 2**20, info.fordblks / 2**20, info.hblkhd / 2**20


def print_traced(since: int, top: int = 25) -> None:
    """The source lines holding most of the memory allocated since event ``since`` and still
    alive (``tracemalloc``), and the largest of those allocations' call stacks."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    total = sum(trace.size for trace in snapshot.traces)
    print(f"\nallocated since {since:,} events and alive at the end: {total / 2**20:,.1f} MiB")
    for stat in snapshot.statistics("lineno")[:top]:
        print(f"  {stat.size / 2**20:8.1f} MiB {stat.count:>10,} blocks  {stat.traceback[0]}")
    print("\nlargest call stacks (innermost last):")
    for stat in snapshot.statistics("traceback")[:8]:
        print(f"  {stat.size / 2**20:8.1f} MiB {stat.count:>10,} blocks")
        for line in stat.traceback.format(limit=6):
            print(f"      {line}")


_LEAVES = (str, int, float, bytes, bool, type(None))


def deep_size(obj: object, seen: set[int]) -> tuple[int, int]:
    """Bytes and objects reachable from ``obj`` not in ``seen`` (ids; added to it). Classes
    are not followed."""
    size = count = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, type):
            continue
        seen.add(id(o))
        size += sys.getsizeof(o)
        count += 1
        if isinstance(o, _LEAVES):
            continue
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple | set | frozenset):
            stack.extend(o)
        else:
            stack.extend(gc.get_referents(o))
    return size, count


class BytesSpillStore:
    """A spilling store (:class:`streams.core.engine.SpillStore`) as a worker's RocksDB
    table is: a put is pending until the next :meth:`checkpoint` writes it as its JSON bytes
    (here into a dict), and only a written record's key is held."""

    spills = True

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self._pending: dict[str, dict[str, object] | None] = {}

    def put(self, key: str, record: dict[str, object]) -> None:
        self._pending[key] = record

    def delete(self, key: str) -> None:
        self._pending[key] = None

    def holds(self, key: str) -> bool:
        return key not in self._pending

    def get(self, key: str) -> dict[str, object] | None:
        raw = self.data.get(key)
        return None if raw is None else orjson.loads(raw)  # type: ignore[no-any-return]

    def checkpoint(self) -> None:
        """Write every pending put and delete, as the worker's checkpoint does."""
        for key, record in self._pending.items():
            if record is None:
                self.data.pop(key, None)
            else:
                self.data[key] = encode_record(record)
        self._pending.clear()

    def mib(self) -> float:
        """The JSON bytes held and the dict holding them, MiB."""
        return (sys.getsizeof(self.data) + sum(
            sys.getsizeof(k) + sys.getsizeof(v) for k, v in self.data.items())) / 2**20


#: Events between two checkpoints of ``--spill``'s store (a worker's come every few seconds).
CHECKPOINT_EVERY = 20_000


def print_sizes(engine: Engine) -> None:
    """What the engine holds by owner (``--sizes``): MiB and objects, each object counted for
    the first owner that reaches it, in the order printed."""
    from streams.core.entities.shared import _HELD
    seen: set[int] = set()
    held: list[object] = []  # keeps the lists built here alive: their ids stay theirs
    by_kind: dict[str, list[str]] = {}
    for key, record in engine._records.items():
        by_kind.setdefault(record["kind"], []).append(key)
    minutes = sum(map(len, engine.ledger.minutes.values()))
    owners: list[tuple[str, object]] = [("shared values", _HELD),
                                        (f"ledger minutes ({minutes:,})", engine.ledger.minutes),
                                        ("ledger, the rest", engine.ledger),
                                        ("base", engine._base)]
    for kind, keys in sorted(by_kind.items()):
        owners += [(f"{kind} keys", keys), (f"{kind} records ({len(keys):,})",
                                            [engine._records[k] for k in keys]),
                   (f"{kind} contributions", [engine._contributions.get(k) for k in keys])]
    owners += [(f"frozen records ({engine.frozen_count:,})", engine._frozen),
               (f"keys on disk ({engine.cold_count:,})", engine._cold),
               ("ids held", (engine._seen, engine._shared_ids)),
               ("prune index", (engine._due_keys, engine._due_step, engine._undated)),
               ("directory", engine.directory.watchers)]
    seen.update(map(id, engine.directory.engines))  # the directory's values: not followed
    seen.add(id(engine.store))  # a spilling store's bytes: printed apart
    for name, obj in owners:
        held.append(obj)
        size, count = deep_size(obj, seen)
        print(f"      {name:<32} {size / 2**20:8.1f} MiB {count:>10,} objects", file=sys.stderr)
    tables = sum(sys.getsizeof(d) for d in (engine._records, engine._contributions,
                                            engine._frozen))
    print(f"      {'engine tables':<32} {tables / 2**20:8.1f} MiB", file=sys.stderr, flush=True)


def heap_columns(heap: tuple[float, float, float] | None) -> str:
    """The glibc heap columns of a row (blank without ``mallinfo2``)."""
    if heap is None:
        return f"  {'':>9}  {'':>9}  {'':>8}"
    used, free, mapped = heap
    return f"  {used:>9,.0f}  {free:>9,.0f}  {mapped:>8,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--events", type=int, default=10_000_000,
                        help="simulated events to feed (default 10,000,000: several minutes)")
    parser.add_argument("--every", type=int, default=1_000_000,
                        help="print a row every this many events (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1, help="the simulator's seed (default 1)")
    parser.add_argument("--trace-from", type=int, default=0, metavar="EVENTS",
                        help="trace allocations from this event on (tracemalloc: several "
                        "times slower) and print what is still alive at the end")
    parser.add_argument("--sizes", action="store_true",
                        help="at each row, what the engine holds by owner (slow; on standard "
                        "error, with the progress lines, the table on standard output)")
    parser.add_argument("--spill", action="store_true",
                        help="idle records leave memory for a store, as in a worker")
    parser.add_argument("--scenario", choices=("contact_centre", "wide"),
                        default="contact_centre",
                        help="the simulator's contact centre (default), or the side-by-side "
                        "bench's wide floor: 500 queues on voice and chat, 1,500 agents, "
                        "~200,000 events a simulated hour (1,200,000 events: ~1.3 GB of RAM)")
    parser.add_argument("--json", action="store_true",
                        help="also print the results as one JSON object on the last line")
    args = parser.parse_args()
    tune_gc()  # as the worker and the replay run
    store: BytesSpillStore | NoStore = BytesSpillStore() if args.spill else NoStore()
    engine = Engine(parse_config({}), store)
    stats = PipelineStats()
    rows: list[tuple[int, str, float, Counter[str], float, int, int, int]] = []
    heaps: list[tuple[float, float, float] | None] = []
    started = time.perf_counter()
    count = 0
    dumps = orjson.dumps
    if args.scenario == "wide":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from wide_floor import wide_scenario
        scenario = wide_scenario()
    else:
        scenario = contact_centre()
    for event in generate(scenario, seed=args.seed, start_ms=START_MS):
        ingest(dumps(event), engine, stats)
        count += 1
        if isinstance(store, BytesSpillStore) and count % CHECKPOINT_EVERY == 0:
            store.checkpoint()
            engine.spill()
        if count == args.trace_from:
            tracemalloc.start(6)
        if count % args.every == 0:
            gc.collect()
            heaps.append(glibc_heap_mib())
            rss, blocks = rss_mib(), sys.getallocatedblocks()  # before the copies below
            records = engine.kept_records().values()  # frozen ones thawed, as copies
            kinds = Counter(str(r["kind"]) for r in records)
            held = sum(len(r["ev"]) for r in records
                       if isinstance(r.get("ev"), list))
            del records
            rows.append((count, event["occurred_at"][:16].replace("T", " "), rss, kinds,
                         time.perf_counter() - started, held, len(engine._seen), blocks))
            print(f"  {count:>12,} events · simulated {event['occurred_at'][:16]} · "
                  f"RSS {rows[-1][2]:,.0f} MiB", file=sys.stderr, flush=True)
            if args.sizes:
                print_sizes(engine)
                if isinstance(store, BytesSpillStore):
                    print(f"      {'(the store: JSON bytes)':<32} {store.mib():8.1f} MiB",
                          file=sys.stderr, flush=True)
        if count >= args.events:
            break
    if tracemalloc.is_tracing():
        gc.collect()
        print_traced(args.trace_from)
        tracemalloc.stop()
    kinds_seen = sorted({k for row in rows for k in row[3]})
    scenario_name = "wide floor" if args.scenario == "wide" else "contact-centre"
    print(f"engine state over {count:,} simulated events ({scenario_name} scenario, seed "
          f"{args.seed}); records kept per kind after pruning by stream time\n")
    header = f"{'events':>12}  {'simulated':<16}  {'RSS MiB':>8}  {'seconds':>8}  " + "  ".join(
        f"{k:>9}" for k in kinds_seen) + (f"  {'ev held':>9}  {'ids held':>9}  {'blocks':>10}"
                                          f"  {'heap used':>9}  {'heap free':>9}  {'mmap MiB':>8}")
    print(header)
    for (n, day, rss, kinds, secs, held, ids, blocks), heap in zip(rows, heaps, strict=True):
        print(f"{n:>12,}  {day:<16}  {rss:>8,.0f}  {secs:>8,.0f}  "
              + "  ".join(f"{kinds.get(k, 0):>9,}" for k in kinds_seen)
              + f"  {held:>9,}  {ids:>9,}  {blocks:>10,}" + heap_columns(heap))
    at_2m = next((r for r in rows if r[0] >= 2_000_000), None)
    if at_2m is not None and rows[-1][0] > at_2m[0]:
        growth = rows[-1][2] / at_2m[2] - 1
        print(f"\nRSS growth from {at_2m[0]:,} to {rows[-1][0]:,} events: {growth:+.1%}")
    if args.json:
        last = rows[-1]
        result = {f"RSS after {last[0]:,} events (engine state)": f"{last[2]:,.0f} MiB",
                  "records kept at the end": ", ".join(
                      f"{k} {n:,}" for k, n in sorted(last[3].items()))}
        if at_2m is not None and last[0] > at_2m[0]:
            result[f"RSS growth {at_2m[0]:,} -> {last[0]:,} events"] = (
                f"{last[2] / at_2m[2] - 1:+.1%} ({at_2m[2]:,.0f} -> {last[2]:,.0f} MiB)")
        print(json.dumps(result))


if __name__ == "__main__":
    main()
