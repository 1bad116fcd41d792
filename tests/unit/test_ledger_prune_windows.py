"""``Ledger.prune_windows``: what it forgets, and that with nothing to forget it changes
nothing — not even the stamps a scrape reads what changed from. An engine's prunes call it
about once a stream hour (``Engine.prune``), and a ledger it reshaped is read whole by the
next scrape (``streams.core.kpis``)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streams.core import contributions as F
from streams.core import ledger as ledger_module
from streams.core.config import parse_config
from streams.core.contributions import Booking, Span
from streams.core.ledger import Ledger

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
T0 = 1_795_338_000_000_000  # 2026-11-22T09:00Z


def booked_ledger() -> Ledger:
    ledger = Ledger(parse_config({}))
    ledger.add("call-1", [Booking("sales", "voice", T0, F.OFFERED, 1)])
    ledger.add("agent-1", [Span("sales", "available", T0, T0 + 600_000_000)])
    return ledger


def test_a_prune_with_no_window_to_forget_leaves_the_ledger_and_its_stamps_alone():
    ledger = booked_ledger()
    ledger.seal()
    ledger.add("call-2", [Booking("sales", "voice", T0 + 1, F.OFFERED, 1)])
    version, reshaped = ledger.version, ledger.reshaped
    touched = dict(ledger.touched)
    intervals = {k: dict(v) for k, v in ledger.intervals.items()}

    ledger.prune_windows(T0 - DAY_US)  # every bucket starts after the cut

    assert (ledger.version, ledger.reshaped) == (version, reshaped)
    assert ledger.touched == touched
    assert ledger.changed_after(version - 1, totals=False) == [("sales", "voice")]
    assert {k: dict(v) for k, v in ledger.intervals.items()} == intervals


def test_a_prune_that_forgets_buckets_reshapes_the_ledger_and_drops_the_emptied_queues():
    ledger = booked_ledger()
    version = ledger.version

    ledger.prune_windows(T0 + 2 * DAY_US)  # past every bucket

    assert ledger.reshaped > version and ledger.version == ledger.reshaped
    assert ledger.intervals == {} and ledger.days == {} and ledger.minutes == {}
    assert ledger.touched == {}


MINUTE_US = 60_000_000
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.sampled_from(["sales", "support"]),
                  st.integers(0, 5 * DAY_US // MINUTE_US)),
        st.tuples(st.just("prune"), st.just(""), st.integers(0, 5 * DAY_US // MINUTE_US))),
    max_size=60)


@pytest.mark.parametrize("sorts", [1, ledger_module.SORTS_PER_PRUNE])
@settings(max_examples=150, deadline=None)
@given(ops=_OPS)
@example(ops=[("book", "sales", 100), ("book", "sales", 50), ("book", "sales", 10),
              ("prune", "", 20), ("prune", "", 60)])  # added out of order, pruned twice
def test_a_prune_forgets_exactly_the_buckets_before_its_cut_in_any_booking_order(sorts, ops):
    # Buckets come in any order (a late event books a window none had booked yet): each
    # prune keeps exactly the buckets that start at or after its cut, in every store, with
    # the dicts out of order sorted again one a prune (the rest read whole) or all at once.
    kept_sorts, ledger_module.SORTS_PER_PRUNE = ledger_module.SORTS_PER_PRUNE, sorts
    try:
        _check_prunes(ops)
    finally:
        ledger_module.SORTS_PER_PRUNE = kept_sorts


def _check_prunes(ops: list[tuple[str, str, int]]) -> None:
    ledger = Ledger(parse_config({}))
    expected: dict[str, dict[tuple[str, str], set[int]]] = {
        "intervals": {}, "days": {}, "minutes": {}}
    for op, queue, minute in ops:
        at = T0 + minute * MINUTE_US
        if op == "book":
            ledger.add(f"call-{minute}", [Booking(queue, "voice", at, F.OFFERED, 1)])
            interval, day = ledger.calendar(queue).starts(at)
            for store, start in (("intervals", interval), ("days", day),
                                 ("minutes", at - at % MINUTE_US)):
                expected[store].setdefault((queue, "voice"), set()).add(start)
        else:
            ledger.prune_windows(at)
            for starts in expected.values():
                for key in list(starts):
                    starts[key] = {s for s in starts[key] if s >= at}
        for store, starts in expected.items():
            held = {k: set(v) for k, v in getattr(ledger, store).items() if v}
            assert held == {k: v for k, v in starts.items() if v}, store
