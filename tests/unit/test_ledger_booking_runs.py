"""Ledger.add books a run of bookings at one queue, channel and instant with the buckets found
once: the state must equal booking each contribution alone (Ledger.add_one)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from streams.core import contributions as F
from streams.core.config import parse_config
from streams.core.contributions import Booking, Count, Span
from streams.core.ledger import MINUTE_US, Ledger

T0 = 1_795_338_000_000_000  # 2026-11-22T09:00Z

_FIELDS = [F.OFFERED, F.ANSWERED, F.WAIT_ANSWERED_US, F.ANSWERED_WITHIN, F.HANDLED,
           F.HANDLE_US, F.CHAT_RESPONSES]  # minute fields and window-only fields
_AT = [T0, T0 + 1, T0 + MINUTE_US - 1, T0 + MINUTE_US, T0 - 15 * MINUTE_US, T0 + 86_400_000_000]

_contribution = st.one_of(  # channel "" is the agents' key, which spans book into too
    st.builds(Booking, st.sampled_from(["sales", "support"]),
              st.sampled_from(["voice", "chat", ""]),
              st.sampled_from(_AT), st.sampled_from(_FIELDS), st.integers(-3, 5)),
    st.builds(Count, st.just("offered"), st.just(("sales", "voice")), st.integers(1, 2)),
    st.builds(Span, st.just("sales"), st.just("available"), st.just(T0),
              st.just(T0 + 600_000_000)),
)


def _order(stamps: dict, marks: dict) -> tuple:
    """The stamps' order (their values differ from ledger to ledger, their order must not)."""
    values = sorted({*stamps.values(), *(v for m in marks.values() for v in m[1:])})
    rank = {v: r for r, v in enumerate(values)}
    return ([(k, rank[v]) for k, v in stamps.items()],
            {k: (m[0], rank[m[1]], rank[m[2]]) for k, m in marks.items()})


def _state(ledger: Ledger) -> tuple:
    buckets = (ledger.intervals, ledger.days, ledger.minutes)
    unordered = sorted(name for name, by_key in zip("idm", buckets, strict=True)
                       for key, b in by_key.items() if id(b) in ledger._unordered)
    return (*buckets, ledger.counters, _order(ledger.touched, ledger.minute_marks),
            [[list(b) for b in by_key.values()] for by_key in buckets], unordered)


#: A queue on its own calendar (a day that starts at 06:00 in New York), one on the defaults'.
_CONFIG = parse_config({"queues": {"sales": {"timezone": "America/New_York",
                                             "day_start": "06:00"}}})


def _apart(batches: list[tuple[list, int]]) -> Ledger:
    ledger = Ledger(_CONFIG)
    for contributions, times in batches:
        for c in contributions:
            ledger.add_one("c-1", c, times)
    return ledger


def _together(batches: list[tuple[list, int]]) -> Ledger:
    ledger = Ledger(_CONFIG)
    for contributions, times in batches:
        ledger.add("c-1", contributions, times)
    return ledger


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(_contribution, max_size=8), st.sampled_from([1, -1, 2, -2])),
                max_size=6))
@example([([Booking("sales", "voice", T0, F.ANSWERED, 1),
            Booking("sales", "voice", T0, F.WAIT_ANSWERED_US, 7),
            Booking("sales", "chat", T0, F.ANSWERED, 1),
            Booking("sales", "voice", T0 + 1, F.ANSWERED, 1)], 1),
          ([Booking("sales", "voice", T0, F.ANSWERED, 1),
            Booking("sales", "voice", T0, F.WAIT_ANSWERED_US, 7)], -1)])
def test_bookings_added_together_leave_the_state_of_bookings_added_one_at_a_time(batches):
    assert _state(_together(batches)) == _state(_apart(batches))


def test_a_run_of_bookings_at_one_instant_fills_its_interval_day_and_minute_once_each():
    ledger = Ledger(parse_config({}))
    ledger.add("call-1", [Booking("sales", "voice", T0, F.ANSWERED, 1),
                          Booking("sales", "voice", T0, F.WAIT_ANSWERED_US, 12_000_000),
                          Booking("sales", "voice", T0, F.ANSWERED_WITHIN, 1)])
    key = ("sales", "voice")
    assert list(ledger.minutes[key].values()) == [{F.WAIT_ANSWERED_US: 12_000_000}]
    assert list(ledger.intervals[key].values()) == [
        {F.ANSWERED: 1, F.WAIT_ANSWERED_US: 12_000_000, F.ANSWERED_WITHIN: 1}]
    assert list(ledger.days[key].values()) == list(ledger.intervals[key].values())
    ledger.add("call-1", [Booking("sales", "voice", T0, F.ANSWERED, 1),
                          Booking("sales", "voice", T0, F.WAIT_ANSWERED_US, 12_000_000),
                          Booking("sales", "voice", T0, F.ANSWERED_WITHIN, 1)], -1)
    assert list(ledger.intervals[key].values()) == [{}]  # retracted: as if never booked
