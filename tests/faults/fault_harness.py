"""What the fault scenarios share: a mixed event stream ending now, a steady producer in a
background thread, and a fleet comparison of several workers' exports with the replay.

The replay is the reference: ``ccpulse replay`` of exactly the events sent, at the scrape's
instant. One worker must equal it sample for sample (``worker_harness.differences``); several
workers must sum to it over the families a fleet sums (counters, histograms and the
``cc_window_*`` parts that the recording rules divide), each partition exported by exactly one
worker (a standby that exported would double its partition's counts).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import orjson
from store_check import stores_unlike_their_changelogs
from worker_harness import (
    Sample,
    Worker,
    differences,
    kpis,
    replay_kpis,
    wait_for,
)

from streams.publish import Publisher, route_line
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre
from streams.worker.app import SOURCE_TOPICS

#: Events per simulated minute of the flat, all-day demo centre (calls, chats, agents,
#: tickets, surveys, QA reviews, customers, marketing): about 125.
EVENTS_PER_MINUTE = 120
STOP_TIMEOUT_S = 120.0


def mixed_events(count: int, seed: int) -> list[bytes]:
    """``count`` events of every family, the first of a stream ending now (so today's windows
    hold them)."""
    minutes = max(10, count // EVENTS_PER_MINUTE)
    start_ms = time.time_ns() // 1_000_000 - minutes * 60_000
    daytime = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    return [orjson.dumps(e) for e in
            generate(daytime, seed=seed, start_ms=start_ms, duration_ms=minutes * 60_000)][:count]


def write_lines(path: Path, lines: Sequence[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


class SteadyFeed:
    """Sends ``lines`` (routed as ``ccpulse produce`` routes them) at ``rate`` per second from
    a background thread, every message acknowledged by Kafka (``acks=all``); ``sent`` counts
    those queued so far. Leaving the context waits for the last acknowledgement and re-raises
    what failed in the thread.

    The last ``held`` lines wait for :meth:`release`: a scenario that must happen while events
    still flow (kills, a rolling restart) releases them once it is done, so that on a slow
    machine the feed cannot run out first.
    """

    def __init__(self, bootstrap: str, prefix: str, lines: Sequence[bytes],
                 rate: float, held: int = 0) -> None:
        self.bootstrap, self.prefix, self.lines, self.rate = bootstrap, prefix, lines, rate
        self.sent = 0
        self.error: BaseException | None = None
        self._hold_at = len(lines) - held
        self._released = threading.Event()
        if not held:
            self._released.set()
        self._thread = threading.Thread(target=self._run, name="steady-feed", daemon=True)

    def release(self) -> None:
        """Send the held lines too."""
        self._released.set()

    def __enter__(self) -> SteadyFeed:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        self.wait()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self) -> None:
        self._thread.join(STOP_TIMEOUT_S)
        if self._thread.is_alive():
            raise AssertionError(f"the feed did not finish in {STOP_TIMEOUT_S:.0f} s "
                                 f"({self.sent:,} of {len(self.lines):,} sent)")
        if self.error is not None:
            raise AssertionError(f"the feed failed: {self.error!r}") from self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # re-raised by wait()
            self.error = exc

    async def _main(self) -> None:
        step_s = 0.05
        per_step = max(1, int(self.rate * step_s))
        async with Publisher(self.bootstrap, topic_prefix=self.prefix) as publisher:
            started, base = time.monotonic(), 0
            for i in range(0, len(self.lines), per_step):
                for line in self.lines[i:i + per_step]:
                    if self.sent == self._hold_at and not self._released.is_set():
                        while not self._released.is_set():
                            await asyncio.sleep(0.05)
                        started, base = time.monotonic(), self.sent  # the pace resumes
                    route = route_line(line, self.prefix)
                    assert not isinstance(route, str), route
                    await publisher.send(route)
                    self.sent += 1
                due = started + (i + per_step - base) / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))


#: Families measured from a worker's *live clock*: ages and stale cut-offs, and agent time up
#: to the clock. A fault scenario's stream ends in the past and is sent faster than real time,
#: so a worker shows these as of its stream time (contract §2, by design: pinned by
#: ``tests/integration/test_live_ages_after_catch_up.py``), while ``replay --as-of now`` shows
#: them at now; they are left out here. Every count, window part and histogram is compared.
LIVE_CLOCK_FAMILIES = ("cc_queue_contacts_waiting", "cc_queue_oldest_wait_seconds",
                       "cc_contacts_stale_total", "cc_tickets_backlog",
                       "cc_tickets_first_response_overdue", "cc_window_agent_busy_seconds",
                       "cc_window_agent_staffed_seconds", "cc_occupancy_ratio")


def at_rest(samples: dict[Sample, float]) -> dict[Sample, float]:
    """``samples`` less the families of :data:`LIVE_CLOCK_FAMILIES`."""
    return {k: v for k, v in samples.items() if k[0] not in LIVE_CLOCK_FAMILIES}


def wait_equals_replay(worker: Worker, path: Path) -> None:
    """Until the worker's KPIs equal the replay of ``path`` at the scrape's instant, live-clock
    families aside (:data:`LIVE_CLOCK_FAMILIES`); on a timeout the first differences."""
    last: list[str] = []

    def check() -> bool:
        nonlocal last
        before = time.time_ns() // 1000
        scraped = at_rest(kpis(worker.metrics()))
        expected = at_rest(replay_kpis(path, (before + time.time_ns() // 1000) // 2))
        last = differences(scraped, expected)
        return not last

    try:
        wait_for(check, "the worker's KPIs to equal the replay's", worker)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nfirst differences:\n" + "\n".join(last[:20])
                             + "\n" + ownership([worker])) from None


def fleet_families(name: str) -> bool:
    """Families a fleet sums over its workers: counters, histograms, the window parts."""
    return ((name.endswith(("_total", "_bucket", "_count", "_sum"))
             or name.startswith("cc_window_")) and name not in LIVE_CLOCK_FAMILIES)


def fleet_sum(workers: Sequence[Worker]) -> dict[Sample, float]:
    out: dict[Sample, float] = {}
    for worker in workers:
        for key, value in kpis(worker.metrics()).items():
            if fleet_families(key[0]):
                out[key] = out.get(key, 0.0) + value
    return out


def exported_partitions(worker: Worker) -> list[tuple[str, str]]:
    """The (topic, partition) pairs whose consumer lag ``worker`` exports: those it owns."""
    return [(dict(labels)["topic"], dict(labels)["partition"])
            for name, labels in worker.metrics() if name == "cc_consumer_lag_messages"]


def wait_fleet_equals_replay(workers: Sequence[Worker], path: Path) -> None:
    """Until every source partition is exported by exactly one worker and the workers' fleet
    families sum to the replay of ``path`` at the scrapes' instant."""
    last: list[str] = []

    def check() -> bool:
        nonlocal last
        owners: dict[tuple[str, str], int] = {}
        for worker in workers:
            for tp in exported_partitions(worker):
                owners[tp] = owners.get(tp, 0) + 1
        doubled = [f"{tp} exported by {n} workers" for tp, n in owners.items() if n > 1]
        before = time.time_ns() // 1000
        summed = fleet_sum(workers)
        expected = {k: v for k, v in
                    replay_kpis(path, (before + time.time_ns() // 1000) // 2).items()
                    if fleet_families(k[0])}
        last = doubled + differences(summed, expected)
        return not last

    try:
        wait_for(check, "the workers' summed exports to equal the replay's")
    except AssertionError as exc:
        logs = "".join(f"\nworker {n} log ({w.log_path}):\n{w.log_tail(2000)}"
                       for n, w in enumerate(workers))
        raise AssertionError(f"{exc}\nfirst differences:\n" + "\n".join(last[:20])
                             + "\n" + ownership(workers) + logs) from None


def ownership(workers: Sequence[Worker]) -> str:
    """Which partitions each worker exports, and those not read to their end (consumer lag
    above 0): tells events lost from events not yet read, or a partition nobody exports (or
    not fetched yet: no lag known)."""
    expected = {(t, str(p)) for t in SOURCE_TOPICS for p in range(workers[0].partitions)}
    lines, seen = [], set()
    for n, worker in enumerate(workers):
        try:
            lags = {(dict(labels)["topic"], dict(labels)["partition"]): value
                    for (name, labels), value in worker.metrics().items()
                    if name == "cc_consumer_lag_messages"}
        except OSError as exc:
            lines.append(f"worker {n}: /metrics not read ({exc})")
            continue
        seen |= set(lags)
        behind = {f"{t}-{p}": v for (t, p), v in sorted(lags.items()) if v}
        try:
            code, body = worker._get("/readyz")
        except OSError as exc:
            code, body = 0, str(exc)
        lines.append(f"worker {n}: exports {len(lags)} partitions; lag above 0: {behind}; "
                     f"/readyz {code} {body[:400]}")
    nobody = sorted(f"{t}-{p}" for t, p in expected - seen)
    lines.append(f"source partitions exported by no worker: {nobody}")
    return "\n".join(lines)


def stop_and_check_stores(bootstrap: str, app_id: str, workers: Sequence[Worker],
                          data_dirs: Sequence[Path] = ()) -> None:
    """Stop ``workers`` (cleanly), then check that every local table store in their data
    directories and in ``data_dirs`` (those of workers gone before) holds exactly what its
    changelog holds at the store's offset (``store_check``): a store with a hole below its
    offset would build a wrong engine at some later assignment, whatever the exports show
    now."""
    for worker in workers:
        worker.stop()
    checked, problems = stores_unlike_their_changelogs(
        bootstrap, app_id, dict.fromkeys([*(w.data_dir for w in workers), *data_dirs]))
    assert not problems, "local stores unlike their changelogs:\n" + "\n".join(problems)
    assert checked, "no local store with an offset found to check (the data layout changed?)"
