"""Customers and marketing spend: records and their per-month counters (contract §1.6, §3.4).

A customer (``customer:<customer_id>``) keeps its events sorted by time, then event id; a
``marketing.spend`` is an entity of its own (``marketing:<event_id>``). Everything an entity
contributes is a :class:`~streams.core.contributions.Count` named ``cust_*`` whose first label
is the calendar month ``YYYY-MM`` in ``[customers] timezone``; money is in integer
micro-units per currency, so sums are exact in any order. Counts outlive the entity (the
engine folds them into its base), which is why the month KPIs are built from counters alone
(``streams.core.customers``).

The customer's life-cycle, read from its events in order (one *life* = one kept record):

* ``acquired`` makes it a customer, counted as acquired (and referred, with ``referred_by``)
  in its month; an ``acquired`` while it is already a customer changes nothing.
* ``churned`` ends it, counted as churned in its month; a churn while not a customer
  changes nothing. A churn before any ``acquired`` is an *existing* customer leaving.
* ``revenue`` and ``interaction`` add to the month's revenue and interactions whatever the
  state. A customer with no ``acquired`` (before a churn) is *existing*: a customer from
  before the stream, counted once, in the month its first event falls in. An ``acquired``
  anywhere in the record (before any churn) wins: the earlier events were a prospect's.
* A customer still active when its 13 months of silence end *lapses*: it counts as lost in
  the month its state is dropped, so that if it comes back (as a fresh record, counted as
  existing or acquired again) it is never counted twice.

Retention (docs/contract.md §2): kept for :data:`RETENTION_US` (13 × 31 days, at least 13 calendar
months) of stream time after its newest event; an event older than that is late.
"""

from __future__ import annotations

import functools
from bisect import insort
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from streams.core.config import Config
from streams.core.contributions import Contribution, Count
from streams.core.entities.event_log import EventLogKind
from streams.core.events import Event
from streams.core.timestamps import DAY_US

RETENTION_US = 13 * 31 * DAY_US

# Counter metrics (labels: (month,), money ones (month, currency)).
ACQUIRED = "cust_acquired"
REFERRED = "cust_referred"
EXISTING = "cust_existing"  # first seen without acquired: in S of its month, not in N
CHURNED = "cust_churned"
LAPSED = "cust_lapsed"  # still active when its state was dropped: lost in that month
INTERACTIONS = "cust_interactions"
REVENUE_MICRO = "cust_revenue_micro"
SPEND_MICRO = "cust_spend_micro"
PREFIX = "cust_"

MICRO = 1_000_000


class CustomerEvent(NamedTuple):
    """A customer or marketing event's fields the KPIs use; a plain tuple comparison orders
    an entity's events (time, then event id)."""

    at_us: int
    event_id: str
    kind: str  # "acquired", "churned", "revenue", "interaction" or "spend"
    amount_micro: int  # money in millionths of the currency unit (0 when none)
    currency: str | None
    referred: bool  # an acquired event with a non-empty referred_by


def to_micro(amount: int | float) -> int:
    """A JSON money amount as integer millionths, from its decimal text (``49.9`` is
    49 900 000 exactly, not the nearest binary float); finer digits round half to even."""
    return int((Decimal(str(amount)) * MICRO).to_integral_value(ROUND_HALF_EVEN))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


class MonthCalendar:
    """Calendar months of one time zone, DST- and offset-correct: a month runs from local
    midnight on its 1st to local midnight on the next 1st (the first instant after the jump
    when that midnight does not exist)."""

    __slots__ = ("_by_day", "tz")

    def __init__(self, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)
        self._by_day: dict[int, tuple[int, int, str]] = {}

    def month_start_us(self, year: int, month: int) -> int:
        return (datetime(year, month, 1, tzinfo=self.tz) - _EPOCH) // _ONE_US

    def bounds(self, at_us: int) -> tuple[int, int, str]:
        """``(start_us, end_us, "YYYY-MM")`` of the local month containing ``at_us``."""
        day = at_us // DAY_US
        hit = self._by_day.get(day)
        if hit is not None and hit[0] <= at_us < hit[1]:
            return hit
        local = (_EPOCH + at_us * _ONE_US).astimezone(self.tz)
        year, month = local.year, local.month
        start = self.month_start_us(year, month)
        end = self.month_start_us(*next_month(year, month))
        hit = (start, end, f"{year:04d}-{month:02d}")
        if len(self._by_day) > 10_000:
            self._by_day.clear()
        self._by_day[day] = hit
        return hit

    def month(self, at_us: int) -> str:
        return self.bounds(at_us)[2]


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def previous_month(label: str) -> str:
    """``"2026-01"`` -> ``"2025-12"``."""
    year, month = int(label[:4]), int(label[5:7])
    year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return f"{year:04d}-{month:02d}"


@functools.lru_cache(maxsize=16)
def month_calendar(timezone: str) -> MonthCalendar:
    return MonthCalendar(timezone)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def lifecycle_totals(events: list[CustomerEvent],
                     cal: MonthCalendar) -> dict[tuple[str, tuple[str, ...]], int]:
    """(metric, labels) -> amount for one entity's time-sorted events (the module docstring
    states the rules)."""
    totals: dict[tuple[str, tuple[str, ...]], int] = {}

    def add(metric: str, labels: tuple[str, ...], amount: int = 1) -> None:
        key = (metric, labels)
        totals[key] = totals.get(key, 0) + amount

    active: bool | None = None  # None: not known yet (no acquired or churned so far)
    first_month: str | None = None  # of the first customer event
    start_us = end_us = 0
    month = ""
    interactions_key = (INTERACTIONS, (month,))
    for ev in events:
        if not start_us <= ev.at_us < end_us:  # events are time-sorted: few look-ups
            start_us, end_us, month = cal.bounds(ev.at_us)
            interactions_key = (INTERACTIONS, (month,))
        kind = ev.kind
        if kind == "interaction":  # the most frequent: inlined
            totals[interactions_key] = totals.get(interactions_key, 0) + 1
        elif kind == "revenue":
            add(REVENUE_MICRO, (month, ev.currency or ""), ev.amount_micro)
        elif kind == "spend":
            add(SPEND_MICRO, (month, ev.currency or ""), ev.amount_micro)
            continue
        elif kind == "acquired":
            if not active:
                add(ACQUIRED, (month,))
                if ev.referred:
                    add(REFERRED, (month,))
                active = True
        elif kind == "churned":
            if active is None:
                add(EXISTING, (first_month or month,))
            if active is not False:
                add(CHURNED, (month,))
                active = False
        if first_month is None:
            first_month = month
    if active is None and first_month is not None:
        add(EXISTING, (first_month,))
        active = True
    if active:
        add(LAPSED, (cal.month(events[-1].at_us + RETENTION_US),))
    return totals


class CustomerKind(EventLogKind):
    """Entity kind of customers (one record per ``customer_id``) and of marketing spends
    (one record per event)."""

    name = "customer"
    families = ("customer", "marketing")
    #: 2, not 1: ``Engine.rebuild`` reads a record of version < 2 as a format-1 record of the
    #: first release (before records named their kind); 2 is the first customer format.
    version = 2
    late_after_us = RETENTION_US

    def key(self, event: Event) -> str:
        if event.type.startswith("marketing."):
            return f"marketing:{event.event_id}"
        return f"customer:{event.body['customer_id']}"

    def new_record(self, event: Event) -> dict[str, Any]:
        return {"ev": []}

    def add(self, record: dict[str, Any], event: Event) -> None:
        body = event.body
        kind = event.type.partition(".")[2]
        amount = body.get("amount")
        micro = to_micro(amount) if isinstance(amount, int | float) and not isinstance(
            amount, bool) else 0
        item = CustomerEvent(event.occurred_us, event.event_id, kind, micro,
                             _text(body.get("currency")),
                             kind == "acquired" and _text(body.get("referred_by")) is not None)
        insort(record["ev"], item)

    def expired(self, record: dict[str, Any], stream_us: int) -> bool:
        return stream_us - self.newest_us(record) > RETENTION_US

    def expires_us(self, record: dict[str, Any]) -> int | None:
        """The stream time after which :meth:`expired` holds."""
        return self.newest_us(record) + RETENTION_US

    def queues_of(self, event: Event) -> tuple[str, ...]:
        return ()

    def first_seen(self, record: dict[str, Any]) -> dict[str, int]:
        return {}

    def restore(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        events = [CustomerEvent(*e) for e in record["ev"]]
        events.sort()
        return {"ev": events}

    def contributions(self, record: dict[str, Any], config: Config) -> list[Contribution]:
        totals = lifecycle_totals(record["ev"], month_calendar(config.customers.timezone))
        return [Count(metric, labels, amount)
                for (metric, labels), amount in sorted(totals.items())]
