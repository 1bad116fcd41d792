"""Invariants of the engine on simulated traffic (hypothesis), named as predicates:

* any shuffle within a 10-minute horizon gives identical output;
* applying events one by one with pruning at stream time (the worker's way) equals the replay;
* rebuilding from the persisted records at any point gives identical output;
* two scrapes at one instant are identical.

And the persisted-record contract: a record written in the previous format (milliseconds, no
kind or version) is restored by this release.
"""

from __future__ import annotations

import functools
import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from kpi_helpers import us

from streams.core.config import Config, parse_config
from streams.core.contributions import AGENT_STATES
from streams.core.engine import BASE_KEY, Engine, MemoryStore
from streams.core.events import Event
from streams.core.kpis import _COUNTERS, _HISTOGRAMS, all_families
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.validation import decode
from streams.worker.checkpoint import encode_record

HOUR_MS = 3_600_000
START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z
TEN_MINUTES_US = 600_000_000


@functools.cache
def traffic() -> tuple[Event, ...]:
    """40 minutes of a simulated centre, then 40 more three days later (so retention acts)."""
    out = []
    for start in (START_MS, START_MS + 72 * HOUR_MS):
        for raw in generate(contact_centre(), seed=5, start_ms=start, duration_ms=40 * 60_000):
            event = decode(orjson.dumps(raw))
            assert isinstance(event, Event)
            out.append(event)
    return tuple(out)


def config() -> Config:
    return parse_config({"limits": {"max_queues": 3}})


def exported(engine: Engine, now_us: int) -> dict:
    return {(f.name, labels): v for f in all_families(engine.config, [engine.ledger], now_us)
            for labels, v in f.samples.items()}


def run(events, *, prune_every_event: bool = False) -> Engine:
    engine = Engine(config())
    for event in events:
        engine.apply(event)
        if prune_every_event:
            engine.prune()
    return engine


def clock(events) -> int:
    return max(e.occurred_us for e in events) + 60_000_000


# ---------------------------------------------------------------- predicates

def same_output(a: Engine, b: Engine, now_us: int) -> bool:
    return exported(a, now_us) == exported(b, now_us)


def counters_never_negative(engine: Engine) -> bool:
    return all(v >= 0 for v in engine.ledger.counters.values())


# ---------------------------------------------------------------- properties

@settings(max_examples=8, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_shuffle_within_ten_minutes_gives_identical_output(seed: int):
    events = traffic()
    rng = random.Random(seed)
    shuffled = sorted(events, key=lambda e: e.occurred_us + rng.randrange(TEN_MINUTES_US))
    a, b = run(events), run(shuffled)
    assert counters_never_negative(b)
    assert same_output(a, b, clock(events))


def test_pruning_at_stream_time_after_every_event_equals_the_replay():
    events = traffic()
    worker = run(events, prune_every_event=True)
    replay = run(events)
    assert worker.entity_count < replay.entity_count  # retention really dropped state
    assert same_output(worker, replay, clock(events))


@settings(max_examples=8, deadline=None)
@given(cut=st.floats(min_value=0.05, max_value=0.95))
def test_rebuilding_from_the_records_at_any_point_gives_identical_output(cut: float):
    events = traffic()
    k = int(len(events) * cut)
    store = MemoryStore()
    first = Engine(config(), store)
    for event in events[:k]:
        first.apply(event)
    first.prune()
    # what a changelog would hold: the records as bytes, decoded again
    persisted = [(key, orjson.loads(encode_record(rec))) for key, rec in store.data.items()]
    second = Engine(config())
    second.rebuild(persisted)
    for event in events[k:]:
        second.apply(event)
    assert same_output(second, run(events), clock(events))


@settings(max_examples=5, deadline=None)
@given(offset_s=st.integers(min_value=0, max_value=4 * 3600))
def test_two_scrapes_at_one_instant_are_identical(offset_s: int):
    engine = run(traffic())
    now = clock(traffic()) + offset_s * 1_000_000
    assert exported(engine, now) == exported(engine, now)


# ---------------------------------------------------------------- contracts

def test_a_record_written_in_the_previous_format_is_restored():
    """Format 1: milliseconds, no kind/version; kind guessed from the keys (as it was)."""
    ms = us("2026-11-22T09:00:00Z") // 1000
    cfg = parse_config({})
    buckets = len(cfg.histogram_bounds_seconds()) + 1
    wait_row = [0] * buckets + [12_000]  # one answered wait of 12 s, its sum in ms
    wait_row[cfg.histogram_bounds_seconds().index(15.0)] = 1
    old_store = {
        "call:c1": {"p": 0, "t": ms, "ch": "voice", "ev": [
            ["e1", "queued", ms, "sales", None],
            ["e2", "answered", ms + 8_000, "sales", None]]},
        "agent:a1": {"p": 0, "t": ms, "tl": [[ms - 60_000, "available", ["sales"], "e3"]]},
        "ticket:t1": {"p": 0, "t": ms, "kind": "ticket", "ev": [
            ["e4", "created", ms, "sales", "email"]]},
        BASE_KEY: {"p": 0, "wm": ms - 48 * HOUR_MS, "c": [["offered", ["sales", "voice"], 1],
                                                         ["answered", ["sales", "voice"], 1]],
                   "h": [["wait", ["sales", "voice", "answered"], wait_row]]},
    }
    engine = Engine(cfg)
    engine.rebuild(orjson.loads(orjson.dumps(old_store)).items())
    got = exported(engine, us("2026-11-22T09:05:00Z"))
    assert got[("cc_contacts_offered_total", ("sales", "voice"))] == 2
    assert got[("cc_window_contact_wait_seconds_sum", ("sales", "voice", "interval"))] == 8.0
    _bounds, counts, total = got[("cc_contact_wait_seconds", ("sales", "voice", "answered"))]
    assert total == 20.0 and sum(counts) == 2  # 12 s from the base + 8 s from the record
    assert got[("cc_agents", ("sales", "available"))] == 1
    assert got[("cc_window_requests", ("email", "interval"))] == 1
    assert engine.stream_us == us("2026-11-22T09:00:08Z")
    # a duplicate of an event in an old record is still recognised
    again = decode(orjson.dumps({"event_id": "e2", "type": "call.answered",
                                 "occurred_at": "2026-11-22T09:00:08Z", "call_id": "c1",
                                 "queue": "sales", "agent_id": "x"}))
    assert engine.apply(again).value == "duplicate"  # type: ignore[arg-type]


def test_contribution_vocabularies_are_disjoint():
    """The engine diffs contributions of different types in one multiset: a counter metric
    named like a histogram metric or an agent state would make two types compare equal."""
    counters, histograms = set(_COUNTERS), set(_HISTOGRAMS)
    assert not counters & histograms
    assert not counters & set(AGENT_STATES)
    assert not histograms & set(AGENT_STATES)
