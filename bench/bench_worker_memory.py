"""Worker memory over a long run: does a ``ccpulse worker``'s RSS stay flat as stream time
advances, through a real Kafka broker?

``--events`` simulated events of the contact-centre scenario (every event family, ~100,000
events a simulated day: 10 M events are 100 days; the stream of ``bench/bench_memory.py``,
ending before now: the worker dead-letters an event stamped ahead of its clock) are sent to the
broker as fast as one worker handles them: the producer stays at most ``--max-lag`` events
ahead of it, so the worker meets every topic's events roughly in stream order, as a live worker
does (a backlog produced first would be drained topic by topic, each at its own pace: the small
customers topic long before the calls). Every KPI is on, and the worker is scraped every
``--poll`` seconds. Each time it has handled another ``--every`` events the bench prints a row:
the worker's RSS (``VmRSS`` of ``/proc/<pid>/status``) and its anonymous part (``RssAnon``: the
Python heap, RocksDB's memtables and block cache) split by mapping (:func:`memory_map`: glibc's
main heap, its other threads' arenas, other anonymous mappings such as pymalloc's arenas), the
size of its RocksDB databases on disk, the records they hold per entity kind (opened read-only
beside the worker: what its last checkpoint wrote), the seconds since the worker started, and
from its ``/metrics`` the entities whose records it holds in memory (as objects or frozen) and
those left on disk (``cc_entities``), and what its RocksDB cache and memtables hold
(``cc_local_store_memory_bytes``). At the end, the RSS growth from the 2 M row to the last
(issue 10 asks that RSS after 10 M be within 10 % of RSS after 2 M). The worker gets glibc's
malloc settings as the container image and the demo give them (``streams.worker.allocator``;
``--plain-malloc``: glibc's defaults, unless this process's environment sets them).

The hour-long live soak (``bench/bench_soak.py``) covers three simulated weeks; this covers
100 simulated days in as long as the worker takes to handle the events. The state a worker
keeps depends on stream time, not on wall time.

A benchmark, not a test: it prints, it never asserts. Starts its own broker on free ports in a
temp dir, or uses ``CCPULSE_TEST_BROKER``. Run:

    .venv/bin/python bench/bench_worker_memory.py [--events 10000000] [--every 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_worker import TOPICS, start_broker
from worker_harness import Worker, free_port, parse_metrics

from streams.kafka.admin import ensure_topics
from streams.publish import Publisher, route_event
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.worker.allocator import worker_environment

PARTITIONS = 4
#: Simulated events a day, at least (the contact-centre scenario has ~100,000): the stream
#: starts this many days ago that it ends before now — the worker dead-letters an event
#: stamped ahead of its clock (``future_timestamp``).
EVENTS_PER_DAY = 80_000
HOUR_MS = 3_600_000
#: Seconds a settled row waits after the worker has caught up: past its next checkpoint
#: (``broker_commit_every`` / the commit interval: a few seconds).
SETTLE_S = 5.0
#: Table key prefix (before the first ``:``) -> entity kind.
KIND_OF_PREFIX = {"call": "contact", "chat": "contact", "ticket": "ticket",
                  "feedback": "feedback", "customer": "customer", "marketing": "customer",
                  "agent": "agent", "__base__": "base"}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


#: glibc's per-thread malloc arenas are mappings of this size, aligned to it (HEAP_MAX_SIZE
#: on 64-bit: twice the largest mmap threshold), their unused part mapped ``---p``.
THREAD_ARENA_BYTES = 64 * 2**20


def memory_map(pid: int) -> dict[str, float]:
    """Resident MiB of ``pid`` by kind of mapping (Linux ``/proc/<pid>/smaps``): ``heap``,
    glibc's main arena (the main thread's blocks of 128 KiB or less that are not Python
    objects of 512 bytes or less); ``thread arenas``, glibc's arenas of other threads
    (RocksDB's flushes and compactions, the threads of the worker's pools); ``anon``, every
    other anonymous mapping (pymalloc's 1 MiB arenas: Python objects of 512 bytes or less;
    blocks over glibc's mmap threshold; thread stacks); ``file``, mapped files (code, RocksDB
    files read by mmap)."""
    out = {"heap": 0.0, "thread arenas": 0.0, "anon": 0.0, "file": 0.0}
    kind = "anon"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(None, 5)
        if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
            start = int(head[0].split("-", 1)[0], 16)
            name = head[5] if len(head) > 5 else ""
            if name == "[heap]":
                kind = "heap"
            elif name.startswith("/"):
                kind = "file"
            elif not name and start % THREAD_ARENA_BYTES == 0 and head[1].startswith("rw"):
                kind = "thread arenas"
            else:
                kind = "anon"
        elif head[0] == "Rss:":
            out[kind] += int(head[1]) / 1024
    return out


def proc_memory(pid: int) -> tuple[float, float]:
    """VmRSS and RssAnon of ``pid``, MiB (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["RssAnon"].split()[0]) / 1024)


class Progress:
    """What the producer and the monitor share: events sent, events the worker handled (from
    its /metrics), and, with ``--settle``, the mark the producer waits at until the monitor has
    read its row."""

    def __init__(self) -> None:
        self.sent = 0
        self.handled = 0.0
        self.done = threading.Event()
        self.settled = threading.Event()  # the row of the mark the producer waits at is read


def start_ms(events: int) -> int:
    """Where the stream starts: far enough back that ``events`` end before now."""
    now_ms = time.time_ns() // 1_000_000
    days = events // EVENTS_PER_DAY + 2
    return (now_ms - days * 24 * HOUR_MS) // HOUR_MS * HOUR_MS


async def produce(bootstrap: str, prefix: str, events: int, seed: int, max_lag: int,
                  progress: Progress, settle_every: int = 0) -> None:
    """Send the simulated stream, at most ``max_lag`` events ahead of the worker (0: no
    limit), so that the worker meets the topics' events roughly in stream order; with
    ``settle_every``, stop at each multiple of it until the monitor has read its row."""
    async with Publisher(bootstrap, topic_prefix=prefix) as pub:
        for event in generate(contact_centre(), seed=seed, start_ms=start_ms(events)):
            await pub.send(route_event(event, prefix))
            progress.sent += 1
            if settle_every and progress.sent % settle_every == 0 and progress.sent < events:
                await pub.flush()
                while not progress.settled.is_set() and not progress.done.is_set():
                    await asyncio.sleep(0.2)
                progress.settled.clear()
            if max_lag and progress.sent % 10_000 == 0:
                while progress.sent - progress.handled > max_lag and not progress.done.is_set():
                    await pub.flush()
                    await asyncio.sleep(0.5)
            if progress.sent >= events:
                break
        await pub.flush()


def records_per_kind(tables: Path) -> tuple[Counter[str], float]:
    """Records per entity kind in the worker's RocksDB databases under ``tables`` (opened
    read-only: the primary keeps writing), and their size on disk in MiB."""
    import rocksdict  # the worker's store driver

    kinds: Counter[str] = Counter()
    size = 0
    for db in sorted(tables.glob("*.db")):
        size += sum(f.stat().st_size for f in db.iterdir() if f.is_file())
        for attempt in range(3):
            try:
                options = rocksdict.Options(raw_mode=True)
                options.set_max_open_files(16)
                rd = rocksdict.Rdict(str(db), options=options,
                                     access_type=rocksdict.AccessType.read_only())
                found: Counter[str] = Counter()
                try:
                    it = rd.iter()
                    it.seek_to_first()
                    while it.valid():
                        prefix = it.key().split(b":", 1)[0].decode(errors="replace")
                        if not prefix.startswith("__faust"):
                            found[KIND_OF_PREFIX.get(prefix, prefix)] += 1
                        it.next()
                    del it
                finally:
                    rd.close()
                kinds.update(found)
                break
            except Exception as exc:  # a file compacted away under the read: once more
                if attempt == 2:
                    say(f"  could not read {db.name}: {exc}")
                time.sleep(0.5)
    kinds.pop("base", None)
    return kinds, size / 2**20


HEADER = (f"{'events':>12} {'sent':>12} {'seconds':>8} {'RSS MiB':>8} {'anon MiB':>9} "
          f"{'heap':>6} {'threads':>7} {'mmaps':>6} "
          f"{'peak MiB':>9} {'disk MiB':>9} {'customer':>9} {'ticket':>8} {'contact':>8} "
          f"{'feedback':>9} "
          f"{'agent':>6} {'invalid':>8} {'in memory':>10} {'on disk':>8} {'store MiB':>10}")


def held_where(worker: Worker) -> tuple[dict[str, float], float]:
    """The worker's entities by where their record is (``cc_entities``: memory, frozen,
    disk) and its local stores' memory in MiB (``cc_local_store_memory_bytes``)."""
    status, body = worker._get("/metrics")
    if status != 200:
        return {}, 0.0
    metrics = parse_metrics(body)
    where = {dict(labels)["where"]: v for (n, labels), v in metrics.items() if n == "cc_entities"}
    store = sum(v for (n, _), v in metrics.items() if n == "cc_local_store_memory_bytes")
    return where, store / 2**20


def monitor(worker: Worker, tables: Path, args: argparse.Namespace, progress: Progress,
            rows: list[dict]) -> None:
    """Scrape the worker every ``--poll`` seconds; a row at every ``--every`` events handled,
    until ``--events`` are handled (or nothing moves for a minute once all are sent). With
    ``--settle`` a row is read once the worker has handled every event sent (the producer
    waits at the mark) and its checkpoint has run: nothing fetched and not yet applied, no
    batch being encoded. ``peak`` is the highest RSS read at a poll since the last row."""
    assert worker.proc is not None
    started = moved_at = time.monotonic()
    next_row = args.every
    peak = 0.0
    while progress.handled < args.events:
        time.sleep(args.poll)
        if worker.proc.poll() is not None:
            say(f"worker exited:\n{worker.log_tail()}")
            break
        now = time.monotonic()
        status, body = worker._get("/metrics")
        invalid = 0.0
        if status == 200:
            metrics = parse_metrics(body)
            handled = sum(v for (n, _), v in metrics.items()
                          if n in ("cc_events_total", "cc_events_invalid_total"))
            invalid = sum(v for (n, _), v in metrics.items() if n == "cc_events_invalid_total")
            if handled > progress.handled:
                progress.handled, moved_at = handled, now
        stuck = progress.sent >= min(args.events, next_row) and now - moved_at > 60
        peak = max(peak, proc_memory(worker.proc.pid)[0])
        if progress.handled >= next_row or progress.handled >= args.events or stuck:
            if args.settle:
                stuck = stuck or not wait_settled(worker, progress)
            rss, anon = proc_memory(worker.proc.pid)
            maps = memory_map(worker.proc.pid)
            peak = max(peak, rss)
            kinds, disk = records_per_kind(tables)
            where, store = held_where(worker)
            row = {"events": int(progress.handled), "sent": progress.sent,
                   "seconds": now - started, "rss_mib": rss, "anon_mib": anon,
                   "peak_mib": peak, "disk_mib": disk, "maps_mib": maps, "records": dict(kinds),
                   "invalid": int(invalid), "held": where, "store_mib": store}
            rows.append(row)
            peak = 0.0
            progress.settled.set()
            print(f"{row['events']:>12,} {row['sent']:>12,} {row['seconds']:>8,.0f} "
                  f"{rss:>8,.0f} {anon:>9,.0f} {maps['heap']:>6,.0f} "
                  f"{maps['thread arenas']:>7,.0f} {maps['anon']:>6,.0f} "
                  f"{row['peak_mib']:>9,.0f} {disk:>9,.0f} "
                  f"{kinds['customer']:>9,} "
                  f"{kinds['ticket']:>8,} {kinds['contact']:>8,} {kinds['feedback']:>9,} "
                  f"{kinds['agent']:>6,} {row['invalid']:>8,} "
                  f"{where.get('memory', 0) + where.get('frozen', 0):>10,.0f} "
                  f"{where.get('disk', 0):>8,.0f} {store:>10,.1f}", flush=True)
            while next_row <= progress.handled:
                next_row += args.every
            if stuck:
                say("nothing handled for a minute: stopping")
                break
    progress.done.set()


def wait_settled(worker: Worker, progress: Progress, timeout_s: float = 120.0) -> bool:
    """Wait until the worker has handled every event sent and then one commit interval more
    (its checkpoint written); False if it did not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = worker._get("/metrics")
        if status == 200:
            metrics = parse_metrics(body)
            progress.handled = sum(v for (n, _), v in metrics.items()
                                   if n in ("cc_events_total", "cc_events_invalid_total"))
            if progress.handled >= progress.sent:
                time.sleep(SETTLE_S)
                return True
        time.sleep(0.5)
    say(f"the worker did not catch up with {progress.sent:,} events in {timeout_s:.0f} s")
    return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000,
                        help="simulated events to send (~100,000 a simulated day)")
    parser.add_argument("--every", type=int, default=1_000_000,
                        help="print a row each time the worker has handled this many more")
    parser.add_argument("--seed", type=int, default=1, help="the simulator's seed")
    parser.add_argument("--max-lag", type=int, default=200_000,
                        help="events the producer may be ahead of the worker (0: no limit, "
                        "a backlog first; the worker then drains each topic at its own pace)")
    parser.add_argument("--poll", type=float, default=5.0,
                        help="seconds between scrapes of the worker's /metrics")
    parser.add_argument("--json", action="store_true", help="also a JSON summary line")
    parser.add_argument("--settle", action=argparse.BooleanOptionalAction, default=True,
                        help="read each row with nothing in flight: the producer waits at "
                        "each mark until the worker has handled every event sent and "
                        "checkpointed; --no-settle reads it on the move")
    parser.add_argument("--plain-malloc", action="store_true",
                        help="start the worker without the image's glibc malloc settings")
    args = parser.parse_args()
    if not args.plain_malloc:  # the broker and the worker inherit them (read at their start)
        os.environ.update(worker_environment(os.environ))

    tmp = Path(tempfile.mkdtemp(prefix="ccpulse-wmem-"))
    broker, bootstrap = start_broker(tmp)
    prefix = f"wmem{int(time.time())}-{os.getpid()}."  # runs side by side: their own topics
    worker = Worker(bootstrap, prefix + "ccpulse", prefix, tmp / "worker", free_port(),
                    partitions=PARTITIONS)
    rows: list[dict] = []
    progress = Progress()
    try:
        ensure_topics(bootstrap, [prefix + t for t in TOPICS], PARTITIONS)
        worker.start()
        assert worker.proc is not None
        say(f"worker pid {worker.proc.pid}; sending {args.events:,} simulated events (seed "
            f"{args.seed}) at most {args.max_lag:,} ahead of it; a row every {args.every:,}")
        print(HEADER, flush=True)
        watcher = threading.Thread(target=monitor, daemon=True, args=(
            worker, tmp / "worker" / "v1" / "tables", args, progress, rows))
        watcher.start()
        asyncio.run(produce(bootstrap, prefix, args.events, args.seed, args.max_lag,
                            progress, args.every if args.settle else 0))
        watcher.join()
    finally:
        progress.done.set()
        worker.stop()
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    at_2m = next((r for r in rows if r["events"] >= 2_000_000), None)
    if at_2m is not None and rows[-1]["events"] > at_2m["events"]:
        growth = rows[-1]["rss_mib"] / at_2m["rss_mib"] - 1
        print(f"\nworker RSS growth from {at_2m['events']:,} to {rows[-1]['events']:,} events: "
              f"{growth:+.1%} ({at_2m['rss_mib']:,.0f} -> {rows[-1]['rss_mib']:,.0f} MiB)")
    if args.json:
        print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
