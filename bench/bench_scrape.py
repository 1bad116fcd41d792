"""One worker's /metrics at 500 queues × 2 channels, in-process: the KPI families and the
exposition timed apart.

Fills a :class:`~streams.worker.state.WorkerState` (no Kafka: engines per topic and partition
as a worker has them, events routed by their key's murmur2 as the producer routes them) with
``--minutes`` simulated minutes of the side-by-side bench's wide scenario (500 queues on voice
and chat, 50 agent groups of 30), then times ``--scrapes`` scrapes of each kind:

* ``same state``: the wall clock moves on 1 s per scrape, nothing else changes (Prometheus
  scraping a quiet worker);
* ``events between``: ``--between`` further events applied before each scrape (a live feed
  between two scrapes), the wall clock on by the events' span; then the same scrapes split
  into those within a minute and those at a new minute (every queue's Erlang load moved
  with its 30-minute window). As a worker does (``streams.worker.warm_up``), the families
  are computed once, not rendered, when the feed's clock passes 10 ms into a minute: that
  warm-up is timed apart (its own row: CPU a worker spends on its event loop once a minute,
  which only a request arriving while it runs waits for), and it also takes in the events
  applied before it, so the minute's first scrape brings up to date only those after it.
  ``--no-warm-up`` leaves it out, so that the first scrape of a minute computes every
  queue's Erlang staffing again. ``--lead S`` does as a worker that has learned when it is
  read (``streams.worker.scrape_rhythm``): the families computed and the exposition's kept
  lines rewritten, nothing sent, when the feed's clock is S seconds before each busy
  scrape's instant (its last event's), the rest of the events applied after it; 0.35 is
  ``LEAD_S`` plus a catch-up's ~0.1 s. Its ``catch-up`` row times those.

Each row: the median and p90 in ms of the families (``WorkerState.families``, what
``/metrics`` computes), of the exposition (as the worker serves it: ``streams.exporter``'s
``render_parts`` in ``chunks``) and of both, the
median CPU time of both (steadier than wall time on a shared machine), with the sample count
and the exposition's size. The first scrape of each kind computes everything afresh (the
p90 shows it when the state is the same). ``--profile FILE`` writes a cProfile of the
``same state`` scrapes, ``--profile-busy FILE`` one of the ``events between`` scrapes (the
events applied between them left out). ``--parts`` adds a table of the busy scrapes' thread
CPU by part (each part's median, within a minute and at a new minute; a part's time
includes what it calls).

A benchmark: it prints, it never asserts. Run:

    .venv/bin/python bench/bench_scrape.py [--minutes 30] [--scrapes 15] [--partitions 4]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aiokafka.partitioner import murmur2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from wide_floor import wide_scenario  # noqa: E402

from streams.core.config import parse_config  # noqa: E402
from streams.core.timestamps import parse_us  # noqa: E402
from streams.exporter import chunks, render_parts  # noqa: E402
from streams.ingest import ingest  # noqa: E402
from streams.publish import route_event  # noqa: E402
from streams.runtime import tune_gc  # noqa: E402
from streams.simulate.generator import generate  # noqa: E402
from streams.worker.allocator import set_in_process  # noqa: E402
from streams.worker.state import TP, WorkerState  # noqa: E402
from streams.worker.warm_up import WARM_AFTER_S  # noqa: E402

START_US = 1_795_338_000_000_000  # 2026-11-22T09:00Z
MINUTE_US = 60_000_000
WARM_AFTER_US = int(WARM_AFTER_S * 1_000_000)


def warm_up_at(now_us: int) -> int:
    """The worker's next warm-up instant (``streams.worker.warm_up``) after ``now_us``:
    :data:`WARM_AFTER_US` into a minute."""
    into = now_us % MINUTE_US
    start = now_us - into
    return start + WARM_AFTER_US if into < WARM_AFTER_US else start + MINUTE_US + WARM_AFTER_US


class Clock:
    """The worker's wall clock, set by the bench."""

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us


def fill(state: WorkerState, events: Iterator[dict], partitions: int, limit: int | None,
         clock: Clock, until_us: int | None = None,
         warm_up: Callable[[], object] | None = None,
         catch_up: tuple[int, Callable[[], object]] | None = None) -> int:
    """Apply events as a worker of ``partitions`` partitions per topic would, ``limit`` of
    them or up to ``until_us``; returns how many. The clock follows the events; ``warm_up``
    is called, with the clock set there, at each instant the worker's warm-up would run
    (:func:`warm_up_at`) that the clock passes, and ``catch_up`` (``(period µs, function)``)
    every period of the clock."""
    n = 0
    warm_at = warm_up_at(clock.now_us)
    # (no catch-up: never due)
    catch_at = clock.now_us + catch_up[0] if catch_up is not None else math.inf
    for event in events:
        at_us = parse_us(event["occurred_at"])
        if until_us is not None and at_us >= until_us:
            break  # (this one event is left out)
        # the warm-up and the catch-up due before this event, the earlier first
        while True:
            due_warm = warm_up is not None and at_us >= warm_at
            due_catch = at_us >= catch_at
            if due_warm and (not due_catch or warm_at <= catch_at):
                if clock.now_us < warm_at:
                    clock.now_us = warm_at
                    warm_up()
                warm_at = warm_up_at(max(clock.now_us, at_us))
            elif due_catch and catch_up is not None:
                clock.now_us = max(clock.now_us, int(catch_at))
                catch_up[1]()
                catch_at = max(clock.now_us, at_us) + catch_up[0]
            else:
                break
        route = route_event(event)
        p = (murmur2(route.key) & 0x7FFFFFFF) % partitions if route.key else 0
        tp: TP = (route.topic, p)
        clock.now_us = max(clock.now_us, at_us)
        ingest(route.value, state.engine(tp), state.stats, topic=route.topic,
               now_us=clock.now_us)
        state.last_offsets[tp] = n
        n += 1
        if limit is not None and n >= limit:
            break
    return n


def time_scrapes(state: WorkerState, scrapes: int, before: Callable[[], None],
                 profiler: cProfile.Profile | None = None, clock: Clock | None = None,
                 new_minute: list[bool] | None = None,
                 parts: tuple[dict[str, float], list[dict[str, float]]] | None = None,
                 ) -> tuple[list[float], list[float], list[float], int, int]:
    """(families ms, render ms, CPU ms of both, samples, bytes) over ``scrapes`` scrapes;
    ``profiler`` (when given) profiles the scrapes alone, not ``before``. With ``clock``,
    ``new_minute`` gets for each scrape whether ``before`` moved the clock into another
    minute (the Erlang inputs' window moved: every queue's load computed again). With
    ``parts`` (what :func:`time_parts` adds to, and a list), each scrape's CPU seconds by
    part are appended to the list."""
    fam_ms: list[float] = []
    out_ms: list[float] = []
    cpu_ms: list[float] = []
    samples = size = 0
    for _ in range(scrapes):
        minute = clock.now_us // MINUTE_US if clock is not None else None
        before()
        if clock is not None and new_minute is not None:
            new_minute.append(clock.now_us // MINUTE_US != minute)
        gc.collect()
        if parts is not None:
            parts[0].clear()
        if profiler:
            profiler.enable()
        c0 = time.thread_time()
        t0 = time.perf_counter()
        families = state.families(state.engines)
        t1 = time.perf_counter()
        body = render(families)
        t2 = time.perf_counter()
        cpu_ms.append((time.thread_time() - c0) * 1000)
        if profiler:
            profiler.disable()
        if parts is not None:
            parts[1].append(dict(parts[0]))
        fam_ms.append((t1 - t0) * 1000)
        out_ms.append((t2 - t1) * 1000)
        samples = sum(len(f.samples) for f in families)
        size = sum(body)
    return fam_ms, out_ms, cpu_ms, samples, size


def render(families: list[Any]) -> list[int]:
    """The exposition as the worker's ``/metrics`` sends it: its pieces, served in chunks
    (``streams.exporter.render_parts``, ``chunks``), each let go before the next is made
    (sent); returns their sizes in bytes."""
    return [len(chunk) for chunk in chunks(render_parts(lambda: families))]


#: The parts ``--parts`` times: (name, owner, attribute), each timed where it is entered
#: (not again when it calls itself).
PARTS = (
    ("window sums", "streams.core.kpis:_WindowSums", "sums_at"),
    ("window families", "streams.core.kpis:_WindowFamilies", "families"),
    ("contact totals", "streams.core.kpis:_ContactTotals", "families"),
    ("the changed keys read", "streams.core.kpis", "_changed"),
    ("agent families", "streams.core.kpis", "_agent_families"),
    ("... the agent groups kept", "streams.core.agent_groups:AgentGroups", "parts"),
    ("Erlang", "streams.core.staffing:_ErlangKept", "families"),
    ("the state and labels checked", "streams.core.kpis", "_reuse_for"),
    ("exposition", "bench_scrape", "render"),
)


def time_parts(spent: dict[str, float]) -> None:
    """Wrap each of :data:`PARTS` so that it adds its thread CPU seconds to ``spent``."""
    import importlib

    for name, where, attribute in PARTS:
        module_name, _, class_name = where.partition(":")
        module = sys.modules[__name__] if module_name == "bench_scrape" else (
            importlib.import_module(module_name))
        owner = getattr(module, class_name) if class_name else module
        setattr(owner, attribute, _timed(getattr(owner, attribute), name, spent))


def _timed(function: Callable[..., Any], name: str, spent: dict[str, float]
           ) -> Callable[..., Any]:
    inside = [False]

    def timed(*args: Any, **kwargs: Any) -> Any:
        if inside[0]:
            return function(*args, **kwargs)
        inside[0] = True
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.thread_time() - started
            inside[0] = False

    return timed


def p90(values: list[float]) -> float:
    # "inclusive": within the samples (the default extrapolates past the largest of few)
    return (statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1
            else values[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--minutes", type=int, default=30,
                        help="simulated minutes of fill (the floor has ~55 events/s; "
                             "default %(default)s)")
    parser.add_argument("--scrapes", type=int, default=15,
                        help="scrapes of each kind (a minute of the floor is ~3,300 "
                             "events: about --scrapes × --between / 3,300 of the busy "
                             "scrapes come at a new minute; default %(default)s)")
    parser.add_argument("--partitions", type=int, default=4,
                        help="partitions per topic (engines: one per topic and partition; "
                             "default %(default)s)")
    parser.add_argument("--fill", type=int, default=None,
                        help="events of the fill (default: all of --minutes)")
    parser.add_argument("--between", type=int, default=1000,
                        help="events applied before each 'events between' scrape; the "
                             "clock moves on with them (275: the deploy's 5 s interval; "
                             "default %(default)s)")
    parser.add_argument("--profile", type=Path, help="cProfile of the same-state scrapes")
    parser.add_argument("--profile-busy", type=Path,
                        help="cProfile of the 'events between' scrapes (the events left out)")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="leave out the worker's warm-up at each new minute "
                             "(streams.worker.warm_up): the first scrape of a minute then "
                             "computes every queue's Erlang staffing")
    parser.add_argument("--catch-up", type=float, default=0.0,
                        help="seconds of the clock between the worker's catch-ups")
    parser.add_argument("--lead", type=float, default=0.0,
                        help="seconds of the clock before each busy scrape that the "
                             "worker's catch-up before a predicted read runs "
                             "(streams.worker.scrape_rhythm: LEAD_S, 0.12, plus its own "
                             "time: 0.2 reads as the worker does)")
    parser.add_argument("--parts", action="store_true",
                        help="a table of the busy scrapes' CPU by part")
    args = parser.parse_args()
    if args.catch_up < 0:
        parser.error("--catch-up: seconds of the clock, 0 (none) or more")
    if args.lead < 0:
        parser.error("--lead: seconds of the clock, 0 (none) or more")
    set_in_process(os.environ)  # glibc's malloc as the worker has it (streams.worker.allocator)
    tune_gc()

    span_ms = args.minutes * 60_000
    start_ms = START_US // 1000 - span_ms
    events = generate(wide_scenario(), seed=7, start_ms=start_ms,
                      duration_ms=span_ms + 3_600_000)  # the rest feeds 'events between'
    clock = Clock(START_US - span_ms * 1000)
    state = WorkerState(parse_config({}), {}, clock_us=clock)
    started = time.perf_counter()
    filled = fill(state, events, args.partitions, args.fill, clock, until_us=START_US)
    clock.now_us = START_US
    print(f"filled {filled:,} events in {time.perf_counter() - started:.1f} s, "
          f"{len(state.engines)} engines", file=sys.stderr)

    def tick() -> None:
        clock.now_us += 1_000_000

    warm_ms: list[float] = []
    warm_cpu_ms: list[float] = []

    def warm_up() -> None:
        c0 = time.thread_time()
        t0 = time.perf_counter()
        state.families(state.engines)
        warm_ms.append((time.perf_counter() - t0) * 1000)
        warm_cpu_ms.append((time.thread_time() - c0) * 1000)

    catch_ms: list[float] = []
    catch_cpu_ms: list[float] = []

    def catch_up() -> None:
        c0 = time.thread_time()
        t0 = time.perf_counter()
        render_parts(lambda: state.families(state.engines))
        catch_ms.append((time.perf_counter() - t0) * 1000)
        catch_cpu_ms.append((time.thread_time() - c0) * 1000)

    def feed() -> None:
        warm = None if args.no_warm_up else warm_up
        periodic = (int(args.catch_up * 1e6), catch_up) if args.catch_up else None
        if not args.lead:
            fill(state, events, args.partitions, args.between, clock, warm_up=warm,
                 catch_up=periodic)
            return
        # the worker's catch-up before a predicted read (streams.worker.scrape_rhythm):
        # at the scrape's instant (its last event's) less the lead
        batch = list(itertools.islice(events, args.between))
        lead_at = parse_us(batch[-1]["occurred_at"]) - int(args.lead * 1e6)
        early = sum(1 for event in batch if parse_us(event["occurred_at"]) < lead_at)
        fill(state, iter(batch[:early]), args.partitions, None, clock, warm_up=warm,
             catch_up=periodic)
        clock.now_us = max(clock.now_us, lead_at)
        catch_up()
        fill(state, iter(batch[early:]), args.partitions, None, clock, warm_up=warm,
             catch_up=periodic)

    rows = []
    profiler = cProfile.Profile() if args.profile else None
    rows.append(("same state, clock +1 s", *time_scrapes(state, args.scrapes, tick, profiler)))
    if profiler:
        profiler.dump_stats(args.profile)
    profiler = cProfile.Profile() if args.profile_busy else None
    new_minute: list[bool] = []
    by_part: list[dict[str, float]] = []
    spent: dict[str, float] = {}
    if args.parts:
        time_parts(spent)
    busy = time_scrapes(state, args.scrapes, feed, profiler, clock, new_minute,
                        (spent, by_part) if args.parts else None)
    rows.append((f"{args.between:,} events between", *busy))
    if profiler:
        profiler.dump_stats(args.profile_busy)
    fam_ms, out_ms, cpu_ms, samples, size = busy
    warm_ups = len(warm_ms)  # (those of the busy scrapes' feed alone: the fill has none)
    for name, at_new in (("within a minute", False), ("at a new minute", True)):
        picked = [i for i, flag in enumerate(new_minute) if flag is at_new]
        if picked:
            rows.append((f"... of which {len(picked)} {name}",
                         *([values[i] for i in picked] for values in (fam_ms, out_ms, cpu_ms)),
                         samples, size))

    print(f"| scrape ({args.scrapes} each) | samples | KiB | families ms median / p90 "
          "| exposition ms median / p90 | total ms median / p90 | CPU ms median |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, fam_ms, out_ms, cpu_ms, samples, size in rows:
        total = [a + b for a, b in zip(fam_ms, out_ms, strict=True)]
        print(f"| {name} | {samples:,} | {size / 1024:,.0f} "
              f"| {statistics.median(fam_ms):.1f} / {p90(fam_ms):.1f} "
              f"| {statistics.median(out_ms):.1f} / {p90(out_ms):.1f} "
              f"| {statistics.median(total):.1f} / {p90(total):.1f} "
              f"| {statistics.median(cpu_ms):.1f} |")
    if warm_ups:
        print(f"| warm-up at a new minute ({warm_ups}; the worker's event loop, not a "
              f"scrape) | | | {statistics.median(warm_ms):.1f} / {p90(warm_ms):.1f} "
              f"| - | {statistics.median(warm_ms):.1f} / {p90(warm_ms):.1f} "
              f"| {statistics.median(warm_cpu_ms):.1f} |")
    if catch_ms:
        print(f"| catch-up ({len(catch_ms)}) | | | | | {statistics.median(catch_ms):.1f} / "
              f"{p90(catch_ms):.1f} | {statistics.median(catch_cpu_ms):.1f} |")
    if args.parts:
        print_parts(by_part, new_minute)


def print_parts(by_part: list[dict[str, float]], new_minute: list[bool]) -> None:
    """The busy scrapes' median thread CPU ms by part, within a minute and at a new one."""
    print("\n| part of a busy scrape (CPU ms, median) | within a minute | at a new minute |")
    print("|---|---:|---:|")
    for name, _, _ in PARTS:
        cells = []
        for at_new in (False, True):
            values = [1000 * spent.get(name, 0.0)
                      for spent, flag in zip(by_part, new_minute, strict=True) if flag is at_new]
            cells.append(f"{statistics.median(values):.1f}" if values else "-")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
