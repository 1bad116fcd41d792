"""The Erlang families a scrape keeps from the last one (``streams.core.staffing``: trailing
30-minute sums slid with the minute, kept while a ledger's bookings go into the current
minute) equal a fresh computation after any sequence of bookings (out of order, late,
ahead of the clock), retractions, waiting segments, clock moves (on, back, jumps) and
prunes of the minute buckets, on two ledgers."""

from __future__ import annotations

import random
from typing import Any

import pytest

from streams.core import contributions as F
from streams.core import kpis
from streams.core.config import parse_config
from streams.core.contributions import Booking, Waiting
from streams.core.kpis import all_families
from streams.core.ledger import Ledger

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
T0 = 1_796_000_000_000_000 - 1_796_000_000_000_000 % MINUTE_US + 10 * HOUR_US
FIELDS = [(F.OFFERED, 1), (F.HANDLED, 1), (F.HANDLE_US, 120_000_000), (F.ABANDONED, 1),
          (F.WAIT_ABANDONED_US, 30_000_000)]


def erlang(fams: list[Any]) -> list[Any]:
    return sorted((f.name, k, repr(v)) for f in fams if f.name.startswith("cc_erlang")
                  for k, v in f.samples.items())


def differences(seed: int, steps: int = 300) -> list[str]:
    """The steps (of a run from ``seed``) whose kept Erlang families differ from fresh."""
    rnd = random.Random(seed)
    config = parse_config({})
    ledgers = [Ledger(config), Ledger(config)]
    for ledger in ledgers:
        ledger.saw_queues(["q1", "q2", "q3"], T0 - 24 * HOUR_US)
    now = T0
    booked: list[tuple[int, str, Booking]] = []
    waiting: list[tuple[int, str, Waiting]] = []
    cut = [0, 0]  # per ledger: minutes before this are pruned (nothing books there again)
    found = []
    for step in range(steps):
        op, i, queue = rnd.random(), rnd.randrange(2), rnd.choice(["q1", "q2", "q3"])
        if op < 0.45:
            at = (now + rnd.randint(-35 * MINUTE_US, 2 * MINUTE_US) if rnd.random() < 0.3
                  else now - rnd.randint(0, 20_000_000))
            at = max(at, max(cut) + MINUTE_US)
            field, amount = rnd.choice(FIELDS)
            booking = Booking(queue, "voice", at, field, amount)
            ledgers[i].add(f"b{step}", [booking])
            booked.append((i, f"b{step}", booking))
        elif op < 0.52 and booked:
            j, key, booking = booked.pop(rnd.randrange(len(booked)))
            if booking.at_us >= cut[j] + MINUTE_US:
                ledgers[j].retract(key, [booking])
        elif op < 0.60:
            segment = Waiting(queue, "voice", now - rnd.randint(0, 3 * 3600) * 1_000_000)
            ledgers[i].add(f"w{step}", [segment])
            waiting.append((i, f"w{step}", segment))
        elif op < 0.65 and waiting:
            j, key, segment = waiting.pop(rnd.randrange(len(waiting)))
            ledgers[j].retract(key, [segment])
        elif op < 0.90:
            r = rnd.random()
            if r < 0.05:
                now -= rnd.randint(1, 5 * MINUTE_US)  # a clock stepped back
            elif r < 0.10:
                now += rnd.randint(30 * MINUTE_US, 3 * HOUR_US)  # a jump
            else:
                now += rnd.randint(0, 90_000_000)
        elif op < 0.93:
            minutes_cut = now - rnd.choice([2 * HOUR_US, 45 * MINUTE_US, 10 * MINUTE_US])
            ledgers[i].prune_windows(now - 72 * HOUR_US, minutes_cut)
            cut[i] = max(cut[i], minutes_cut)
        if rnd.random() < 0.5:
            kept = erlang(all_families(config, ledgers, now))
            with kpis.afresh():
                fresh = erlang(all_families(config, ledgers, now))
            if kept != fresh:
                found.append(f"step {step}: {sorted(set(kept) ^ set(fresh))[:2]}")
    return found


@pytest.mark.parametrize("seed", range(40))
def test_kept_erlang_families_equal_fresh_ones_after_random_bookings_and_prunes(seed):
    kpis.forget()
    assert differences(seed) == []
