"""A settled ticket's contributions are dropped from memory and computed again when needed.

A ticket solved more than a day ago (``TicketKind.settled``) keeps its record (a reopen or a
late event is applied under the same rules for 30 days after the solve) but a prune drops its
contributions; the engine computes them again from the record when the ticket changes or
retires (``Engine._warm``). These tests run the same events through an engine whose tickets
settle and one whose tickets never do, pruning alike, and compare the ledger and every
exported sample.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

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


def later_events_for(engine: Engine, start: int) -> list[Event]:
    """For every settled ticket: a reopen, a customer message and an agent reply after it,
    a late agent reply stamped before the solve, and a second solve."""
    out = []
    n = start
    for key in sorted(k for k, r in engine._records.items() if r["kind"] == T.TicketKind.name
                      and k not in engine._contributions):
        tid = key.partition(":")[2]
        solved_at = T.TicketKind()._solved_at(engine._records[key])
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


def run_both(events: list[Event], settling: Engine, never: Engine) -> None:
    for i, event in enumerate(events):
        assert settling.apply(event) == never_apply(never, event)
        if i % 500 == 0:
            settling.prune()
            never_prune(never)
    settling.prune()
    never_prune(never)


def never_apply(engine: Engine, event: Event) -> Any:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(T, "SETTLED_AFTER_US", 10**18)
        return engine.apply(event)


def never_prune(engine: Engine) -> None:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(T, "SETTLED_AFTER_US", 10**18)
        engine.prune()


class TestSettledTickets:
    def test_settled_tickets_keep_their_record_but_not_their_contributions(self):
        settling, never = Engine(CONFIG), Engine(CONFIG)
        run_both(centre_traffic(), settling, never)
        tickets = [k for k, r in settling._records.items() if r["kind"] == T.TicketKind.name]
        settled = [k for k in tickets if k not in settling._contributions]
        assert settled, "the traffic has tickets solved over a day before its end"
        assert all(k in never._contributions for k in tickets)
        assert settling._records.keys() == never._records.keys()
        assert ledgers_equal(settling, never)
        for now in range(settling.stream_us - DAY_US, settling.stream_us + DAY_US, 3 * HOUR_US):
            assert exported(settling, now) == exported(never, now)

    def test_a_reopen_and_late_events_of_a_settled_ticket_give_the_same_values(self):
        settling, never = Engine(CONFIG), Engine(CONFIG)
        run_both(centre_traffic(), settling, never)
        later = later_events_for(settling, 0)
        assert later
        run_both(later + later[:5], settling, never)  # and a few duplicates
        assert ledgers_equal(settling, never)
        now = settling.stream_us
        values = exported(settling, now)
        assert values == exported(never, now)
        assert any(name == "cc_tickets_reopened_total" and v for (name, _), v in values.items())

    def test_a_settled_ticket_retires_with_the_totals_it_added(self):
        settling, never = Engine(CONFIG), Engine(CONFIG)
        run_both(centre_traffic(), settling, never)
        assert any(k not in settling._contributions for k in settling._records)
        # 31 days on: every solved ticket retires (moved into the base) at the next prune
        tick = ticket_event(10**6, "ticket.created", settling.stream_us + 31 * DAY_US,
                            ticket_id="later", queue="support", channel="email")
        run_both([tick], settling, never)
        assert ledgers_equal(settling, never)
        assert settling._base.counters
        now = settling.stream_us
        assert exported(settling, now) == exported(never, now)


def test_settled_is_a_day_after_the_last_solve():
    kind = T.TicketKind()
    solved = parse_us("2026-11-23T10:00:00Z")
    record = {"ev": [T.TicketEvent(solved - HOUR_US, 0, "a", "created", "q", "email", None,
                                   None, None, None, True, None),
                     T.TicketEvent(solved, 4, "b", "status_changed", None, None, "solved",
                                   None, None, None, True, None)]}
    assert not kind.settled(record, solved + T.SETTLED_AFTER_US)
    assert kind.settled(record, solved + T.SETTLED_AFTER_US + 1)
    record["ev"].append(T.TicketEvent(solved + HOUR_US, 4, "c", "status_changed", None, None,
                                      "open", None, None, None, True, None))
    assert not kind.settled(record, solved + 10 * DAY_US)  # reopened: open tickets never settle
