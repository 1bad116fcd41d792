"""The kept window sums (kpis._WindowSums, summed again for the keys a ledger changed):
whatever is booked and retracted in which ledgers between scrapes, and as the windows move,
the sums equal those summed from every ledger's buckets — the very fields, a field summing
to 0 only where a member has it."""

from __future__ import annotations

import pickle
import random

import pytest

from streams.core import contributions as F
from streams.core.config import parse_config
from streams.core.contributions import Booking, Span
from streams.core.kpis import _fresh_window_sums, _WindowSums, queue_labels
from streams.core.ledger import Ledger

T0 = 1_795_338_000_000_000  # 2026-11-22T09:00Z
MINUTE_US = 60_000_000
_FIELDS = (F.OFFERED, F.ANSWERED, F.WAIT_ANSWERED_US, F.HANDLED, F.FLOWED_OUT_FOR + "overflow")


def _check(kept: _WindowSums, ledgers: list[Ledger], now_us: int) -> None:
    label = queue_labels(ledgers[0].config, ledgers)
    sums = kept.sums_at(ledgers, label, now_us)
    assert sums == _fresh_window_sums(ledgers, label, now_us)
    for key, fields in sums.items():  # equal dicts, and the same keys: zeros included
        assert set(fields) == set(_fresh_window_sums(ledgers, label, now_us)[key])


#: Queues named in the configuration (a merged key per queue and channel), or not (both shown
#: as ``other``: a merged key of two queues' members in each ledger).
_CONFIGS = {"named": {"queues": {"sales": {}, "support": {}}}, "merged": {}}


@pytest.mark.parametrize("queues", sorted(_CONFIGS))
@pytest.mark.parametrize("seed", range(25))
def test_kept_window_sums_equal_fresh_ones_through_bookings_and_retractions(seed, queues):
    rng = random.Random(seed)
    config = parse_config(_CONFIGS[queues])
    ledgers = [Ledger(config) for _ in range(3)]
    kept = _WindowSums()
    booked: list[tuple[int, str, object]] = []  # (ledger, entity, contribution) standing
    now = T0 + 20 * MINUTE_US
    for _ in range(40):
        for _ in range(rng.randint(1, 6)):
            if booked and rng.random() < 0.4:  # retract one standing contribution
                i, key, c = booked.pop(rng.randrange(len(booked)))
                ledgers[i].add_one(key, c, -1)
                continue
            i = rng.randrange(3)
            queue = rng.choice(["sales", "support"])
            at = now - rng.randint(0, 40) * MINUTE_US  # this interval, the previous, today
            if rng.random() < 0.2:
                c = Span(queue, rng.choice(["available", "on_contact"]), at, at + 90_000_000)
            else:
                c = Booking(queue, rng.choice(["voice", "chat"]), at, rng.choice(_FIELDS),
                            rng.choice([1, 2, 5_000_000]))
            ledgers[i].add_one(f"c-{rng.randrange(5)}", c, 1)
            booked.append((i, f"c-{rng.randrange(5)}", c))
        # (the entity of a retraction is not looked at by a booking: any key does)
        if rng.random() < 0.3:
            now += rng.choice([1_000_000, 5 * MINUTE_US])  # maybe into the next interval
        _check(kept, ledgers, now)


def test_a_field_a_member_retracts_to_zero_goes_from_the_sums_where_no_member_has_it():
    config = parse_config(_CONFIGS["named"])
    ledgers = [Ledger(config), Ledger(config)]
    kept = _WindowSums()
    now = T0 + MINUTE_US
    answered = Booking("sales", "voice", T0, F.ANSWERED, 1)
    ledgers[0].add_one("c-1", Booking("sales", "voice", T0, F.OFFERED, 1), 1)
    ledgers[1].add_one("c-2", answered, 1)
    _check(kept, ledgers, now)
    ledgers[1].add_one("c-2", answered, -1)
    _check(kept, ledgers, now)
    label = queue_labels(config, ledgers)
    assert F.ANSWERED not in kept.sums_at(ledgers, label, now)[("sales", "voice", "interval")]


#: Two calendars: a 30-minute interval whose business day starts at 09:10 in New York (its
#: intervals straddle the day's start) beside the defaults' 15 minutes of UTC.
_TWO_CALENDARS = {"queues": {"sales": {},
                             "support": {"timezone": "America/New_York", "interval_minutes": 30,
                                         "day_start": "09:10"}}}


@pytest.mark.parametrize("seed", range(40))
def test_kept_window_sums_equal_fresh_ones_with_bookings_at_any_instant_and_two_readers(seed):
    """Bookings and spans in the current interval, the previous one, across the two, earlier
    today, yesterday, and after the current interval (a producer's clock ahead), in two
    calendars; two readers of the same ledgers, one of them reading now and then."""
    rng = random.Random(seed)
    config = parse_config(_TWO_CALENDARS)
    ledgers = [Ledger(config) for _ in range(2)]
    kept, other = _WindowSums(), _WindowSums()
    booked: list[tuple[int, object]] = []
    now = T0 + 14 * 60 * MINUTE_US + rng.randint(0, 60) * MINUTE_US  # ~14:00 UTC: 09:00 NY
    for _ in range(60):
        for _ in range(rng.randint(1, 8)):
            if booked and rng.random() < 0.3:
                i, c = booked.pop(rng.randrange(len(booked)))
                ledgers[i].add_one("e", c, -1)
                continue
            i = rng.randrange(2)
            queue = rng.choice(["sales", "support"])
            back = rng.choice([0, 0, 0, 1, 2, 10, 20, 29, 35, 45, 70, 24 * 60])
            at = now - back * MINUTE_US + rng.choice([0, 1, 59_999_999, rng.randrange(MINUTE_US)])
            if rng.random() < 0.1:
                at = now + rng.randint(1, 40) * MINUTE_US  # ahead of the clock
            if rng.random() < 0.35:
                length = rng.choice([1, 30_000_000, 5 * MINUTE_US, 25 * MINUTE_US])
                c = Span(queue, rng.choice(["available", "on_contact"]), at, at + length)
            else:
                c = Booking(queue, rng.choice(["voice", "chat"]), at, rng.choice(_FIELDS),
                            rng.choice([1, 2, 5_000_000]))
            ledgers[i].add(f"e-{i}", [c], 1)
            booked.append((i, c))
        if rng.random() < 0.25:
            now += rng.choice([1_000_000, 3 * MINUTE_US, 11 * MINUTE_US])
        elif rng.random() < 0.05:
            now -= 2 * MINUTE_US  # a clock set back
        _check(kept, ledgers, now)
        if rng.random() < 0.3:
            _check(other, ledgers, now + rng.choice([0, 16 * MINUTE_US]))


def test_a_booking_into_the_previous_interval_after_the_sums_moves_it_and_the_day():
    """The previous interval of a kept key changes only by a booking into it (an agent's
    span begun before the interval turned): summed again, and the day with it."""
    config = parse_config(_CONFIGS["named"])
    ledger = Ledger(config)
    kept = _WindowSums()
    now = T0 + 20 * MINUTE_US  # interval 09:15, previous 09:00
    ledger.add("a", [Span("sales", "available", T0 + 16 * MINUTE_US, T0 + 17 * MINUTE_US)], 1)
    _check(kept, [ledger], now)
    ledger.add("a", [Span("sales", "available", T0 + 10 * MINUTE_US, T0 + 19 * MINUTE_US)], 1)
    _check(kept, [ledger], now)
    label = queue_labels(config, [ledger])
    sums = kept.sums_at([ledger], label, now)
    assert sums[("sales", "", "previous_interval")] == {"t_available": 5 * MINUTE_US}
    assert sums[("sales", "", "interval")] == {"t_available": 5 * MINUTE_US}
    assert sums[("sales", "", "today")] == {"t_available": 10 * MINUTE_US}


def test_a_span_booked_and_retracted_between_reads_leaves_the_day_as_its_buckets_say():
    """A span retracted leaves its field at 0 in its buckets (a booking's goes): an interval
    that straddles the business day's start (09:10 in New York, 30-minute intervals) already
    holding the field from a span of yesterday's business day shows no change, yet the day
    gains the field at 0 — the sums read the buckets then (a fresh user's fuzz found it)."""
    config = parse_config({"queues": {"support": {"timezone": "America/New_York",
                                                  "interval_minutes": 30, "day_start": "09:10"}}})
    t0 = 1_793_628_000_000_000  # 2026-11-02T14:00Z, 09:00 in New York
    ledger = Ledger(config)
    kept = _WindowSums()
    now = t0 + 20 * MINUTE_US
    ledger.add("a", [Span("support", "available", t0, t0 + 5 * MINUTE_US)], 1)
    _check(kept, [ledger], now)
    span = Span("support", "available", t0 + 12 * MINUTE_US, t0 + 15 * MINUTE_US)
    ledger.add("a", [span], 1)
    ledger.add("a", [span], -1)
    _check(kept, [ledger], now)
    label = queue_labels(config, [ledger])
    assert kept.sums_at([ledger], label, now)[("support", "", "today")] == {"t_available": 0}


#: Calendars of every kind the fuzz below mixes: New York with day starts inside an interval,
#: Kolkata's half-hour offset, an admission of one queue name.
_MIXED = [
    {"limits": {"max_queues": 1},
     "defaults": {"timezone": "America/New_York", "interval_minutes": 15, "day_start": "02:10"},
     "queues": {"sales": {"timezone": "America/New_York", "interval_minutes": 60}}},
    _TWO_CALENDARS,
    {"queues": {"sales": {"timezone": "Asia/Kolkata", "interval_minutes": 60},
                "support": {"timezone": "America/New_York", "interval_minutes": 15,
                            "day_start": "02:30"}}},
    {"defaults": {"timezone": "America/New_York", "interval_minutes": 30, "day_start": "01:30"},
     "queues": {"sales": {"timezone": "Asia/Kolkata", "interval_minutes": 30,
                          "day_start": "00:10"}}},
    {},
]
#: Around both 2026 DST changes in New York, and an ordinary afternoon.
_ANCHORS = (1_772_952_600_000_000, 1_793_512_200_000_000, 1_795_356_300_000_000)


@pytest.mark.parametrize("seed", range(400))
def test_kept_window_sums_equal_fresh_ones_through_dst_prunes_pickling_and_retractions(seed):
    """Bookings, spans (across intervals and days) and retractions of either kind, through
    ``add`` and ``add_one``, with the clock across intervals, days and DST changes, windows
    pruned, ledgers pickled and sealed, and a second reader at another clock: every read
    equal to the sums from every bucket (after a fresh user's fuzz, which found a span
    retracted between reads; this keeps its kinds of steps)."""
    rng = random.Random(seed)
    config = parse_config(_MIXED[seed % len(_MIXED)])
    n = rng.randint(1, 3)
    ledgers = [Ledger(config) for _ in range(n)]
    kept, other = _WindowSums(), _WindowSums()
    booked: list[tuple[int, object]] = []
    now = rng.choice(_ANCHORS) + rng.randint(-90, 90) * MINUTE_US
    for _ in range(80):
        for _ in range(rng.randint(0, 6)):
            if booked and rng.random() < 0.25:  # often the latest: booked and retracted
                i, c = booked.pop(rng.choice([-1, rng.randrange(len(booked))]))
                if rng.random() < 0.5:
                    ledgers[i].add("e", [c], -1)
                else:
                    ledgers[i].add_one("e", c, -1)
                continue
            i = rng.randrange(n)
            queue = rng.choice(["sales", "support", "x1"])
            back = rng.choice([0, 0, 0, 1, 5, 14, 16, 29, 31, 45, 61, 120, 24 * 60, 25 * 60])
            at = now - back * MINUTE_US + rng.choice([0, 1, -1, rng.randrange(MINUTE_US)])
            if rng.random() < 0.08:
                at = now + rng.randint(1, 90) * MINUTE_US
            cs: list[object] = []
            for _ in range(rng.choice([1, 1, 2, 3])):
                if rng.random() < 0.35:
                    length = rng.choice([1, 30_000_000, 5 * MINUTE_US, 25 * MINUTE_US,
                                         70 * MINUTE_US])
                    start = at - rng.choice([0, length // 2, length])
                    cs.append(Span(queue, rng.choice(["available", "on_contact"]), start,
                                   start + length))
                else:
                    cs.append(Booking(queue, rng.choice(["voice", "chat"]), at,
                                      rng.choice(_FIELDS), rng.choice([1, 2, 5_000_000])))
            if rng.random() < 0.5:
                ledgers[i].add("e", cs, 1)
            else:
                for c in cs:
                    ledgers[i].add_one("e", c, 1)
            booked.extend((i, c) for c in cs)
        if rng.random() < 0.3:
            now += rng.choice([MINUTE_US, 3 * MINUTE_US, 11 * MINUTE_US, 30 * MINUTE_US,
                               24 * 60 * MINUTE_US, -2 * MINUTE_US])
        step = rng.random()
        if step < 0.03:
            i = rng.randrange(n)
            ledgers[i].prune_windows(now - rng.choice([1, 2]) * 24 * 60 * MINUTE_US)
            booked = [(j, c) for j, c in booked if j != i]  # their buckets may be gone
        elif step < 0.06:
            i = rng.randrange(n)
            ledgers[i] = pickle.loads(pickle.dumps(ledgers[i]))
        elif step < 0.12:
            ledgers[rng.randrange(n)].seal()
        _check(kept, ledgers, now)
        if rng.random() < 0.2:
            _check(other, ledgers, now + rng.choice([0, 16 * MINUTE_US, -16 * MINUTE_US]))
