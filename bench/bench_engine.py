"""Core engine throughput: simulated contact-centre events through decode + engine.apply.

Prints a table: stage, events, seconds, events/s, µs/event. No Kafka, no Faust: this is the
part of the per-event cost that ccpulse itself owns. Run:

    .venv/bin/python bench/bench_engine.py [minutes-of-traffic] [--default-gc] [--worker N]
        [--calls]

``--worker N`` (default 100,000; 0 leaves it out) adds the worker's own path, in-process, on
the stream ``bench/bench_worker.py`` sends (N events of the busy contact centre): the events
keyed and partitioned as the publisher sends them (4 partitions), applied a fetched batch
(500 events of one partition) at a time through a :class:`WorkerState` with the worker's
per-message steps (ingest with the wall clock, the read log), and every 10,000 events the
dirty records encoded and written as a checkpoint does (``writes_by_partition`` then
``write_local`` into a dict). It is what the worker pays per event besides Kafka and Faust.
``--calls``: the worker path on call events only, as ``bench/bench_side_by_side.py`` sends them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Any

import orjson
from aiokafka.partitioner import murmur2

from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.exporter import render
from streams.ingest import ingest
from streams.publish import route_event
from streams.runtime import tune_gc
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import FLAT_PEAK, contact_centre
from streams.validation import decode
from streams.worker.checkpoint import write_local, writes_by_partition
from streams.worker.state import WorkerState

PARTITIONS = 4
FETCH = 500  # records of one partition handed over at a time (aiokafka's fetch, roughly)
COMMIT_EVERY = 10_000  # the worker's broker_commit_every


class _Table:
    """What a checkpoint needs of a Faust table: its local data."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}


def worker_stream(count: int, end_ms: int, calls_only: bool = False,
                  ) -> list[tuple[str, int, list[bytes]]]:
    """``count`` events of bench_worker's stream as (base topic, partition, values) batches,
    in the order the worker reads them: each partition's events in send order, a fetch at a
    time. ``calls_only``: the call events of ``bench/bench_side_by_side.py`` instead."""
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    hours = max(1, count // 5000 + 1)
    if calls_only:
        busy = replace(contact_centre(), profile=FLAT_PEAK)
        hours = count // 1200 + 1  # as bench_side_by_side.call_events
    by_tp: dict[tuple[str, int], list[bytes]] = {}
    n = 0
    for event in generate(busy, seed=5, start_ms=end_ms - hours * 3_600_000,
                          duration_ms=hours * 3_600_000):
        if calls_only and not event["type"].startswith("call."):
            continue
        route = route_event(event)
        partition = (murmur2(route.key) & 0x7FFFFFFF) % PARTITIONS if route.key else 0
        by_tp.setdefault((route.topic, partition), []).append(route.value)
        n += 1
        if n >= count:
            break
    out: list[tuple[str, int, list[bytes]]] = []
    cursors = dict.fromkeys(by_tp, 0)
    while cursors:
        for tp in list(cursors):
            start = cursors[tp]
            out.append((tp[0], tp[1], by_tp[tp][start:start + FETCH]))
            if start + FETCH >= len(by_tp[tp]):
                del cursors[tp]
            else:
                cursors[tp] = start + FETCH
    return out


def worker_path(stream: list[tuple[str, int, list[bytes]]]) -> tuple[float, float]:
    """Seconds spent applying ``stream`` as the worker's ``handle_batch`` does, and of those,
    in checkpoints."""
    config = parse_config({})
    topics = sorted({topic for topic, _, _ in stream})
    tables: dict[str, Any] = {topic: _Table() for topic in topics}
    state = WorkerState(config, tables)
    stats = state.stats
    clock_us = state.clock_us
    since_commit = 0
    in_checkpoints = 0.0
    offsets: dict[tuple[str, int], int] = {}
    t0 = time.perf_counter()
    for topic, partition, batch in stream:
        key = (topic, partition)
        engine = state.engine(key)
        for raw in batch:
            ingest(raw, engine, stats, topic=topic, now_us=clock_us())
        offset = offsets[key] = offsets.get(key, -1) + len(batch)
        state.last_offsets[key] = offset
        since_commit += len(batch)
        if since_commit >= COMMIT_EVERY:
            since_commit = 0
            c0 = time.perf_counter()
            for topic_name, dirty in state.pending.items():
                if dirty:
                    for p, writes in writes_by_partition(dirty).items():
                        write_local(tables[topic_name].data, p, writes)
            in_checkpoints += time.perf_counter() - c0
    return time.perf_counter() - t0, in_checkpoints


def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    minutes = int(args[0]) if args else 120
    default_gc = "--default-gc" in sys.argv  # compare with CPython's default collector
    n_worker = 100_000
    if "--worker" in sys.argv:
        n_worker = int(sys.argv[sys.argv.index("--worker") + 1])
        args = [a for a in args if a != str(n_worker)]
        minutes = int(args[0]) if args else 120
    if not default_gc:
        tune_gc()  # as the worker and the replay run
    start = 1_795_338_000_000  # 2026-11-22T09:00Z
    raw = [orjson.dumps(e) for e in generate(contact_centre(), seed=1, start_ms=start,
                                             duration_ms=minutes * 60_000)]
    now_us = (start + minutes * 60_000) * 1000
    rows = []
    t0 = time.perf_counter()
    events = [decode(r, now_us) for r in raw]
    rows.append(("decode + validate", len(raw), time.perf_counter() - t0))
    engine = Engine(parse_config({}))
    t0 = time.perf_counter()
    for ev in events:
        engine.apply(ev)  # type: ignore[arg-type]
    rows.append(("engine.apply", len(events), time.perf_counter() - t0))
    t0 = time.perf_counter()
    body = render(lambda: all_families(engine.config, [engine.ledger], now_us))
    rows.append(("scrape (KPIs + render)", 1, time.perf_counter() - t0))
    if n_worker:
        stream = worker_stream(n_worker, time.time_ns() // 1_000_000,
                               calls_only="--calls" in sys.argv)
        total, in_checkpoints = worker_path(stream)
        n = sum(len(batch) for _, _, batch in stream)
        rows.append(("worker path (all)", n, total))
        rows.append(("  of which checkpoints", n, in_checkpoints))
    print(f"{len(raw):,} events, {minutes} simulated minutes, {len(body):,} bytes exposition, "
          f"{'default' if default_gc else 'worker'} garbage-collector settings\n")
    print(f"{'stage':<26}{'events':>10}{'seconds':>10}{'events/s':>12}{'µs/event':>10}")
    for name, n, secs in rows:
        print(f"{name:<26}{n:>10,}{secs:>10.3f}{n / secs:>12,.0f}{secs / n * 1e6:>10.1f}")


if __name__ == "__main__":
    main()
