"""Idle entities are frozen (their record kept as bytes, their contributions and event ids
dropped) and brought back when needed, changing no value.

A ticket solved more than a day ago, and a customer without an event for a day
(``kind.idle_due_us``), is frozen by a prune (``Engine._freeze``, streams.core.frozen); the
engine brings its record, contributions and event ids back when an event, a reference, a trim
or its retirement needs it (``Engine._record``). These tests run the same events through an
engine that freezes and one that never does, pruning alike, and compare what each apply
returned (duplicates included), the ledger, the records and every exported sample.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.entities import ticket as T
from streams.core.events import Event
from streams.core.kpis import all_families
from streams.core.timestamps import DAY_US, HOUR_US, parse_us
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.validation import decode

START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z
CONFIG = parse_config({})


def centre_traffic() -> list[Event]:
    """Two hours of a centre at three starts, two days apart: tickets solved in the first
    are settled by the second."""
    out = []
    for day in (0, 2, 4):
        start = START_MS + day * DAY_US // 1000
        for raw in generate(contact_centre(), seed=5, start_ms=start, duration_ms=2 * 3_600_000):
            event = decode(orjson.dumps(raw))
            assert isinstance(event, Event)
            out.append(event)
    return out


def ticket_event(n: int, type_: str, at_us: int, **body: Any) -> Event:
    eid = f"hand-{n}"
    return Event(eid, type_, at_us, {"event_id": eid, "type": type_, **body})


def frozen_keys(engine: Engine, kind: str) -> list[str]:
    return sorted(k for k in engine._frozen if engine.kept_records()[k]["kind"] == kind)


def later_events_for(engine: Engine, start: int) -> list[Event]:
    """For every frozen ticket: a reopen, a customer message and an agent reply after it,
    a late agent reply stamped before the solve, and a second solve."""
    out = []
    n = start
    records = engine.kept_records()
    for key in frozen_keys(engine, T.TicketKind().name):
        tid = key.partition(":")[2]
        solved_at = T.TicketKind()._solved_at(records[key])
        assert solved_at is not None
        at = engine.stream_us
        for type_, at_us, body in (
                ("ticket.status_changed", at + 1, {"status": "open"}),
                ("ticket.replied", at + 2, {"author": "customer"}),
                ("ticket.replied", at + 3, {"author": "agent", "agent_id": "a9"}),
                ("ticket.replied", solved_at - 60_000_000, {"author": "agent", "agent_id": "a8"}),
                ("ticket.status_changed", at + 4, {"status": "solved"})):
            n += 1
            out.append(ticket_event(n, type_, at_us, ticket_id=tid, **body))
    return out


def exported(engine: Engine, now_us: int) -> dict:
    return {(f.name, labels): v for f in all_families(CONFIG, [engine.ledger], now_us)
            for labels, v in f.samples.items()}


def ledgers_equal(a: Engine, b: Engine) -> bool:
    return (a.ledger.counters == b.ledger.counters and a.ledger.histograms == b.ledger.histograms
            and a._base.counters == b._base.counters
            and a._base.histograms == b._base.histograms and a.ledger.tickets == b.ledger.tickets)


def run_both(events: list[Event], freezing: Engine, never: Engine) -> None:
    for i, event in enumerate(events):
        assert freezing.apply(event) == never.apply(event), event
        if i % 500 == 0:
            freezing.prune()
            never.prune()
    freezing.prune()
    never.prune()


def engines() -> tuple[Engine, Engine]:
    return Engine(CONFIG), Engine(CONFIG, freezes=False)


class TestFrozenEntities:
    def test_idle_tickets_and_customers_are_frozen_and_hold_the_same_records(self):
        freezing, never = engines()
        run_both(centre_traffic(), freezing, never)
        assert frozen_keys(freezing, T.TicketKind().name), "tickets solved over a day before"
        assert frozen_keys(freezing, "customer"), "customers idle for over a day"
        assert not any(k in freezing._records or k in freezing._contributions
                       for k in freezing._frozen)
        assert not any(freezing._holds(eid, key) for key in freezing._frozen
                       for eid in T.TicketKind().event_ids(never._records[key])
                       if never._records[key]["kind"] == T.TicketKind().name)
        assert never.frozen_count == 0
        assert freezing.entity_count == never.entity_count
        assert freezing.kept_records() == never._records
        assert ledgers_equal(freezing, never)
        for now in range(freezing.stream_us - DAY_US, freezing.stream_us + DAY_US, 3 * HOUR_US):
            assert exported(freezing, now) == exported(never, now)

    def test_a_reopen_and_late_events_of_a_frozen_ticket_give_the_same_values(self):
        freezing, never = engines()
        run_both(centre_traffic(), freezing, never)
        later = later_events_for(freezing, 0)
        assert later
        run_both(later + later[:5], freezing, never)  # and a few duplicates
        assert ledgers_equal(freezing, never)
        now = freezing.stream_us
        values = exported(freezing, now)
        assert values == exported(never, now)
        assert any(name == "cc_tickets_reopened_total" and v for (name, _), v in values.items())

    def test_every_event_again_is_told_a_duplicate_or_late_alike(self):
        """The first day's events sent again once their entities are frozen: the frozen
        entities' event ids come back with them, so each is a duplicate as before."""
        freezing, never = engines()
        traffic = centre_traffic()
        run_both(traffic, freezing, never)
        frozen = freezing.frozen_count
        assert frozen
        run_both(traffic[:3000], freezing, never)  # apply outcomes compared one by one
        assert ledgers_equal(freezing, never)
        assert exported(freezing, freezing.stream_us) == exported(never, never.stream_us)

    def test_a_frozen_ticket_retires_with_the_totals_it_added(self):
        freezing, never = engines()
        run_both(centre_traffic(), freezing, never)
        assert freezing.frozen_count
        # 31 days on: every solved ticket retires (moved into the base) at the next prune
        tick = ticket_event(10**6, "ticket.created", freezing.stream_us + 31 * DAY_US,
                            ticket_id="later", queue="support", channel="email")
        run_both([tick], freezing, never)
        assert ledgers_equal(freezing, never)
        assert freezing._base.counters
        assert freezing.kept_records() == never._records
        now = freezing.stream_us
        assert exported(freezing, now) == exported(never, now)


def test_a_ticket_is_idle_a_day_after_its_last_solve_and_expires_30_days_after():
    kind = T.TicketKind()
    solved = parse_us("2026-11-23T10:00:00Z")
    record = {"ev": [T.TicketEvent(solved - HOUR_US, 0, "a", "created", "q", "email", None,
                                   None, None, None, True, None),
                     T.TicketEvent(solved, 4, "b", "status_changed", None, None, "solved",
                                   None, None, None, True, None)]}
    assert kind.idle_due_us(record) == solved + T.SETTLED_AFTER_US
    due = kind.expires_us(record)
    assert due == solved + T.AFTER_SOLVE_US
    assert not kind.expired(record, due) and kind.expired(record, due + 1)
    record["ev"].append(T.TicketEvent(solved + HOUR_US, 4, "c", "status_changed", None, None,
                                      "open", None, None, None, True, None))
    assert kind.idle_due_us(record) is None  # reopened: an open ticket is never idle
    assert kind.expires_us(record) is None  # nor dated: kept until solved


def test_a_frozen_record_thaws_equal_with_its_named_tuples():
    from streams.core.frozen import Freezer

    freezing, never = engines()
    run_both(centre_traffic(), freezing, never)
    freezer = Freezer()
    for record in never._records.values():  # every kind, each first one its dictionary
        back = freezer.thaw(freezer.freeze(record["kind"], record))
        assert back == record
        assert [type(e) for e in back.get("ev", [])] == [type(e) for e in record.get("ev", [])]


def test_a_record_frozen_with_its_kind_s_dictionary_takes_a_fraction_of_its_pickle():
    import pickle

    from streams.core.frozen import Freezer

    freezing, never = engines()
    run_both(centre_traffic(), freezing, never)
    freezer = Freezer()
    for kind in ("ticket", "customer"):
        records = [r for r in never._records.values() if r["kind"] == kind]
        assert len(records) > 20
        frozen = [freezer.freeze(kind, record) for record in records]
        pickled = sum(len(pickle.dumps(record, protocol=5)) for record in records[1:])
        assert sum(map(len, frozen[1:])) < 0.6 * pickled  # measured: ~0.4 to 0.45
        assert [freezer.thaw(f) for f in frozen] == records
    # A first record longer than the window: its last 4 KiB are the dictionary.
    long = {**records[0], "notes": [f"note {n}" * 10 for n in range(200)]}
    other = Freezer()
    assert other.thaw(other.freeze("customer", long)) == long
    assert other.thaw(other.freeze("customer", records[0])) == records[0]


def test_an_engine_restored_from_a_snapshot_taken_with_frozen_entities_gives_the_same_values():
    """A worker's snapshot holds no records: the frozen entities are read from its store
    like every other, and the restored engine goes on as the one that never froze."""
    from test_engine_snapshot import restored_from_snapshot

    freezing, never = engines()
    traffic = centre_traffic()
    cut = len(traffic) * 2 // 3
    run_both(traffic[:cut], freezing, never)
    assert freezing.frozen_count
    restored, _ = restored_from_snapshot(freezing)
    assert restored.entity_count == never.entity_count
    run_both(traffic[cut:] + later_events_for(freezing, 0), restored, never)
    assert restored.frozen_count
    assert ledgers_equal(restored, never)
    for now in range(never.stream_us - DAY_US, never.stream_us + DAY_US, 3 * HOUR_US):
        assert exported(restored, now) == exported(never, now)
