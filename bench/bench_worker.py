"""Worker throughput and freshness through a real Kafka broker.

1. Throughput: N simulated events are produced first, then one ``ccpulse worker`` starts and
   consumes the backlog with every KPI on; events/s is measured from /metrics, polled every
   0.3 s: the events applied after the first look that saw any, over the time from it to the
   look that saw them all (errs slow by up to one look; before 2026-12-03 every event was
   counted over that span, which erred fast by those the first look saw, and the CPU per
   event low by as much; the table's events column gives the events timed). Beside it the
   worker's CPU time per event over the same span (from ``/proc``: what a shared machine's
   load does not change much, unlike events/s).
2. Freshness: events stamped with the send time are sent at a fixed rate (1,000/s by
   default, with a live source's 5 ms producer linger) to the running worker; the
   ``cc_event_lag_seconds`` histogram (processing time − event time; /metrics serves the
   in-memory state, so processed = visible) gives p50/p99.

Prints a table. Starts its own broker on free ports in a temp dir (or uses
``CCPULSE_TEST_BROKER``). ``--calls``: the backlog is call events only, the stream
``bench/bench_side_by_side.py`` drains (its ccpulse row without the peers). Run:

    .venv/bin/python bench/bench_worker.py [events] [rate] [--calls]

``events``: the backlog drained (default 100,000); ``rate``: events a second of the
freshness run (default 1,000).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from worker_harness import Worker, free_port, measured_code, wait_for

from streams import compiled
from streams.kafka import LocalBroker
from streams.kafka.admin import ensure_topics
from streams.publish import LIVE_LINGER_MS, Publisher
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import FLAT_PEAK, contact_centre

TOPICS = ("cc.calls", "cc.chats", "cc.tickets", "cc.agents", "cc.feedback", "cc.customers",
          "cc.deadletter")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _events(count: int, end_ms: int, calls_only: bool = False) -> list[dict]:
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    hours = max(1, count // 5000 + 1)  # the busy profile gives ~7,700 events an hour
    if calls_only:  # as bench_side_by_side.call_events
        busy = replace(contact_centre(), profile=FLAT_PEAK)
        hours = count // 1200 + 1
    start = end_ms - hours * 3_600_000
    out = []
    for e in generate(busy, seed=5, start_ms=start, duration_ms=hours * 3_600_000):
        if calls_only and not e["type"].startswith("call."):
            continue
        out.append(e)
        if len(out) >= count:
            break
    return out


async def _send(bootstrap: str, prefix: str, events: list[dict], rate: float | None) -> None:
    linger = {"linger_ms": LIVE_LINGER_MS} if rate else {}
    async with Publisher(bootstrap, topic_prefix=prefix, **linger) as pub:
        t0 = time.monotonic()
        for i, e in enumerate(events):
            if rate:
                due = t0 + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                e = {**e, "occurred_at": _iso(time.time_ns() // 1_000_000)}
            await pub.send_event(e)
        await pub.flush()


def _total(metrics: dict, name: str) -> float:
    return sum(v for (n, _), v in metrics.items() if n == name)


def lag_buckets(metrics: dict) -> dict[float, float]:
    """``cc_event_lag_seconds`` bucket bound -> cumulative count, summed over every series."""
    buckets: dict[float, float] = {}
    for (n, labels), v in metrics.items():
        if n == "cc_event_lag_seconds_bucket":
            le = dict(labels)["le"]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0) + v
    return buckets


def lag_quantile(after: dict, before: dict, q: float) -> float:
    """Upper bucket bound of quantile ``q`` of the lag observed between two scrapes (parsed
    with ``worker_harness.parse_metrics``); NaN when nothing was observed."""
    old = lag_buckets(before)
    buckets = {b: v - old.get(b, 0) for b, v in lag_buckets(after).items()}
    ordered = sorted(buckets.items())
    total = ordered[-1][1] if ordered else 0
    for bound, cumulative in ordered:
        if total and cumulative >= q * total:
            return bound
    return float("nan")


def start_broker(tmp: Path) -> tuple[LocalBroker | None, str]:
    """``CCPULSE_TEST_BROKER`` if set, else a local broker on free ports under ``tmp``;
    returns the broker to stop (None for an outside one) and its bootstrap address."""
    bootstrap = os.environ.get("CCPULSE_TEST_BROKER")
    if bootstrap:
        return None, bootstrap
    # die_with_parent: a benchmark killed from outside (`timeout`, Ctrl-C twice) leaves no
    # broker running
    broker = LocalBroker(state_dir=tmp / "kafka", port=free_port(), controller_port=free_port(),
                         die_with_parent=True)
    broker.start()
    return broker, broker.bootstrap


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, every thread) the process ``pid`` has used so far, from
    ``/proc`` (None where there is none): beside events/s, what an event costs the worker
    whatever else the machine runs — a shared machine slows the wall clock, not this."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return
    args = [a for a in sys.argv[1:] if a != "--calls"]
    count = int(args[0]) if args else 100_000
    rate = float(args[1]) if len(args) > 1 else 1000.0
    tmp = Path(tempfile.mkdtemp(prefix="ccpulse-bench-"))
    broker, bootstrap = start_broker(tmp)
    prefix = f"bench{int(time.time())}."
    rows = []
    try:
        ensure_topics(bootstrap, [prefix + t for t in TOPICS], 4)
        now = time.time_ns() // 1_000_000
        events = _events(count, now, calls_only="--calls" in sys.argv)
        what = "call events" if "--calls" in sys.argv else "simulated events of every family"
        print(f"producing {len(events):,} {what} ...", flush=True)
        asyncio.run(_send(bootstrap, prefix, events, None))
        worker = Worker(bootstrap, prefix.rstrip("."), prefix, tmp / "worker", free_port())
        t_start = time.monotonic()
        worker.start()
        t_ready = time.monotonic()
        first: list[float] = []
        cpu_at_first: list[float | None] = []
        done_at_first: list[float] = []  # events applied by the first look that saw any

        shown = [time.monotonic()]

        def consumed() -> bool:
            done = _total(worker.metrics(), "cc_events_total")
            if done and not first:
                first.append(time.monotonic())
                done_at_first.append(done)
                print(f"  worker: {done:,.0f} events applied at the first look at /metrics",
                      flush=True)
                cpu_at_first.append(cpu_seconds(worker.proc.pid))  # type: ignore[union-attr]
            if done >= len(events):
                print(f"  worker: all {len(events):,} events applied", flush=True)
                return True
            if time.monotonic() - shown[0] >= 5:
                shown[0] = time.monotonic()
                print(f"  worker: {done:,.0f} of {len(events):,} events applied so far",
                      flush=True)
            return False

        wait_for(consumed, "the backlog to be consumed", worker, timeout_s=1800)
        t_done = time.monotonic()
        cpu_done = cpu_seconds(worker.proc.pid)  # type: ignore[union-attr]
        begin = first[0] if first else t_ready
        # timed from the first look that saw events applied, counting only those applied
        # after it (the end errs slow by up to one look)
        timed = len(events) - int(done_at_first[0] if done_at_first else 0)
        timeable = timed >= len(events) / 2
        rows.append(("worker start → ready", "", f"{t_ready - t_start:.1f} s"))
        if not timeable:
            rows.append(("backlog throughput", f"{len(events):,}",
                         "not timed: most of it was applied before the first look at "
                         "/metrics (give more events)"))
        else:
            rows.append(("backlog throughput (events timed)", f"{timed:,}",
                         f"{timed / max(t_done - begin, 1e-9):,.0f} events/s"))
        if timeable and cpu_done is not None and cpu_at_first and cpu_at_first[0] is not None:
            used = cpu_done - cpu_at_first[0]
            rows.append(("  worker CPU (all threads)", "",
                         f"{used / timed * 1e6:.1f} µs/event, "
                         f"{used / max(t_done - begin, 1e-9):.0%} of the wall time"))
        live = _events(int(rate * 20), time.time_ns() // 1_000_000)
        print(f"sending {len(live):,} events at {rate:,.0f}/s ...", flush=True)
        before = worker.metrics()
        asyncio.run(_send(bootstrap, prefix, live, rate))
        wait_for(lambda: _total(worker.metrics(), "cc_events_total")
                 >= _total(before, "cc_events_total") + len(live), "live events", worker)
        m = worker.metrics()
        rows.append((f"freshness at {rate:,.0f} ev/s, p50", f"{len(live):,}",
                     f"≤ {lag_quantile(m, before, 0.5)} s (send → processed, bucket bound)"))
        rows.append((f"freshness at {rate:,.0f} ev/s, p99", "",
                     f"≤ {lag_quantile(m, before, 0.99)} s"))
        worker.stop()
    finally:
        if broker:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nccpulse at {measured_code()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(compiled.decide().line())  # what the worker it started ran (the same environment)
    print(f"{'measure':<34}{'events':>10}  result")
    for name, n, result in rows:
        print(f"{name:<34}{n:>10}  {result}")


if __name__ == "__main__":
    main()
