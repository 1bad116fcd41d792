"""ccpulse beside its peers: one run, one broker, one table.

Starts its own Kafka broker (free ports, a temp dir), produces N simulated call events once
into ``<prefix>cc.calls`` (``--partitions``, default 4, kept for ever: ``retention.ms=-1``;
keyed by ``call_id`` as ``ccpulse simulate`` keys them; the busy flat profile of the
contact-centre scenario, call events only, the newest just before the run starts),
then lets four consumers drain that same topic, one after the other, each in its own
subprocess with its own consumer group, from the earliest offset to the end:

1. **raw aiokafka + orjson** (``bench/peers/raw_aiokafka.py``): ``getmany`` and
   ``orjson.loads`` of every value, nothing else. The ceiling for Python on this broker.
2. **Quix Streams** (``bench/peers/quix_count.py``): a count per queue in tumbling 1-minute
   windows of event time (``occurred_at``), RocksDB state in the temp dir. Its grace period is
   the topic's event-time span: a backlog is read a partition's batch at a time, so without
   it most events arrive "late" for their queue and are skipped (less work, a wrong count;
   75 % of 20,000 in a trial); the row notes any late events.
3. **Faust** (``bench/peers/faust_table.py``): the textbook agent, ``faust.Record`` values and
   ``table[queue] += 1`` on ``app.Table(default=int).tumbling(60 s, expires=1 h)``
   relative to ``occurred_at``; Faust's defaults otherwise (producer linger 0, so the
   repartition and changelog sends go out nearly one message per request).
4. **ccpulse worker**: the real ``python -m streams.cli worker`` with the default config
   (every KPI on), ``CCPULSE_PARTITIONS`` = the topic's partitions.

Keys and partitioning: the topic is keyed by ``call_id``; a count *per queue* needs the queue
as the key of the state. Both peers do it the way their docs teach, with ``group_by`` on the
queue: each event is produced once more to an internal repartition topic and consumed again,
and that round trip is part of their rows (it is also what makes their per-queue state correct
across a consumer group). Call events without a ``queue`` field (ended, hold, wrap-up) are
counted under ``-``, so every peer handles every event. ccpulse does not repartition: each
partition has its own engine and the per-queue KPIs are summed at scrape time.

Each row's time runs from the first message the consumer handed over to the last event
handled (start-up, imports and the group join are excluded, and shown apart as ``start-up``:
process start to first message). The peers time themselves (``time.monotonic()``, the same
clock in every process). ccpulse is timed from outside, through /metrics polled every 0.1 s:
handled = ``cc_events_total`` + invalid + duplicate + late (all topics); the first event's
time is extrapolated back from the first scrape that shows events, at the rate between it and
the last scrape before all N; the end is the first scrape that shows all N (so the row errs
slow by up to one poll). ``÷ ceiling`` is events/s over the raw row's events/s.

Further rows:

* **freshness p50/p99** at 1,000 events/s (``--rate``) through the same running ccpulse worker
  after it drained the backlog: ``bench/bench_worker.py``'s method (every event family, sent
  at a fixed rate and stamped with the send time; the ``cc_event_lag_seconds`` histogram's
  change gives the upper bucket bound of each quantile).
* **/metrics scrape** at 500 queues × 2 channels: a fresh worker is filled with 30 simulated
  minutes of voice and chat traffic over 500 queues (50 agent groups of 30 agents, each
  serving 10 queues); then ``--scrapes`` GETs of /metrics (new connection each) are timed:
  median and max in ms, with the series count and size. Then the **busy scrape**: the same
  worker on a live floor, ``--busy-seconds`` of the floor's next events sent at its own rate
  (~55 a second, stamped with the send time) while ``curl`` reads /metrics every
  ``--scrape-interval`` seconds (5, the shipped Prometheus job's) on a fixed schedule, as
  Prometheus does; the row gives the reads after the first three (the worker learns the
  interval from them and brings its families up to date just before each read:
  ``streams.worker.scrape_rhythm``; ``--no-scrape-catch-up`` turns that off to compare) and
  the worker's CPU meanwhile.
* **restart** rows come from ``bench/bench_restart.py --json`` run as a subprocess (its last
  stdout line is one JSON object: row name -> formatted result). **memory** rows come from
  ``bench/bench_worker_memory.py --json``: a ``ccpulse worker`` through its own broker over
  10 M events of every family (100 simulated days), its RSS read settled at every million
  events, as issue 10's target is worded (RSS after 10 M within 10 % of RSS after 2 M); the
  rows are its RSS at 2 M and 10 M, the growth, and the records it keeps per kind (until
  2026-12-05 this row ran ``bench/bench_memory.py``, the engine in-process holding every
  record in memory, which is not the worker: +26 % where the worker grew +7 to +10 %). A
  missing script, one without ``--json`` or one that fails gives a ``not measured (reason)``
  row. ``--quick`` skips both (they take minutes: the memory rows ~25).

The machine this was written on has 2 cores and the broker runs on them too: absolute numbers
are this machine's, the ratios are the point. Progress goes to stderr, the table to stdout;
``--keep`` keeps the temp dir with every log. Run:

    .venv/bin/python bench/bench_side_by_side.py [events] [--quick] [--only throughput,...]

The peers need the bench extra: ``.venv/bin/pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parents[1]
PEERS = REPO / "bench" / "peers"
sys.path.insert(0, str(REPO / "tests" / "integration"))

from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from bench_worker import cpu_seconds, lag_quantile  # noqa: E402
from wide_floor import wide_scenario  # noqa: E402
from worker_harness import Worker, free_port, measured_code, parse_metrics  # noqa: E402

from streams import compiled  # noqa: E402
from streams.children import die_with_parent_hook  # noqa: E402
from streams.kafka import LocalBroker, ensure_topics  # noqa: E402
from streams.publish import LIVE_LINGER_MS, Publisher  # noqa: E402
from streams.simulate.generator import generate  # noqa: E402
from streams.simulate.scenarios import FLAT_PEAK, contact_centre  # noqa: E402
from streams.worker.scrape_rhythm import NO_CATCH_UP_ENV  # noqa: E402

TOPICS = ("cc.calls", "cc.chats", "cc.tickets", "cc.agents", "cc.feedback", "cc.customers",
          "cc.deadletter")
SECTIONS = ("throughput", "freshness", "scrape", "restart", "memory")
#: Every outcome of a handled event on /metrics (processed, dead-lettered, dropped).
HANDLED_FAMILIES = ("cc_events_total", "cc_events_invalid_total", "cc_events_duplicate_total",
                    "cc_events_late_total")
POLL_S = 0.1
#: Bound on how long any one stage may take before the run gives up on it.
STAGE_TIMEOUT_S = 1800.0
SUB_BENCH_TIMEOUT_S = 3600.0
INSTALL_HINT = "run .venv/bin/pip install -e '.[bench]'"


def log(message: str) -> None:
    print(f"[side-by-side {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- rows ------------------------------------------------------------------------------------


@dataclass
class Drained:
    """One consumer's drain of the topic."""

    name: str
    events: int
    seconds: float
    startup_s: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class Row:
    """A line of the table: a drain, or a measure with its result as text."""

    name: str
    events: str = ""
    result: str = ""
    drained: Drained | None = None


def ratio_text(ratio: float) -> str:
    """Two decimals; three below 0.1, so a small ratio does not print as 0.00."""
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3f}"


def print_table(rows: list[Row]) -> None:
    ceiling = next((r.drained for r in rows if r.drained and "ceiling" in r.name), None)
    width = max([46, *(len(r.name) + 2 for r in rows)])
    print(f"\nccpulse at {measured_code()}, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    print(compiled.decide().line())  # what the worker it started ran (the same environment)
    print(f"{'measure':<{width}}{'events':>10}{'seconds':>10}{'events/s':>11}"
          f"{'÷ ceiling':>11}{'start-up':>10}")
    for row in rows:
        d = row.drained
        if d is None:
            print(f"{row.name:<{width}}{row.events:>10}  {row.result}")
            continue
        ratio = ratio_text(d.rate / ceiling.rate) if ceiling and ceiling.rate > 0 else ""
        print(f"{row.name:<{width}}{d.events:>10,}{d.seconds:>10.2f}{d.rate:>11,.0f}"
              f"{ratio:>11}{d.startup_s:>8.1f} s" + (f"  {d.note}" if d.note else ""))
    drains = {r.name: r.drained for r in rows if r.drained}
    ccpulse = next((d for n, d in drains.items() if n.startswith("ccpulse")), None)
    quix = next((d for n, d in drains.items() if n.startswith("Quix")), None)
    print()
    for label, other in (("ceiling", ceiling), ("Quix Streams", quix)):
        if ccpulse and other and other.rate > 0:
            print(f"ccpulse ÷ {label}: {ratio_text(ccpulse.rate / other.rate)} "
                  f"({ccpulse.rate:,.0f} / {other.rate:,.0f} events/s)")


# -- child processes -------------------------------------------------------------------------


def stop_process(proc: subprocess.Popen[Any], grace_s: float = 20.0,
                 first: int = signal.SIGTERM) -> None:
    """``first`` (SIGTERM), then SIGKILL after ``grace_s``; nothing if it already exited."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(first)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def lines_of(stream: Any) -> queue.Queue[str | None]:
    """The lines of ``stream`` as a queue filled by a reader thread; ``None`` at the end."""
    out: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            out.put(line)
        out.put(None)

    threading.Thread(target=read, daemon=True).start()
    return out


def tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# -- events ----------------------------------------------------------------------------------


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def event_ms(event: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(event["occurred_at"]).timestamp() * 1000)


def call_events(count: int, end_ms: int, seed: int = 5) -> list[dict[str, Any]]:
    """``count`` call events of the busy contact centre (flat peak profile), ending before
    ``end_ms``: the events of every other family are generated and dropped."""
    busy = replace(contact_centre(), profile=FLAT_PEAK)
    hours = count // 1200 + 1  # ~1,550 call events per simulated hour at the peak
    while True:
        out: list[dict[str, Any]] = []
        start = end_ms - hours * 3_600_000
        for generated, event in enumerate(generate(busy, seed=seed, start_ms=start,
                                                   duration_ms=hours * 3_600_000), 1):
            if event["type"].startswith("call."):
                out.append(event)
                if len(out) >= count:
                    log(f"  generated {generated:,} events over {hours} simulated hours: "
                        f"the {count:,} calls")
                    return out
            if generated % 500_000 == 0:
                log(f"  generated {generated:,} events, {len(out):,} of them calls")
        hours *= 2


def mixed_events(count: int, end_ms: int, seed: int) -> list[dict[str, Any]]:
    """``count`` events of every family (bench_worker's live traffic)."""
    busy = replace(contact_centre(), profile=FLAT_PEAK)
    hours = max(1, count // 6000 + 1)
    out = []
    for event in generate(busy, seed=seed, start_ms=end_ms - hours * 3_600_000,
                          duration_ms=hours * 3_600_000):
        out.append(event)
        if len(out) >= count:
            break
    return out


async def create_kept_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create ``name`` with ``retention.ms=-1``. The events' event times reach days back, and
    Quix Streams stamps its repartition topic's records with event time and gives that topic
    the source topic's retention: under the local broker's 72 h the broker deletes records
    before Quix reads them back (a trial stalled at 150,000 of 200,000)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1,
                                            topic_configs={"retention.ms": "-1"})])
    finally:
        await admin.close()


async def send(bootstrap: str, prefix: str, events: list[dict[str, Any]],
               rate: float | None = None, what: str = "events") -> None:
    """Send ``events`` to their topics; at ``rate`` per second stamped with the send time, as
    a live source sends them (``streams.publish.LIVE_LINGER_MS``)."""
    linger = {"linger_ms": LIVE_LINGER_MS} if rate else {}
    async with Publisher(bootstrap, topic_prefix=prefix, **linger) as pub:
        t0 = time.monotonic()
        for i, event in enumerate(events):
            if rate:
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                event = {**event, "occurred_at": iso_ms(time.time_ns() // 1_000_000)}
            await pub.send_event(event)
            if (i + 1) % 50_000 == 0:
                log(f"  sent {i + 1:,}/{len(events):,} {what}")
        await pub.flush()


# -- the peers -------------------------------------------------------------------------------


def run_peer(name: str, script: str, bootstrap: str, topic: str, events: int,
             partitions: int, grace_ms: int, tmp: Path, stack: contextlib.ExitStack) -> Row:
    """Run ``bench/peers/<script>`` until it reports its result line."""
    key = Path(script).stem
    state = tmp / f"{key}-state"
    state.mkdir(parents=True, exist_ok=True)
    log_path = tmp / f"{key}.log"
    cmd = [sys.executable, str(PEERS / script), "--bootstrap", bootstrap, "--topic", topic,
           "--group", f"{topic}.{key}", "--events", str(events), "--partitions",
           str(partitions), "--state-dir", str(state), "--grace-ms", str(grace_ms)]
    log(f"{name}: draining {events:,} events")
    started = time.monotonic()
    with open(log_path, "ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=REPO)
    stack.callback(stop_process, proc)
    assert proc.stdout is not None
    lines = lines_of(proc.stdout)
    deadline = started + 120 + events / 500
    body: dict[str, Any] | None = None
    while body is None:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            stop_process(proc)
            log(f"{name} gave no result; the end of {log_path}:\n{tail(log_path)}")
            return Row(name, result=f"not measured (no result after "
                                    f"{time.monotonic() - started:.0f} s; its log is on stderr)")
        if line is None:
            proc.wait()
            log(f"{name} failed; the end of {log_path}:\n{tail(log_path)}")
            return Row(name, result=f"not measured (exited {proc.returncode} before its "
                                    "result; its log is on stderr)")
        if line.startswith("progress "):
            log(f"  {name}: {int(line.split()[1]):,}/{events:,}")
        elif "result {" in line:  # after any escape codes a library wrote to stdout
            body = json.loads(line[line.index("result {") + len("result "):])
    try:
        proc.wait(timeout=30)  # the peer stops itself after its result line
    except subprocess.TimeoutExpired:
        stop_process(proc)
    extra = {k: v for k, v in body.items() if k not in ("first_mono", "last_mono", "events")}
    drained = Drained(name, body["events"], body["last_mono"] - body["first_mono"],
                      body["first_mono"] - started,
                      ", ".join(f"{k} {v:,}" for k, v in extra.items() if v))
    log(f"{name}: {drained.events:,} events in {drained.seconds:.2f} s "
        f"= {drained.rate:,.0f}/s")
    return Row(name, drained=drained)


# -- ccpulse ---------------------------------------------------------------------------------


def scrape(url: str) -> str | None:
    """The body of ``url``, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()
    except (urllib.error.URLError, OSError):
        return None


def handled(text: str) -> int:
    return int(sum(v for (n, _), v in parse_metrics(text).items() if n in HANDLED_FAMILIES))


def family_sum(text: str, family: str) -> float:
    return sum(v for (n, _), v in parse_metrics(text).items() if n == family)


def start_worker(bootstrap: str, name: str, prefix: str, tmp: Path, partitions: int,
                 stack: contextlib.ExitStack, env: dict[str, str] | None = None,
                 ) -> tuple[Worker, float]:
    """Start ``python -m streams.cli worker`` (env as in worker_harness, plus ``env``) without
    waiting; returns the worker and when its process started."""
    worker = Worker(bootstrap, name, prefix, tmp / name, free_port(), partitions)
    worker.env.update(env or {})
    worker.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(worker.log_path, "ab") as out:
        worker.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"],
                                       env=worker.env, stdout=out, stderr=subprocess.STDOUT,
                                       cwd=REPO, preexec_fn=die_with_parent_hook())
    stack.callback(worker.stop)
    return worker, started


def wait_handled(worker: Worker, target: int, what: str,
                 on_sample: Callable[[float, int], None] | None = None) -> str:
    """Poll /metrics until ``target`` events are handled; returns the last body."""
    deadline = time.monotonic() + STAGE_TIMEOUT_S
    next_log = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert worker.proc is not None
        if worker.proc.poll() is not None:
            raise RuntimeError(f"the ccpulse worker exited with {worker.proc.returncode} "
                               f"while {what}:\n{worker.log_tail()}")
        text = scrape(worker.url + "/metrics")
        t = time.monotonic()
        if text is not None:
            n = handled(text)
            if on_sample:
                on_sample(t, n)
            if n >= target:
                return text
            if t >= next_log:
                log(f"  ccpulse: {n:,}/{target:,} {what}")
                next_log = t + 5
        time.sleep(POLL_S)
    raise RuntimeError(f"timed out after {STAGE_TIMEOUT_S:.0f} s {what}:\n{worker.log_tail()}")


def run_ccpulse(bootstrap: str, prefix: str, events: int, partitions: int, tmp: Path,
                stack: contextlib.ExitStack) -> tuple[Row, Worker]:
    name = "ccpulse worker, every KPI on"
    log(f"{name}: draining {events:,} events")
    worker, started = start_worker(bootstrap, prefix + "ccpulse", prefix, tmp, partitions,
                                   stack)
    samples: list[tuple[float, int]] = []
    text = wait_handled(worker, events, "events handled",
                        lambda t, n: samples.append((t, n)) if n else None)
    busy = [(t, n) for t, n in samples if n < events]
    end = samples[-1][0]
    t_a, n_a = samples[0]
    begin = t_a
    if len(busy) >= 2 and busy[-1][1] > n_a:
        t_b, n_b = busy[-1]
        begin = t_a - n_a * (t_b - t_a) / (n_b - n_a)  # back to the first event at that rate
    late = int(family_sum(text, "cc_events_late_total"))
    dropped = int(family_sum(text, "cc_events_duplicate_total")
                  + family_sum(text, "cc_events_invalid_total"))
    note = ", ".join(f"{label} {n:,}" for label, n in (("late", late), ("dup/invalid", dropped))
                     if n)
    drained = Drained(name, samples[-1][1], end - begin, begin - started, note)
    log(f"{name}: {drained.events:,} events in {drained.seconds:.2f} s "
        f"= {drained.rate:,.0f}/s")
    return Row(name, drained=drained), worker


def quantile_bound(after: str, before: str, q: float) -> float:
    """Upper bucket bound of quantile ``q`` of the lag observed between two scrapes."""
    return lag_quantile(parse_metrics(after), parse_metrics(before), q)


def freshness(worker: Worker, bootstrap: str, prefix: str, rate: float,
              seconds: float) -> list[Row]:
    live = mixed_events(int(rate * seconds), time.time_ns() // 1_000_000, seed=11)
    log(f"freshness: sending {len(live):,} events at {rate:,.0f}/s (~{seconds:.0f} s)")
    before = scrape(worker.url + "/metrics")
    assert before is not None, "the ccpulse worker stopped answering /metrics"
    asyncio.run(send(bootstrap, prefix, live, rate, "live events"))
    after = wait_handled(worker, handled(before) + len(live), "live events handled")
    label = f"freshness at {rate:,.0f} ev/s"
    return [Row(f"{label}, p50", f"{len(live):,}",
                f"≤ {quantile_bound(after, before, 0.5)} s (send → processed, bucket bound)"),
            Row(f"{label}, p99", "", f"≤ {quantile_bound(after, before, 0.99)} s")]


def series_per_family(body: str) -> Counter[str]:
    """Series on a /metrics page by family (``_bucket``/``_sum``/``_count`` folded in)."""
    out: Counter[str] = Counter()
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            for suffix in ("_bucket", "_sum", "_count"):
                name = name.removesuffix(suffix)
            out[name] += 1
    return out


def scrape_rows(bootstrap: str, tmp: Path, args: argparse.Namespace,
                stack: contextlib.ExitStack) -> list[Row]:
    partitions, scrapes = args.partitions, args.scrapes
    prefix = f"wide{int(time.time())}."
    ensure_topics(bootstrap, [prefix + t for t in TOPICS], partitions)
    now_ms = time.time_ns() // 1_000_000
    events = list(generate(wide_scenario(), seed=7, start_ms=now_ms - 1_800_000,
                           duration_ms=1_800_000))
    log(f"scrape: producing {len(events):,} events over 500 queues × voice, chat")
    asyncio.run(send(bootstrap, prefix, events))
    env = {NO_CATCH_UP_ENV: "1"} if args.no_scrape_catch_up else {}
    worker, _ = start_worker(bootstrap, prefix + "ccpulse", prefix, tmp, partitions, stack, env)
    wait_handled(worker, len(events), "500-queue events handled")
    times_ms = []
    body = ""
    for _ in range(scrapes):
        t0 = time.perf_counter()
        body = scrape(worker.url + "/metrics") or ""
        times_ms.append((time.perf_counter() - t0) * 1000)
    per_family = series_per_family(body)
    series = sum(per_family.values())
    log("scrape: largest families " + ", ".join(
        f"{name} {n:,}" for name, n in per_family.most_common(6)))
    rows = [Row("/metrics scrape, 500 queues × 2 channels", f"{len(events):,}",
                f"median {statistics.median(times_ms):.0f} ms, max {max(times_ms):.0f} ms "
                f"({scrapes} GETs; {series:,} series, {len(body) / 1024:,.0f} KiB)")]
    if args.busy_seconds > 0:
        rows.extend(busy_scrape_rows(worker, bootstrap, prefix, args))
    worker.stop()
    return rows


#: GETs of a busy scrape before the worker has learned their interval (its third read
#: makes two intervals: streams.worker.scrape_rhythm), left out of its row.
LEARNING_GETS = 3


def busy_scrape_rows(worker: Worker, bootstrap: str, prefix: str,
                     args: argparse.Namespace) -> list[Row]:
    """The same worker on a live floor: ``--busy-seconds`` of the wide floor's next events
    sent at its own rate (~55 a second), stamped with the send time, while /metrics is read
    every ``--scrape-interval`` seconds on a fixed schedule, as Prometheus reads it: by
    ``curl`` (``-w %{time_total}``: from the request until the whole body is in), or with
    ``--scraper urllib`` by Python's client, timed here (its reading in Python adds a few
    ms). Rows: the reads after the first :data:`LEARNING_GETS`, and the worker's CPU
    meanwhile."""
    seconds, interval = args.busy_seconds, args.scrape_interval
    now_ms = time.time_ns() // 1_000_000
    live = list(generate(wide_scenario(), seed=8, start_ms=now_ms,
                         duration_ms=int(seconds * 1000)))
    rate = len(live) / seconds
    mode = "off" if args.no_scrape_catch_up else "on"
    curl = shutil.which("curl") if args.scraper == "curl" else None
    if args.scraper == "curl" and curl is None:
        fail("curl is not installed (the busy scrape reads /metrics with it); install "
             "Debian's curl or pass --scraper urllib")
    log(f"scrape: {len(live):,} live events at {rate:,.0f}/s, /metrics read every "
        f"{interval:g} s by {args.scraper} (catch-up before reads {mode})")
    sender = threading.Thread(target=lambda: asyncio.run(
        send(bootstrap, prefix, live, rate, "live events")), daemon=True)
    assert worker.proc is not None
    cpu_before = cpu_seconds(worker.proc.pid)
    t_start = time.monotonic()
    sender.start()
    times_ms: list[float] = []
    n = 0
    while sender.is_alive() or n * interval < seconds:
        delay = t_start + n * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        n += 1
        if curl is not None:
            done = subprocess.run([curl, "-s", "-o", "/dev/null", "-w", "%{time_total}",
                                   worker.url + "/metrics"], capture_output=True, text=True,
                                  timeout=30, check=False)
            times_ms.append(float(done.stdout or "nan") * 1000)
        else:
            t0 = time.perf_counter()
            scrape(worker.url + "/metrics")
            times_ms.append((time.perf_counter() - t0) * 1000)
    sender.join()
    cpu_after = cpu_seconds(worker.proc.pid)
    cpu_s = (cpu_after - cpu_before if cpu_after is not None and cpu_before is not None
             else math.nan)
    wall_s = time.monotonic() - t_start
    learned = times_ms[LEARNING_GETS:]
    log(f"scrape: each busy read, ms: {', '.join(f'{t:.0f}' for t in times_ms)}")
    if len(learned) < 2:
        fail(f"the busy scrape made {len(times_ms)} reads: give it --busy-seconds for at "
             f"least {LEARNING_GETS + 2} of --scrape-interval")
    label = (f"/metrics scrape, busy: {rate:,.0f} ev/s, read every {interval:g} s by "
             f"{args.scraper}, catch-up {mode}")
    return [Row(label, f"{len(live):,}",
                f"median {statistics.median(learned):.0f} ms, p90 "
                f"{statistics.quantiles(learned, n=10, method='inclusive')[-1]:.0f} ms, "
                f"max {max(learned):.0f} ms ({len(learned)} reads; the first {LEARNING_GETS}, "
                f"left out: {', '.join(f'{t:.0f}' for t in times_ms[:LEARNING_GETS])})"),
            Row("... the worker's CPU meanwhile", "",
                f"{cpu_s:.1f} s in {wall_s:.0f} s ({100 * cpu_s / wall_s:.1f} % of a core)")]


# -- other bench scripts ---------------------------------------------------------------------


def worker_memory_rows(body: dict[str, Any]) -> list[Row]:
    """The memory rows from ``bench/bench_worker_memory.py --json``'s summary (``{"rows":
    [{"events", "rss_mib", "records": kind -> count, ...}, ...]}``, one a million events)."""
    readings = body.get("rows") or []
    if not readings:
        return [Row("memory", result="not measured (bench/bench_worker_memory.py read no RSS)")]
    last = readings[-1]
    if last["events"] < 10_000_000:  # the worker stopped or stuck: say so on every row
        return [Row("memory", result=f"not measured (bench/bench_worker_memory.py ended at "
                                     f"{last['events']:,} of 10,000,000 events; its log "
                                     "above says why)")]
    at_2m = next((r for r in readings if r["events"] >= 2_000_000), None)
    out = [Row(f"worker RSS after {last['events']:,} events (through the broker, settled)",
               result=f"{last['rss_mib']:,.0f} MiB")]
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(last.get("records", {}).items()))
    out.append(Row("records kept at the end (local store)", result=kinds or "-"))
    if at_2m is not None and last["events"] > at_2m["events"]:
        growth = last["rss_mib"] / at_2m["rss_mib"] - 1
        out.append(Row(f"worker RSS growth {at_2m['events']:,} -> {last['events']:,} events",
                       result=f"{growth:+.1%} ({at_2m['rss_mib']:,.0f} -> "
                              f"{last['rss_mib']:,.0f} MiB; target within 10 %)"))
    return out


def sub_bench(script: str, what: str,
              rows_of: Callable[[dict[str, Any]], list[Row]] | None = None) -> list[Row]:
    """The rows ``bench/<script> --json`` prints (``rows_of`` makes them from its last line,
    else each of its names is a row), or one ``not measured`` row."""
    path = REPO / "bench" / script
    if not path.exists():
        return [Row(what, result=f"not measured (bench/{script} does not exist yet)")]
    if "--json" not in path.read_text(encoding="utf-8", errors="replace"):
        return [Row(what, result=f"not measured (bench/{script} has no --json option)")]
    log(f"{what}: running bench/{script} --json (minutes; its progress follows)")
    proc = subprocess.Popen([sys.executable, str(path), "--json"], stdout=subprocess.PIPE,
                            text=True, cwd=REPO)
    lines: list[str] = []

    def pump() -> None:
        """Its table rows are its progress: echoed to stderr as they come, kept for the end."""
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not line.lstrip().startswith("{"):
                sys.stderr.write("  " + line)
                sys.stderr.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=SUB_BENCH_TIMEOUT_S)
        reader.join(timeout=30.0)
        if reader.is_alive():  # a grandchild holds its stdout open: what came is all there is
            log(f"{what}: bench/{script} exited but its output did not end within 30 s")
        out = "".join(lines)
    except subprocess.TimeoutExpired:
        stop_process(proc, grace_s=30.0, first=signal.SIGINT)
        return [Row(what, result=f"not measured (bench/{script} ran over "
                                 f"{SUB_BENCH_TIMEOUT_S:.0f} s)")]
    except BaseException:
        stop_process(proc, grace_s=30.0, first=signal.SIGINT)
        raise
    if proc.returncode != 0:
        return [Row(what, result=f"not measured (bench/{script} exited {proc.returncode})")]
    last = out.strip().splitlines()[-1] if out.strip() else ""
    try:
        body = json.loads(last)
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not body:
        return [Row(what, result=f"not measured (bench/{script}'s last line is not a JSON "
                                 "object)")]
    if rows_of is not None:
        return rows_of(body)
    return [Row(str(name), result=str(value)) for name, value in body.items()]


# -- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("events", nargs="?", type=int, default=200_000,
                        help="call events in the pre-filled topic (default 200,000)")
    parser.add_argument("--quick", action="store_true",
                        help="skip the slow sub-benchmarks (restart, memory)")
    parser.add_argument("--only", metavar="S[,S]",
                        help=f"run only these sections: {', '.join(SECTIONS)}")
    parser.add_argument("--partitions", type=int, default=4,
                        help="partitions of the pre-filled topic (default 4)")
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="events/s of the freshness run (default 1,000)")
    parser.add_argument("--fresh-seconds", type=float, default=20.0,
                        help="how long the freshness run sends (default 20)")
    parser.add_argument("--scrapes", type=int, default=10,
                        help="GETs of /metrics timed (default 10)")
    parser.add_argument("--busy-seconds", type=float, default=60.0,
                        help="how long the busy scrape's live floor runs (0: no busy "
                             "scrape; default 60)")
    parser.add_argument("--scraper", choices=("curl", "urllib"), default="curl",
                        help="what reads /metrics in the busy scrape (default curl)")
    parser.add_argument("--scrape-interval", type=float, default=5.0,
                        help="seconds between the busy scrape's reads (default 5: the "
                             "shipped Prometheus reads the worker every 5 s)")
    parser.add_argument("--no-scrape-catch-up", action="store_true",
                        help=f"start the scrape's worker with {NO_CATCH_UP_ENV}=1 (to "
                             "compare)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp dir (broker, worker and peer logs) and say where")
    args = parser.parse_args()
    chosen = set(SECTIONS) if args.only is None else {
        s.strip() for s in args.only.split(",") if s.strip()}
    unknown = chosen - set(SECTIONS)
    if unknown or not chosen:
        parser.error(f"--only takes {', '.join(SECTIONS)}; got {args.only!r}")
    if args.quick:
        chosen -= {"restart", "memory"}
    args.sections = chosen
    return args


def fail(message: str) -> NoReturn:
    print(f"Error: {message}", file=sys.stderr)
    raise SystemExit(1)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C and SIGTERM both unwind the run, so every cleanup callback runs.

    SIGINT gets Python's own handler even when the run was started with it ignored (a
    background job), and SIGTERM is turned into a SIGINT: inside ``asyncio.run`` that cancels
    the running task, so a producer closes cleanly; elsewhere it raises KeyboardInterrupt.
    """
    def on_term(signum: int, frame: Any) -> None:
        signal.raise_signal(signal.SIGINT)

    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> list[Row]:
    tmp = Path(tempfile.mkdtemp(prefix="ccpulse-side-by-side-"))
    if args.keep:
        stack.callback(log, f"kept {tmp} (logs: *.log, */worker.log, kafka/logs/)")
    else:
        stack.callback(shutil.rmtree, tmp, True)
    rows: list[Row] = []
    sections = args.sections
    needs_broker = sections & {"throughput", "freshness", "scrape"}
    worker: Worker | None = None
    if needs_broker:
        broker = LocalBroker(state_dir=tmp / "kafka", port=free_port(),
                             controller_port=free_port(), progress=log, die_with_parent=True)
        broker.start()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap
        prefix = f"sbs{int(time.time())}."
        asyncio.run(create_kept_topic(bootstrap, prefix + "cc.calls", args.partitions))
        ensure_topics(bootstrap, [prefix + t for t in TOPICS], args.partitions)
    if "throughput" in sections:
        log(f"generating {args.events:,} call events")
        events = call_events(args.events, time.time_ns() // 1_000_000)
        log(f"producing {len(events):,} events to {prefix}cc.calls "
            f"({args.partitions} partitions)")
        t0 = time.monotonic()
        asyncio.run(send(bootstrap, prefix, events, what="call events"))
        log(f"produced in {time.monotonic() - t0:.1f} s")
        topic = prefix + "cc.calls"
        n = len(events)
        span_ms = event_ms(events[-1]) - event_ms(events[0]) + 60_000
        del events
        peers = (("raw aiokafka + orjson (ceiling)", "raw_aiokafka.py"),
                 (f"Quix Streams {version('quixstreams')}: group_by + 1-min count",
                  "quix_count.py"),
                 (f"Faust {version('faust-streaming')}: group_by + windowed +=",
                  "faust_table.py"))
        for i, (name, script) in enumerate(peers, 1):
            log(f"throughput stage {i}/4")
            rows.append(run_peer(name, script, bootstrap, topic, n, args.partitions, span_ms,
                                 tmp, stack))
        log("throughput stage 4/4")
        row, worker = run_ccpulse(bootstrap, prefix, n, args.partitions, tmp, stack)
        rows.append(row)
    if "freshness" in sections:
        if worker is None:
            worker, _ = start_worker(bootstrap, prefix + "ccpulse", prefix, tmp,
                                     args.partitions, stack)
            wait_handled(worker, 0, "the worker to answer")
            # /metrics answers before the consumer has joined its group and been given its
            # partitions: the first live events would wait out the join (seconds) and the
            # p99 would time the join. One event handled first: the worker is consuming.
            asyncio.run(send(bootstrap, prefix,
                             mixed_events(1, time.time_ns() // 1_000_000, seed=12), 1.0))
            wait_handled(worker, 1, "a first event handled (the worker has its partitions)")
        rows.extend(freshness(worker, bootstrap, prefix, args.rate, args.fresh_seconds))
    if worker is not None:
        worker.stop()
    if "scrape" in sections:
        rows.extend(scrape_rows(bootstrap, tmp, args, stack))
    if needs_broker:
        broker.stop()  # the sub-benchmarks start their own
    if "restart" in sections:
        rows.extend(sub_bench("bench_restart.py", "restart"))
    if "memory" in sections:
        rows.extend(sub_bench("bench_worker_memory.py", "memory", worker_memory_rows))
    return rows


def main() -> None:
    args = parse_args()
    if "throughput" in args.sections and importlib.util.find_spec("quixstreams") is None:
        fail(f"quixstreams is not installed (the Quix Streams row needs it); {INSTALL_HINT}")
    with interruptible(), contextlib.ExitStack() as stack:
        try:
            rows = run(args, stack)
        except KeyboardInterrupt:
            log("interrupted; stopping every subprocess and the broker")
            raise SystemExit(130) from None
    print_table(rows)


if __name__ == "__main__":
    main()
