"""The engine's fast paths (``kind.appended``: an event added after its entity's others) keep
exactly what a full recompute would: after every event, each entity's kept contributions equal
``kind.contributions(record)`` as a multiset, and every KPI equals that of an engine rebuilt
from the records.

Contacts get random event sequences in any order (ties, duplicates, outcomes without a
segment, second wrap-ups, transfers after the wrap-up, bot messages in the middle); agents
and the rest come from the simulator, shuffled.
"""

from __future__ import annotations

import random
from collections import Counter

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.entities.kinds import KIND_BY_NAME
from streams.core.events import Event
from streams.core.kpis import all_families
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.validation import decode
from streams.worker.checkpoint import encode_record

START_US = 1_795_338_000_000_000  # 2026-11-22T09:00Z
CONFIG = parse_config({"defaults": {"stale_after_seconds": 30}})


# ---------------------------------------------------------------- predicates

def kept_contributions_equal_a_recompute(engine: Engine) -> bool:
    """Every entity held as objects has its contributions, and they are what its record
    gives; a frozen one has none (they come back with it)."""
    if any(key in engine._contributions for key in engine._frozen):
        return False
    for key, record in engine._records.items():
        kind = KIND_BY_NAME[record["kind"]]
        if key not in engine._contributions:
            return False
        if Counter(engine._contributions[key]) != Counter(kind.contributions(record,
                                                                             engine.config)):
            return False
    return True


def exported(engine: Engine, now_us: int) -> dict:
    return {(f.name, labels): v for f in all_families(engine.config, [engine.ledger], now_us)
            for labels, v in f.samples.items()}


def output_equals_a_rebuild_from_the_records(engine: Engine, now_us: int) -> bool:
    """Every KPI the engine exports equals that of an engine rebuilt from its records, whose
    contributions are all computed in full."""
    rebuilt = Engine(engine.config)
    rebuilt.rebuild([(key, orjson.loads(encode_record(record)))
                     for key, record in engine.store.data.items()])  # type: ignore[attr-defined]
    return exported(engine, now_us) == exported(rebuilt, now_us)


# ---------------------------------------------------------------- contacts

KINDS = ("queued", "queued", "queued", "answered", "answered", "abandoned", "flowed_out",
         "blocked", "transferred", "hold_started", "hold_ended", "message", "message",
         "message", "message", "ended", "wrapup_ended")


@st.composite
def contact_event(draw, index: int) -> Event:
    family = draw(st.sampled_from(("call", "chat")))
    kind = draw(st.sampled_from(KINDS))
    body: dict = {f"{family}_id": f"c{draw(st.integers(0, 2))}"}
    queue = draw(st.sampled_from(("q1", "q1", "q2", None)))
    if queue is not None:
        body["queue"] = queue
    if kind == "message":
        body["sender"] = draw(st.sampled_from(("customer", "agent", "bot")))
    elif kind in ("flowed_out", "blocked"):
        body["reason"] = draw(st.sampled_from(("timeout", "overflow", None)))
    elif kind == "wrapup_ended":
        body["resolved"] = draw(st.booleans())
    at_us = START_US + draw(st.integers(0, 120)) * 1_000_000
    event_id = f"e{index}"
    return Event(event_id, f"{family}.{kind}", at_us, {"event_id": event_id, **body})


@st.composite
def contact_histories(draw) -> list[Event]:
    events = [draw(contact_event(i)) for i in range(draw(st.integers(1, 40)))]
    if draw(st.booleans()):  # mostly in time order, as producers send
        events.sort(key=lambda e: e.occurred_us)
    duplicates = draw(st.lists(st.sampled_from(events), max_size=3))
    return events + duplicates


class TestContactFastPaths:
    @settings(max_examples=400, deadline=None)
    @given(contact_histories())
    def test_kept_contributions_equal_a_recompute_after_every_event(self, events):
        engine = Engine(CONFIG)
        for event in events:
            engine.apply(event)
            assert kept_contributions_equal_a_recompute(engine)
        assert output_equals_a_rebuild_from_the_records(engine, START_US + 600_000_000)


class TestAgentFastPath:
    def test_a_late_change_before_two_changes_of_one_instant_closes_its_span(self):
        # 10:01 available (a), 10:01 available (b), then 10:00 available arrives late: it goes
        # first, so the agent was available from 10:00; the end of the timeline (a, b at one
        # instant) looks like a fresh append, but the event applied is not the one there.
        def change(event_id: str, at: str) -> Event:
            event = decode(orjson.dumps({
                "event_id": event_id, "type": "agent.state_changed", "occurred_at": at,
                "source": "test", "agent_id": "a1", "state": "available"}))
            assert isinstance(event, Event)
            return event
        engine = Engine(CONFIG)
        for event in (change("a", "2026-11-22T10:01:00Z"), change("b", "2026-11-22T10:01:00Z"),
                      change("c", "2026-11-22T10:00:00Z")):
            engine.apply(event)
        assert kept_contributions_equal_a_recompute(engine)
        spans = [c for c in engine.contributions_of("agent:a1") if hasattr(c, "end_us")]
        assert [(c.end_us - c.start_us) // 1_000_000 for c in spans] == [60]


# ---------------------------------------------------------------- simulated traffic

def traffic() -> list[Event]:
    out = []
    for raw in generate(contact_centre(), seed=11, start_ms=START_US // 1000,
                        duration_ms=30 * 60_000):
        event = decode(orjson.dumps(raw))
        assert isinstance(event, Event)
        out.append(event)
    return out


class TestSimulatedTraffic:
    @settings(max_examples=4, deadline=None)
    @given(seed=st.integers(0, 2**32 - 1))
    def test_kept_contributions_equal_a_recompute_in_any_local_order(self, seed):
        events = traffic()
        rng = random.Random(seed)
        events.sort(key=lambda e: e.occurred_us + rng.randrange(120_000_000))
        engine = Engine(CONFIG)
        for event in events:
            engine.apply(event)
        assert kept_contributions_equal_a_recompute(engine)
        assert output_equals_a_rebuild_from_the_records(engine, engine.stream_us + 60_000_000)
