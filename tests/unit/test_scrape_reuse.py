"""A scrape reuses what an earlier one computed from the same state (``streams.core.kpis``:
the ledgers unchanged, the same window boundaries) and the exposition reuses a family's text
while its samples are the same (``streams.exporter``). Neither changes a value: at every
step of a run — events applied, the clock moving within a window, across a minute, an
interval, a business day, a month, past a waiting segment's stale instant, and back — the
families and the exposition equal a fresh computation's, byte for byte, and two scrapes at
the same clock and state are identical.

A scrape after events recomputes only what the events changed (the keys each ledger marks as
touched, ``streams.core.ledger``): the busy-scrape tests below check it against a fresh
computation after events in some queues only, across window rollovers with events between,
after late events into old buckets, retractions, pruning, and partitions revoked and
added."""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import exporter
from streams.core import contributions as F
from streams.core import kpis
from streams.core.config import parse_config
from streams.core.contributions import Booking, Count, Observe, TicketNow
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.core.ledger import EPOCHS_KEPT, Ledger
from streams.core.metrics import Family
from streams.core.timestamps import format_us, parse_us
from streams.exporter import render, render_with_client
from streams.ingest import ingest
from streams.publish import route_event
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre
from streams.worker.state import WorkerState

MINUTE_US = 60_000_000
START_US = parse_us("2026-11-30T22:40:00Z")  # near the end of a day and of a month
CONFIG = {
    # a customers' month that starts inside every calendar's interval (18:15Z on the 30th)
    "defaults": {"stale_after_seconds": 300, "interval_minutes": 60},
    "customers": {"timezone": "Asia/Kathmandu"},
    "queues": {"billing": {"timezone": "America/New_York", "interval_minutes": 30,
                           "day_start": "06:00"},
               "sales": {"trunks": 12}},
    "limits": {"per_agent": True},
}
PARTITIONS = 2


class Clock:
    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us


def snapshot(fams: list[Family]) -> list[Any]:
    """Everything of ``fams`` a consumer could read (``repr`` tells -0.0, ints and floats)."""
    return [(f.name, f.kind, f.labels, sorted((k, repr(v)) for k, v in f.samples.items()))
            for f in fams]


def fresh(state: WorkerState, active: Any = None) -> list[Family]:
    """The families computed from the whole ledgers, by the plain code (nothing kept from
    an earlier scrape used, what is kept left as it was)."""
    with kpis.afresh():
        return state.families(state.engines if active is None else active)


def fresh_text(fams: list[Family]) -> bytes:
    """The exposition of ``fams`` written line by line (nothing reused)."""
    return b"".join(exporter.family_text(f).encode() for f in [*fams, exporter.build_info()])


class Run:
    """A worker's engines fed the simulated contact centre, partitioned as Kafka would."""

    def __init__(self) -> None:
        busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
        self.events: Iterator[dict[str, Any]] = iter(generate(
            busy, seed=3, start_ms=(START_US - 2 * 3_600_000_000) // 1000,
            duration_ms=4 * 3_600_000))
        self.clock = Clock(START_US - 2 * 3_600_000_000)
        self.state = WorkerState(parse_config(CONFIG), {}, clock_us=self.clock)

    def feed(self, n: int | None = None, until_us: int | None = None) -> None:
        self.apply(self.events, n, until_us)

    def queue_calls(self, ago_s: tuple[int, ...]) -> None:
        """Calls queued ``ago_s`` seconds before the clock and left waiting, and in each queue
        one abandoned a minute before (so the Erlang A patience counts the waiting ones): the
        scenario answers nearly every call quickly."""
        now, queues = self.clock.now_us, ("support", "billing", "sales")

        def event(type_: str, call_id: str, ago: int, queue: str) -> dict[str, Any]:
            return {"event_id": f"{type_}-{call_id}", "type": type_, "source": "test",
                    "occurred_at": format_us(now - ago * 1_000_000), "call_id": call_id,
                    "queue": queue}

        events = [event("call.queued", f"held-{i}", s, queues[i % 3])
                  for i, s in enumerate(ago_s)]
        for queue in queues:
            events.append(event("call.queued", f"gone-{queue}", 200, queue))
            events.append(event("call.abandoned", f"gone-{queue}", 60, queue))
        self.apply(iter(events))

    def apply(self, events: Iterator[dict[str, Any]], n: int | None = None,
              until_us: int | None = None) -> None:
        for i, event in enumerate(events):
            at_us = parse_us(event["occurred_at"])
            route = route_event(event)
            p = (murmur2(route.key) & 0x7FFFFFFF) % PARTITIONS if route.key else 0
            self.clock.now_us = max(self.clock.now_us, at_us)
            ingest(route.value, self.state.engine((route.topic, p)), self.state.stats,
                   topic=route.topic, now_us=self.clock.now_us)
            if (n is not None and i + 1 >= n) or (until_us is not None and at_us >= until_us):
                return

    def stale_instant(self) -> int:
        """When some segment waiting now turns stale (it is stale after this instant)."""
        for engine in self.state.engines.values():
            for (queue, _), segs in engine.ledger.waiting.items():
                after_us = self.state.config.queue(queue).stale_after_us
                for _, queued_us in segs:
                    if queued_us + after_us > self.clock.now_us:
                        return queued_us + after_us
        raise AssertionError("nothing waiting: the scenario should keep contacts queued")


def check(run: Run, active: Any = None) -> None:
    state = run.state
    active = state.engines if active is None else active
    cached = state.families(active)
    text = render(lambda: cached)
    again = state.families(active)
    assert snapshot(again) == snapshot(cached)
    assert render(lambda: again) == text  # same clock, same state: the same bytes
    new = fresh(state, active)
    assert snapshot(cached) == snapshot(new)
    assert text == fresh_text(new)


@pytest.fixture(scope="module")
def run() -> Run:
    r = Run()
    r.feed(until_us=START_US)
    r.clock.now_us = START_US
    r.queue_calls((10, 100, 250, 299, 400))
    r.clock.now_us = START_US
    return r


def test_cached_scrapes_equal_fresh_ones_as_the_clock_moves_and_events_arrive(run):
    check(run)
    steps: list[Any] = [1, 1, 17_000_000]  # µs or s steps within a minute
    for step in steps:
        run.clock.now_us += step
        check(run)
    next_minute = run.clock.now_us - run.clock.now_us % MINUTE_US + MINUTE_US
    for at in (next_minute - 1, next_minute, next_minute + 1):
        run.clock.now_us = at
        check(run)
    stale = run.stale_instant()
    for at in (stale - 1, stale, stale + 1, stale + 2):  # stale once the clock is past it
        run.clock.now_us = at
        check(run)
    run.feed(n=400)
    check(run)
    run.clock.now_us += 1
    check(run)
    # billing's 30-minute interval (New York), the default calendar's hour
    half_hour = 30 * MINUTE_US
    boundary = run.clock.now_us - run.clock.now_us % half_hour + half_hour
    for at in (boundary - 1, boundary, boundary + 1, boundary + half_hour,
               boundary + 2 * half_hour):
        run.clock.now_us = at
        check(run)
    run.feed(n=300)
    check(run)


def test_cached_scrapes_equal_fresh_ones_across_a_day_a_month_and_back(run):
    start = run.clock.now_us
    midnight = parse_us("2026-12-01T00:00:00Z")  # the default calendar's day
    billing_day = parse_us("2026-12-01T11:00:00Z")  # 06:00 in New York
    month = parse_us("2026-11-30T18:15:00Z")  # December in Kathmandu, in no window's bounds
    for at in (midnight - 1, midnight, midnight + 1, billing_day - 1, billing_day,
               billing_day + 1, start, month - 1, month, month + 1, month - 1, start):
        run.clock.now_us = max(at, 0)
        check(run)
    run.feed(n=200)
    check(run)


def test_a_scrape_of_a_copied_ledger_is_not_taken_for_its_original():
    config = parse_config(CONFIG)
    ledger = Ledger(config)
    ledger.add("c1", [Count("offered", ("sales", "voice"), 1)])
    now = START_US
    before = snapshot(all_families(config, [ledger], now))
    copy = pickle.loads(pickle.dumps(ledger))  # the same version, another ledger
    copy.add("c2", [Count("offered", ("sales", "voice"), 1)])
    ledger.add("c3", [Count("offered", ("support", "voice"), 1)])
    assert snapshot(all_families(config, [copy], now)) == snapshot(fresh_families(config, copy,
                                                                                   now))
    assert snapshot(all_families(config, [ledger], now)) != before


def fresh_families(config, ledger, now):
    with kpis.afresh():
        return all_families(config, [ledger], now)


def test_every_change_to_a_ledger_stamps_a_new_version():
    engine = Engine(parse_config(CONFIG))
    seen = {engine.ledger.version}
    for event in generate(contact_centre(), seed=5, start_ms=START_US // 1000,
                          duration_ms=600_000):
        from streams.validation import decode

        engine.apply(decode(orjson.dumps(event)))  # type: ignore[arg-type]
        seen.add(engine.ledger.version)
    assert len(seen) > 100
    ledger = engine.ledger
    for change in (lambda: ledger.prune_windows(START_US + 3_600_000_000),
                   lambda: ledger.move_totals("offered", ("sales", "voice"), ("other", "voice"),
                                              0),
                   lambda: ledger.add_totals({"c": [["offered", ["sales", "voice"], 1]]})):
        version = ledger.version
        change()
        assert ledger.version != version


def family(name: str, kind: str, samples: dict[tuple[str, ...], Any]) -> Family:
    labels = ("queue", "window") if kind != "histogram" else ("queue",)
    return Family(name, kind, "help", labels, samples)


@pytest.mark.parametrize("first, then", [
    (0.0, -0.0), (-0.0, 0.0), (0, -0.0), (1, 1.0), (1.0, 1), (math.nan, math.nan),
    (2**53, 2**53 + 1), (-(2**53) - 1, -(2**53) - 2), (1e6, 1_000_000), (0.1 + 0.2, 0.3),
], ids=["zero-then-negative-zero", "negative-zero-then-zero", "int-zero-then-negative-zero",
        "int-then-float", "float-then-int", "nan", "ints-past-2**53", "negative-ints-past-2**53",
        "a-million", "close-floats"])
def test_a_reused_text_is_what_prometheus_client_writes_for_the_new_samples(first, then):
    for kind in ("gauge", "counter"):
        for value in (first, then):
            if kind == "counter" and (value != value or value < 0):
                continue
            fams = [family("cc_x_total" if kind == "counter" else "cc_x", kind,
                           {("a", "today"): value, ("b", "today"): 2})]
            assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023


@pytest.mark.parametrize("first, then", [
    (((1.0, 2.0), [1, 2, 3], 0.0), ((1.0, 2.0), [1, 2, 3], -0.0)),
    (((1.0, 2.0), [1, 2, 3], 1.5), ((1.0, 2.0), [1, 3, 2], 1.5)),
    (((0.0, 2.0), [1, 2, 3], 1.5), ((-0.0, 2.0), [1, 2, 3], 1.5)),
    (((1.0, 2.0), [1, 2, 3], 1), ((1.0, 2.0), [1, 2, 3], 1.0)),
], ids=["sum-sign-of-zero", "counts", "bound-sign-of-zero", "int-sum"])
def test_a_reused_histogram_text_is_what_prometheus_client_writes(first, then):
    for value in (first, then, first):
        fams = [family("cc_h_seconds", "histogram", {("a",): value})]
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023


def test_a_reused_text_follows_a_histogram_changed_in_place():
    counts = [1, 2, 3]
    fams = [family("cc_h_seconds", "histogram", {("a",): ((1.0, 2.0), counts, 1.5)})]
    render(lambda: fams)
    counts[0] = 7  # the same list, changed after the render
    assert render(lambda: fams) == render_with_client(lambda: fams)


keys = st.sampled_from(["a", "b", "c", "d"])
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.0, -0.0, 0.5, 1.0, math.nan,
                                                         math.inf, 2.0**53, 1e6]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(keys, numbers, max_size=4), min_size=2, max_size=6))
def test_every_render_of_a_changing_family_is_what_prometheus_client_writes(steps):
    for samples in steps:
        fams = [Family("cc_changing", "gauge", "help", ("queue",),
                       {(k,): v for k, v in samples.items()}),
                Family("cc_changing_seconds", "histogram", "help", ("queue",),
                       {(k,): ((0.5, 1.0), [1, abs(int(v)) if v == v and abs(v) < 9 else 2, 0],
                               v if v == v and abs(v) < math.inf else 0.0)
                        for k, v in samples.items()})]
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023


# ------------------------------------------------------------------ busy scrapes


def call_events(now_us: int, queue: str, call_id: str, queued_ago_s: int,
                answered_ago_s: int | None = None) -> list[dict[str, Any]]:
    """A call queued ``queued_ago_s`` before ``now_us`` (answered ``answered_ago_s`` before
    it, when given)."""
    def event(type_: str, ago: int) -> dict[str, Any]:
        return {"event_id": f"{type_}-{call_id}", "type": type_, "source": "test",
                "occurred_at": format_us(now_us - ago * 1_000_000), "call_id": call_id,
                "queue": queue}

    events = [event("call.queued", queued_ago_s)]
    if answered_ago_s is not None:
        events.append(event("call.answered", answered_ago_s))
    return events


@pytest.fixture()
def busy() -> Run:
    r = Run()
    r.feed(until_us=START_US - 30 * MINUTE_US)
    check(r)
    return r


def test_a_busy_scrape_equals_a_fresh_one_after_events_in_some_queues_only(busy):
    now = busy.clock.now_us
    busy.apply(iter(call_events(now, "billing", "b-1", 20)))
    check(busy)
    busy.apply(iter(call_events(now, "billing", "b-1", 20, 5)))  # its waiting replaced
    check(busy)
    busy.apply(iter(call_events(now, "sales", "s-1", 40, 10)))
    busy.apply(iter(call_events(now, "a-new-queue", "n-1", 3)))  # a queue never seen
    check(busy)
    for n in (1, 7, 60, 500):
        busy.feed(n=n)
        check(busy)


def test_a_busy_scrape_equals_a_fresh_one_across_rollovers_with_events_between(busy):
    hour = 60 * MINUTE_US
    half_hour = 30 * MINUTE_US
    at = busy.clock.now_us
    for boundary in (at - at % MINUTE_US + MINUTE_US,  # a minute (the Erlang inputs)
                     at - at % half_hour + half_hour,  # billing's interval
                     at - at % hour + hour):  # the default calendar's interval
        busy.feed(until_us=boundary - 1)
        check(busy)
        busy.feed(until_us=boundary + 5_000_000)
        check(busy)
    midnight = parse_us("2026-12-01T00:00:00Z")  # the default calendar's day
    busy.feed(until_us=midnight - 1_000_000)
    check(busy)
    busy.feed(until_us=midnight + 30_000_000)  # past the Kathmandu month as well
    check(busy)
    busy.feed(n=300)
    check(busy)


def test_a_busy_scrape_equals_a_fresh_one_after_late_events_into_old_buckets(busy):
    busy.feed(n=200)
    check(busy)
    now = busy.clock.now_us
    # answered in the previous interval and two hours ago: buckets the clock has left
    busy.apply(iter(call_events(now, "support", "late-1", 50 * 60, 49 * 60)))
    check(busy)
    busy.apply(iter(call_events(now, "sales", "late-2", 130 * 60, 129 * 60)))
    check(busy)
    busy.feed(n=50)
    check(busy)


def test_a_busy_scrape_equals_a_fresh_one_after_pruning(busy):
    engines = list(busy.state.engines.values())
    # as an engine prunes: buckets before a cut, here one that drops visible windows
    engines[0].ledger.prune_windows(busy.clock.now_us - 20 * MINUTE_US)
    check(busy)
    busy.feed(n=100)
    engines[1].prune()
    engines[-1].ledger.prune_windows(busy.clock.now_us)
    check(busy)
    busy.feed(n=100)
    check(busy)


def test_a_busy_scrape_equals_a_fresh_one_as_partitions_are_revoked_and_assigned(busy):
    tps = sorted(busy.state.engines)
    some = [tp for tp in tps if tp[1] != 0]
    check(busy, some)  # partition 0 of every topic revoked
    busy.feed(n=200)
    check(busy, some)
    check(busy)  # ... and assigned again
    busy.feed(n=200)
    check(busy, tps[1:])
    check(busy, tps)


def test_a_busy_scrape_equals_a_fresh_one_after_retractions(busy):
    """An entity's contributions replaced, then retracted: counters, histogram rows, window
    sums and the series built from them go when nothing is left of them (a channel no other
    queue has, so its requests go too)."""
    ledger = busy.state.engines[sorted(busy.state.engines)[0]].ledger
    now = busy.clock.now_us
    first = [Count(F.OFFERED, ("lonely", "chat"), 1),
             Count(F.CHAT_RESPONSES, ("lonely", "chat"), 1),
             Count(F.CHAT_RESPONSE_US, ("lonely", "chat"), 4_000_000),
             Observe("wait", ("lonely", "chat", "answered"), 3_000_000),
             Booking("lonely", "chat", now - 1_000_000, F.OFFERED, 1),
             Booking("lonely", "chat", now - 1_000_000, F.CHAT_RESPONSES, 1),
             Booking("lonely", "chat", now - 1_000_000, F.CHAT_RESPONSE_US, 4_000_000),
             Booking("lonely", "sms", now - 1_000_000, F.OFFERED, 1),
             Booking("lonely", "voice", now - 1_000_000, F.BLOCKED, 1)]
    ledger.add("test-entity", first)
    check(busy)
    second = [Count(F.OFFERED, ("lonely", "voice"), 1),
              Booking("lonely", "voice", now - 2_000_000, F.OFFERED, 1)]
    ledger.retract("test-entity", first)
    ledger.add("test-entity", second)
    check(busy)
    ledger.retract("test-entity", second)
    check(busy)


def test_a_busy_scrape_equals_a_fresh_one_when_every_window_is_pruned(busy):
    check(busy)
    for engine in busy.state.engines.values():
        engine.ledger.prune_windows(busy.clock.now_us + 4 * 24 * 60 * MINUTE_US)
    check(busy)
    busy.feed(n=100)
    check(busy)


def test_a_busy_scrape_equals_a_fresh_one_as_a_quiet_queue_turns_stale(busy):
    """A segment of a queue no event touched turns stale between two scrapes that events
    elsewhere lie between (the Erlang A exposure leaves it out from then on)."""
    at = busy.clock.now_us
    busy.clock.now_us = at - at % MINUTE_US + MINUTE_US + 5_000_000
    busy.queue_calls((290,))  # in support, stale 10 s from now
    check(busy)
    stale = busy.stale_instant()
    for i, at in enumerate((stale, stale + 1)):  # at the instant (not stale yet), then past
        busy.clock.now_us = at
        busy.apply(iter(call_events(at, "elsewhere", f"e-{i}", 1)))
        check(busy)
    busy.clock.now_us = stale + 20_000_000
    busy.apply(iter(call_events(busy.clock.now_us, "sales", "s-2", 3)))
    check(busy)


def test_a_busy_scrape_equals_a_fresh_one_after_ticket_and_survey_changes_alone(busy):
    """What the ticket and feedback families read changes with no counter of theirs: window
    fields alone, an open ticket alone (they are kept while the ledgers change elsewhere)."""
    ledger = busy.state.engines[sorted(busy.state.engines)[-1]].ledger
    now = busy.clock.now_us
    busy.feed(n=50)
    check(busy)
    ledger.add("t-1", [Booking("calm", "email", now - 1_000_000, F.TICKET_FIRST_RESPONSES, 1),
                       Booking("calm", "email", now - 1_000_000, F.TICKET_FIRST_RESPONSE_US,
                               60_000_000)])
    check(busy)
    ledger.add("s-1", [Booking("calm", "chat", now - 1_000_000, F.CSAT_RESPONSES, 1),
                       Booking("calm", "chat", now - 1_000_000, F.CSAT_SATISFIED, 1)])
    check(busy)
    ledger.add("t-2", [TicketNow("quiet", "fax", "high", now - 5_000_000, True, None)])
    check(busy)
    busy.feed(n=50)
    check(busy)


@pytest.mark.parametrize("seals", [1, 3, EPOCHS_KEPT + 2],
                         ids=["one-epoch", "epochs-within-those-kept", "more-epochs-than-kept"])
def test_a_busy_scrape_equals_a_fresh_one_after_epochs_sealed_between(busy, seals):
    """What changed is read from the epochs sealed since the last scrape (another reader's
    scrapes seal them too); a scrape that last read before the oldest epoch kept reads
    everything again."""
    busy.feed(n=50)
    check(busy)
    for _ in range(seals):
        busy.feed(n=40)
        for engine in busy.state.engines.values():
            engine.ledger.seal()
    check(busy)
    busy.feed(n=40)
    check(busy)


def test_the_keys_changed_after_a_stamp_are_those_of_every_epoch_since():
    """Ledger.changed_after against a log of every change: keys stamped after ``since``, once
    each, across seals; None once ``since`` is before the oldest epoch kept."""
    ledger = Ledger(parse_config({}))
    log: list[tuple[int, tuple[str, tuple[str, ...]]]] = []
    stamps = []
    for step in range(3 * EPOCHS_KEPT):
        for queue in ("a", "b", "c")[: 1 + step % 3]:
            ledger.add_one("e", Count(F.OFFERED, (queue, "voice"), 1), 1)
            ledger.add_one("e", Booking(queue, "voice", START_US, F.OFFERED, 1), 1)
            log.append((ledger.version, (F.OFFERED, (queue, "voice"))))
        stamps.append(ledger.version)
        if step % 2:
            ledger.seal()
    for since in stamps:
        found = ledger.changed_after(since, totals=True)
        if found is None:
            assert since < ledger._epochs_from
            continue
        assert sorted(found) == sorted({key for stamp, key in log if stamp > since})
        touched = ledger.changed_after(since, totals=False)
        assert sorted(touched) == sorted({key[1] for stamp, key in log if stamp > since})
    assert ledger.changed_after(stamps[-1], totals=True) == []
    assert ledger.changed_after(stamps[0], totals=True) is None  # before the oldest kept


def test_the_queue_labels_of_other_ledgers_whose_admissions_are_at_the_same_version_are_their_own():
    """The labels are kept while each ledger's admission is the same object at the same
    version: ledgers that admitted other names as many times are not taken for the first."""
    config = parse_config(CONFIG)
    now = START_US
    first, second = Ledger(config), Ledger(config)
    first.saw_queues(["first-queue"], now - 1)
    second.saw_queues(["second-queue"], now - 1)
    assert first.admission.version == second.admission.version
    for ledger, queue in ((first, "first-queue"), (second, "second-queue")):
        ledger.add("c", [Count("offered", (queue, "voice"), 1)])
        assert snapshot(all_families(config, [ledger], now)) == snapshot(
            fresh_families(config, ledger, now))


def test_the_queue_labels_follow_an_earlier_first_event_past_max_queues():
    """Past ``max_queues`` a name's first-seen time decides its label: an earlier event for
    a name labelled ``other`` takes the label from the name admitted before it."""
    config = parse_config({**CONFIG, "limits": {"max_queues": 1}})
    now = START_US
    first, second = Ledger(config), Ledger(config)
    first.saw_queues(["late-queue"], now - 10)
    first.add("c1", [Count("offered", ("late-queue", "voice"), 1)])
    second.saw_queues(["early-queue"], now - 20)
    second.add("c2", [Count("offered", ("early-queue", "voice"), 1)])
    ledgers = [first, second]
    for _ in range(2):
        with kpis.afresh():
            expected = snapshot(all_families(config, ledgers, now))
        assert snapshot(all_families(config, ledgers, now)) == expected
        first.saw_queues(["late-queue"], now - 30)  # now the earliest: admitted instead


@pytest.mark.parametrize("steps_min", [
    (1, 1, 2), (1, 29), (29, 1), (30,), (31,), (1, -1), (3, -2, 1),
], ids=["minute-by-minute", "then-a-window-but-one", "a-window-but-one-then-one",
        "a-whole-window", "past-a-window", "on-and-back", "on-back-and-on"])
def test_a_scrape_slides_the_erlang_window_as_the_minute_moves_on(busy, steps_min):
    """The trailing 30 minutes' sums kept per queue are moved along as the clock's minute
    moves on (minutes that left taken out, those that came in added), with events between
    in some queues only and none at all, and summed again when the clock jumps a window or
    goes back: every scrape equals a fresh one."""
    busy.feed(n=300)
    check(busy)
    for step in steps_min:
        busy.clock.now_us += step * MINUTE_US
        check(busy)
        now = busy.clock.now_us
        busy.apply(iter(call_events(now, "billing", f"slide-{step}-{now}", 40, 20)))
        check(busy)


def erlang_samples(fams: list[Family]) -> dict[Any, Any]:
    return {(f.name, k): v for f in fams if f.name.startswith("cc_erlang")
            for k, v in f.samples.items()}


def test_events_into_the_current_minute_keep_every_trailing_erlang_sum(busy, monkeypatch):
    """A floor's events book into the current minute, outside the trailing 30 minutes the
    Erlang loads sum (``Ledger.minutes_changed``): a scrape after them sums no member's
    minutes again, and equals a fresh one."""
    from streams.core import staffing

    busy.feed(n=300)
    check(busy)
    summed: list[int] = []
    real = staffing._trailing_sum
    monkeypatch.setattr(staffing, "_trailing_sum",
                        lambda minutes, lo, hi: summed.append(1) or real(minutes, lo, hi))
    minute = busy.clock.now_us - busy.clock.now_us % MINUTE_US
    busy.feed(until_us=minute + 40_000_000)  # this minute's events, in many queues
    assert busy.clock.now_us < minute + MINUTE_US  # (the event past 40 s applied too)
    busy.state.families(busy.state.engines)
    assert summed == []
    monkeypatch.setattr(staffing, "_trailing_sum", real)
    check(busy)


def test_a_late_event_into_the_trailing_minutes_moves_the_erlang_load(busy):
    """An event that books into a minute the trailing window already holds (a call queued
    10 minutes ago, reported late) changes that queue's load: the kept sum is summed again,
    and the scrape equals a fresh one."""
    busy.feed(n=300)
    check(busy)
    before = erlang_samples(busy.state.families(busy.state.engines))
    now = busy.clock.now_us
    busy.apply(iter(call_events(now, "billing", "late-in-window", 10 * 60, 9 * 60)))
    busy.apply(iter([{"event_id": "ended-late-in-window", "type": "call.ended",
                      "source": "test", "occurred_at": format_us(now - 8 * 60 * 1_000_000),
                      "call_id": "late-in-window", "queue": "billing"}]))
    check(busy)
    after = erlang_samples(busy.state.families(busy.state.engines))
    assert after != before


def test_a_ledger_tells_whether_minutes_before_a_minute_changed_after_a_stamp():
    ledger = Ledger(parse_config({}))
    key = ("support", "voice")
    m = START_US - START_US % MINUTE_US
    assert ledger.minutes_changed(key, m, 0)  # nothing known
    ledger.add("c-1", [Booking("support", "voice", m + 5_000_000, F.OFFERED, 1)])
    since = ledger.version
    ledger.add("c-2", [Booking("support", "voice", m + 9_000_000, F.OFFERED, 1)])
    assert not ledger.minutes_changed(key, m, since)  # into minute m itself
    assert ledger.minutes_changed(key, m + MINUTE_US, since)  # ... which is before m + 1
    since = ledger.version
    ledger.add("c-3", [Booking("support", "voice", m + MINUTE_US, F.OFFERED, 1)])
    # the newest minute moved on: minute m's bookings (all before `since`) count as older
    assert not ledger.minutes_changed(key, m + MINUTE_US, since)
    ledger.add("c-4", [Booking("support", "voice", m - 3 * MINUTE_US, F.OFFERED, 1)])
    assert ledger.minutes_changed(key, m + MINUTE_US, since)  # a late one, before it
    assert pickle.loads(pickle.dumps(ledger)).minutes_changed(key, m + MINUTE_US, 0)


def test_a_queue_booking_again_after_its_minutes_were_pruned_equals_a_fresh_scrape():
    """A queue kept in the Erlang loads by a call left waiting for hours: its minutes are
    pruned, then the call is abandoned now (a booking into the current minute). Its load
    is computed from its minutes again (zeros with today's AHT), the minute after as well."""
    r = Run()
    r.feed(until_us=START_US - 119 * MINUTE_US)
    t0 = r.clock.now_us

    def night(type_: str, call_id: str, ago_s: int, **extra: Any) -> dict[str, Any]:
        return {"event_id": f"{type_}-{call_id}", "type": type_, "source": "test",
                "occurred_at": format_us(t0 - ago_s * 1_000_000), "call_id": call_id,
                "queue": "night", **extra}

    r.apply(iter([night("call.queued", "done", 120),
                  night("call.answered", "done", 100, agent_id="agent-x"),
                  night("call.ended", "done", 40, agent_id="agent-x"),
                  night("call.wrapup_ended", "done", 35, agent_id="agent-x", resolved=True),
                  night("call.queued", "stuck", 30)]))
    check(r)
    r.feed(until_us=t0 + 130 * MINUTE_US)
    for engine in r.state.engines.values():
        engine.prune()  # minutes 2 hours behind stream time go; the waiting call stays
    assert not any(("night", "voice") in e.ledger.minutes for e in r.state.engines.values())
    check(r)
    now = r.clock.now_us
    t0 = now
    r.apply(iter([night("call.abandoned", "stuck", 0)]))
    check(r)
    assert ("cc_erlang_average_handle_time_seconds", ("night", "voice")) in erlang_samples(
        r.state.families(r.state.engines))
    r.clock.now_us = now - now % MINUTE_US + MINUTE_US + 1_000_000
    check(r)
