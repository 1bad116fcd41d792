"""Core engine throughput: simulated contact-centre events through decode + engine.apply.

Prints a table: stage, events, seconds, events/s, µs/event. No Kafka, no Faust: this is the
part of the per-event cost that ccpulse itself owns. Run:

    .venv/bin/python bench/bench_engine.py [minutes-of-traffic] [--default-gc]
"""

from __future__ import annotations

import sys
import time

import orjson

from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.exporter import render
from streams.runtime import tune_gc
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.validation import decode


def main() -> None:
    minutes = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    default_gc = "--default-gc" in sys.argv  # compare with CPython's default collector
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
    print(f"{len(raw):,} events, {minutes} simulated minutes, {len(body):,} bytes exposition, "
          f"{'default' if default_gc else 'worker'} garbage-collector settings\n")
    print(f"{'stage':<26}{'events':>10}{'seconds':>10}{'events/s':>12}{'µs/event':>10}")
    for name, n, secs in rows:
        print(f"{name:<26}{n:>10,}{secs:>10.3f}{n / secs:>12,.0f}{secs / n * 1e6:>10.1f}")


if __name__ == "__main__":
    main()
