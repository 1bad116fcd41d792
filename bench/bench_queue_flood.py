"""A million distinct queue names (issue 11): does memory stay bounded, and do scrapes stay fast?

Two runs, each in a fresh process, through the one ingest step the worker and the replay share
(decode, validate, apply, prune by stream time), with ``max_queues = 500``:

* ``names``: ``--events`` waiting calls, each in a queue name of its own (a producer bug or
  an attack), one every 10 ms of event time;
* ``one-queue``: the same calls, all in one queue (the cost of the calls themselves).

Every ``--every`` events a row: process RSS, records kept, the distinct queue names the
engine's ledger holds state under, the admission's size, and the time of one full scrape
(every family of contract §4). Then stream time jumps six days (past the contacts' 48 h
retention and the 3-day window keep) and a last row shows what is left. The table puts the
two runs side by side: with names past the limit booked as ``other``, a new name costs what a
call in a known queue costs, and nothing of it stays once its call is gone.

A benchmark: it prints, it never asserts. Run:

    .venv/bin/python bench/bench_queue_flood.py [--events 1000000] [--every 200000] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time

import orjson

from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.core.pipeline import PipelineStats
from streams.core.timestamps import DAY_US, format_us
from streams.ingest import ingest
from streams.runtime import tune_gc

START_US = 1_795_338_000_000_000  # 2026-11-22T09:00Z
STEP_US = 10_000
MAX_QUEUES = 500


def rss_mib() -> float:
    """Resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def ledger_queue_names(engine: Engine) -> int:
    """Distinct queue names the engine's ledger and base hold state under."""
    names: set[str] = set()
    for ledger in (engine.ledger, engine._base):
        names |= {labels[0] for metric, labels in ledger.counters
                  if not metric.startswith("cust_")}
        names |= {labels[0] for _, labels in ledger.histograms}
        for store in (ledger.intervals, ledger.days, ledger.minutes, ledger.waiting):
            names |= {queue for queue, _ in store}
    return len(names)


def row(engine: Engine, events: int, now_us: int) -> dict[str, float]:
    gc.collect()
    started = time.perf_counter()
    all_families(engine.config, [engine.ledger], now_us)
    scrape_ms = (time.perf_counter() - started) * 1000
    return {"events": events, "rss_mib": round(rss_mib(), 1), "records": engine.entity_count,
            "queue_names": ledger_queue_names(engine),
            "admitted": len(engine.ledger.first_seen), "scrape_ms": round(scrape_ms, 1)}


def run(mode: str, events: int, every: int) -> list[dict[str, float]]:
    """One run in this process; returns its rows."""
    tune_gc()
    config = parse_config({"limits": {"max_queues": MAX_QUEUES}})
    engine = Engine(config)
    stats = PipelineStats()
    rows = [row(engine, 0, START_US)]
    for i in range(events):
        at = START_US + i * STEP_US
        queue = f"flood-{i}" if mode == "names" else "sales"
        line = orjson.dumps({"event_id": f"e{i}", "type": "call.queued", "call_id": f"c{i}",
                             "occurred_at": format_us(at), "queue": queue})
        ingest(line, engine, stats, now_us=None)
        if (i + 1) % every == 0:
            rows.append(row(engine, i + 1, at))
            print(f"{mode}: {i + 1:,} events, RSS {rows[-1]['rss_mib']} MiB",
                  file=sys.stderr, flush=True)
    later = START_US + events * STEP_US + 6 * DAY_US
    ingest(orjson.dumps({"event_id": "after", "type": "call.queued", "call_id": "after",
                         "occurred_at": format_us(later), "queue": "sales"}),
           engine, stats, now_us=None)
    engine.prune()
    rows.append({**row(engine, events + 1, later), "after_retention": True})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=200_000)
    parser.add_argument("--json", action="store_true",
                        help="also print the results as one JSON object on the last line")
    parser.add_argument("--mode", choices=("names", "one-queue"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # a child run: its rows as JSON on stdout
        print(json.dumps(run(args.mode, args.events, args.every)))
        return
    results = {}
    for mode in ("names", "one-queue"):
        done = subprocess.run([sys.executable, __file__, "--mode", mode, "--events",
                               str(args.events), "--every", str(args.every)],
                              stdout=subprocess.PIPE, check=True, text=True)
        results[mode] = json.loads(done.stdout.splitlines()[-1])
    print(f"max_queues = {MAX_QUEUES}; one call per event, {STEP_US // 1000} ms apart")
    print(f"{'events':>10} | {'distinct names: RSS MiB':>24} {'records':>9} {'names held':>10} "
          f"{'scrape ms':>9} | {'one queue: RSS MiB':>19} {'scrape ms':>9}")
    for flood, plain in zip(results["names"], results["one-queue"], strict=True):
        label = "after 6 d" if flood.get("after_retention") else f"{flood['events']:,}"
        print(f"{label:>10} | {flood['rss_mib']:>24} {flood['records']:>9,} "
              f"{flood['queue_names']:>10,} {flood['scrape_ms']:>9} | "
              f"{plain['rss_mib']:>19} {plain['scrape_ms']:>9}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
