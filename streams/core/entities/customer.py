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

**Compaction** (record formats 3 and 4; docs/customers.md, "What a customer's state holds").
Revenue and interactions never change the life-cycle state: each adds to its own month's
counter, and beyond that only the times of the first and of the newest event matter. So once
a record holds more than :data:`FOLD_AFTER` of them, they are *folded*: summed per month
(``fs``: month -> interactions, "month currency" -> revenue in micro-units), with the oldest
and newest folded times (``ft``: ``[oldest, newest, gone]``), in the time zone ``ftz``
(``[customers] timezone``, noted by :meth:`CustomerKind.contributions`). ``acquired`` and
``churned`` stay events. The contributions are the same with or without folding, in any
arrival order: a revenue or interaction that arrives later, whatever its time, is folded into
its month's sum in turn.

The ids of folded events are kept for de-duplication as 64-bit fingerprints (BLAKE2b of the
id, 16 hex digits), each after the bucket of :data:`ID_BUCKET_US` of event time it falls in
(4 hex digits), all in one string (``fh``: :data:`ENTRY_CHARS` characters an event); the ids
themselves (``fid``) only until :meth:`CustomerKind.trim` releases them, so the engine holds
the ids of a customer's unfolded events alone. A revenue or interaction whose fingerprint is
held is a duplicate and adds nothing (:meth:`CustomerKind.ignores`; a new event has a chance
of about one in 2^64 per fingerprint of its customer to be taken for one). Fingerprints are
released by bucket once :data:`ID_WINDOW_US` behind stream time (``gone``, the third time of
``ft``: the end of the newest bucket released, 0 before the first). A revenue or interaction
older than ``gone`` then adds nothing to its month either (``fid`` keeps the id of such an
ignored event until the next trim too): it can no longer be told from a duplicate of a folded
event. That changes no KPI: its month is before the previous month of any engine clock (at
most 5 minutes behind stream time), which no customer gauge shows, and S does not depend on
revenue or interaction counters. Its time still counts as the customer's oldest, as when it
is applied, so the month a customer first seen without ``acquired`` counts as existing in,
and lateness, are those of the full history.

Format 4 holds in one string, one dict and one list what format 3 held in a dict of strings
by bucket (``fh``), two dicts (``fi``, ``fr``) and three times (``flo``, ``fhi``, ``fgone``),
with ``fid`` (and ``fx``, the ids of ignored events) kept even when empty: a folded record of
format 3 had 12 or 13 keys (a 464-byte dict), 9 strings of fingerprints and a dict of them,
where format 4 has 8 keys (9 until the next trim: a 272-byte dict) and one string (~1 kB less
a customer). Records of format 3 are read as they are and written as format 4.
"""

from __future__ import annotations

import functools
import sys
from bisect import insort
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from hashlib import blake2b
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from streams.core.config import Config
from streams.core.contributions import Contribution, Count
from streams.core.entities.event_log import EventLogKind
from streams.core.entities.shared import shared
from streams.core.events import Event
from streams.core.timestamps import DAY_US

RETENTION_US = 13 * 31 * DAY_US
#: A customer with no event for this long is idle: its record is kept frozen (most of the
#: customers of a 13-month retention are idle on any day: an invoice a month, a few contacts).
IDLE_AFTER_US = DAY_US
#: Revenue and interaction events kept as events before a record folds them (module docstring).
FOLD_AFTER = 4
#: The ids of folded events are held this long behind stream time: longer than a month and
#: the month before it together (62 days, 62 days and an hour across a DST change), so an
#: event older than that is in a month before any window a customer KPI shows.
ID_WINDOW_US = 64 * DAY_US
#: Folded ids are held in buckets of this much event time, released a bucket at a time.
ID_BUCKET_US = 8 * DAY_US
#: Event kinds that are folded.
FOLDABLE = frozenset({"interaction", "revenue"})
#: One folded event in ``fh``: its bucket (4 hex digits) and its fingerprint (16 hex digits).
BUCKET_CHARS = 4
ENTRY_CHARS = BUCKET_CHARS + 16
#: A month label's length (``YYYY-MM``): a folded sum's label of this length counts
#: interactions, a longer one (``YYYY-MM CUR``) revenue.
MONTH_CHARS = 7

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


def _held(amount: Any) -> Any:
    """``shared(amount)``, kept a Python object: compiled (``streams.compiled``), an ``int``
    result would be unboxed and boxed again — an equal new object, not the one held."""
    return shared(amount)

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



def _intern(text: str | None) -> str | None:
    return None if text is None else sys.intern(text)


def lifecycle_totals(events: list[CustomerEvent], cal: MonthCalendar,
                     folded: dict[str, Any] | None = None
                     ) -> dict[tuple[str, tuple[str, ...]], int]:
    """(metric, labels) -> amount for one entity's time-sorted events and, if the record has
    folded some (``folded``: the record itself), their sums (the module docstring states the
    rules)."""
    totals: dict[tuple[str, tuple[str, ...]], int] = {}

    def add(metric: str, labels: tuple[str, ...], amount: int = 1) -> None:
        key = (metric, labels)
        totals[key] = totals.get(key, 0) + amount

    # The first (non-spend) event's month: where a customer first seen without acquired
    # counts as existing; the newest event's time: where a customer still active lapses.
    first_us = newest_us = None
    if folded is not None and "ft" in folded:
        first_us, newest_us, _ = folded["ft"]
        for label, amount in folded["fs"].items():
            if len(label) == MONTH_CHARS:  # "YYYY-MM": interactions
                totals[(INTERACTIONS, (label,))] = amount
            else:  # "YYYY-MM CUR": revenue
                totals[(REVENUE_MICRO, (label[:MONTH_CHARS], label[MONTH_CHARS + 1:]))] = amount
    for ev in events:
        if ev.kind != "spend":
            if first_us is None or ev.at_us < first_us:
                first_us = ev.at_us
            break
    if events and (newest_us is None or events[-1].at_us > newest_us):
        newest_us = events[-1].at_us
    first_month = None if first_us is None else cal.month(first_us)

    active: bool | None = None  # None: not known yet (no acquired or churned so far)
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
    if active is None and first_month is not None:
        add(EXISTING, (first_month,))
        active = True
    if active and newest_us is not None:
        add(LAPSED, (cal.month(newest_us + RETENTION_US),))
    return totals


def fingerprint(event_id: str) -> str:
    """An event id's 64-bit fingerprint (BLAKE2b), 16 hex digits: what a record keeps of a
    folded event's id for de-duplication (module docstring)."""
    return blake2b(event_id.encode(), digest_size=8).hexdigest()


def bucket_of(at_us: int) -> str:
    """The bucket of an event time as ``fh`` writes it: 4 hex digits of ``at_us //
    ID_BUCKET_US`` (times before 1970 share bucket 0; bucket 65,535 ends in the year 3405)."""
    return f"{max(at_us, 0) // ID_BUCKET_US:04x}"


def _has_entry(fingerprints: str, entry: str) -> bool:
    """Whether ``entry`` (bucket and fingerprint) is one of the entries of ``fingerprints``."""
    at = fingerprints.find(entry)
    while at != -1:
        if at % ENTRY_CHARS == 0:
            return True
        at = fingerprints.find(entry, at + 1)
    return False


def _buckets(fingerprints: str) -> list[int]:
    """The bucket of each entry of ``fingerprints``, in order."""
    return [int(fingerprints[i:i + BUCKET_CHARS], 16)
            for i in range(0, len(fingerprints), ENTRY_CHARS)]


def _from_format_3(record: dict[str, Any]) -> dict[str, Any]:
    """The folded part of a persisted record of format 3 as format 4 holds it (module
    docstring): ``ft``, ``fs``, ``fh`` and ``fid`` if it has ids."""
    sums = {sys.intern(month): n for month, n in record["fi"].items()}
    sums.update((sys.intern(label), shared(micro)) for label, micro in record["fr"].items())
    out: dict[str, Any] = {
        "ft": [record["flo"], record["fhi"], record.get("fgone", 0)], "fs": sums,
        "fh": "".join(f"{max(int(bucket), 0):04x}{fps[i:i + 16]}" for bucket, fps
                      in record["fh"].items() for i in range(0, len(fps), 16))}
    ids = [*record["fid"], *record.get("fx", ())]
    if ids:
        out["fid"] = ids
    return out


def fold(record: dict[str, Any]) -> None:
    """Fold the record's revenue and interaction events into its per-month sums, in the time
    zone ``record["ftz"]`` (in place; the contributions stay the same: module docstring)."""
    events: list[CustomerEvent] = record["ev"]
    kept = [ev for ev in events if ev.kind not in FOLDABLE]
    folded = [ev for ev in events if ev.kind in FOLDABLE]
    if not folded:
        return
    cal = month_calendar(record["ftz"])
    if "ft" not in record:
        record.update(ft=[folded[0].at_us, folded[-1].at_us, 0], fs={}, fh="")
    else:
        times = record["ft"]
        times[0] = min(times[0], folded[0].at_us)
        times[1] = max(times[1], folded[-1].at_us)
    sums: dict[str, int] = record["fs"]
    ids: list[str] = record.setdefault("fid", [])
    entries = [record["fh"]]
    start_us = end_us = 0
    month = ""
    for ev in folded:
        if not start_us <= ev.at_us < end_us:
            start_us, end_us, month = cal.bounds(ev.at_us)
            month = sys.intern(month)
        if ev.kind == "interaction":
            sums[month] = sums.get(month, 0) + 1
        else:
            key = sys.intern(f"{month} {ev.currency or ''}")
            sums[key] = _held(sums.get(key, 0) + ev.amount_micro)
        ids.append(ev.event_id)
        entries.append(bucket_of(ev.at_us) + fingerprint(ev.event_id))
    record["fh"] = "".join(entries)
    record["ev"] = kept


class CustomerKind(EventLogKind):
    """Entity kind of customers (one record per ``customer_id``) and of marketing spends
    (one record per event)."""

    name = "customer"
    families: tuple[str, ...] = ("customer", "marketing")
    #: 2 was the first customer format (``Engine.rebuild`` reads a record of version < 2 as a
    #: format-1 record of the first release, before records named their kind); 3 adds the
    #: folded sums (module docstring); 4 holds them in fewer objects (module docstring).
    #: Records of formats 2 and 3 are read as they are (format 3's folded part turned into
    #: format 4's).
    version = 4
    late_after_us = RETENTION_US

    def key(self, event: Event) -> str:
        if event.type.startswith("marketing."):
            return f"marketing:{event.event_id}"
        return sys.intern(f"customer:{event.body['customer_id']}")  # one object a key

    def new_record(self, event: Event) -> dict[str, Any]:
        return {"ev": []}

    def ignores(self, record: dict[str, Any], event: Event) -> str | None:
        """Whether ``event`` adds nothing to its month, and why: ``"duplicate"``, a revenue
        or interaction whose id's fingerprint the record holds (a copy of a folded event);
        ``"late"``, one older than the fingerprints held (module docstring); else None."""
        if "fh" not in record or event.type.partition(".")[2] not in FOLDABLE:
            return None
        at_us = event.occurred_us
        if at_us < record["ft"][2]:
            return "late"
        if _has_entry(record["fh"], bucket_of(at_us) + fingerprint(event.event_id)):
            return "duplicate"
        return None

    def add(self, record: dict[str, Any], event: Event) -> str | None:
        """Put ``event`` into ``record``. Returns None, or what :meth:`ignores` says when it
        ignores it (an engine may count the event so; its time still counts as the oldest
        if it is, and its id is kept until the next trim)."""
        body = event.body
        kind = sys.intern(event.type.partition(".")[2])
        at_us = event.occurred_us
        ignored = self.ignores(record, event)
        if ignored is not None:
            times = record["ft"]
            times[0] = min(times[0], at_us)
            record.setdefault("fid", []).append(event.event_id)
            return ignored
        amount = body.get("amount")
        micro = to_micro(amount) if isinstance(amount, int | float) and not isinstance(
            amount, bool) else 0
        item = CustomerEvent(at_us, event.event_id, kind, _held(micro),
                             _intern(_text(body.get("currency"))),
                             kind == "acquired" and _text(body.get("referred_by")) is not None)
        events = record["ev"]
        insort(events, item)
        if (kind in FOLDABLE and "ftz" in record and len(events) > FOLD_AFTER
                and sum(ev.kind in FOLDABLE for ev in events) > FOLD_AFTER):
            fold(record)
        return None

    def newest_us(self, record: dict[str, Any]) -> int:
        events = record["ev"]
        newest = events[-1].at_us if events else 0
        return max(newest, record["ft"][1]) if "ft" in record else newest

    def oldest_us(self, record: dict[str, Any]) -> int:
        events = record["ev"]
        if "ft" not in record:
            return events[0].at_us
        oldest: int = record["ft"][0]
        return min(events[0].at_us, oldest) if events else oldest

    def is_late(self, record: dict[str, Any] | None, event_us: int, stream_us: int) -> bool:
        """As :meth:`EventLogKind.is_late`, with the folded events counted as kept."""
        if stream_us - event_us <= self.late_after_us:
            return False
        return record is None or self.oldest_us(record) - event_us > self.late_after_us

    def expired(self, record: dict[str, Any], stream_us: int) -> bool:
        return stream_us - self.newest_us(record) > RETENTION_US

    def expires_us(self, record: dict[str, Any]) -> int | None:
        """The stream time after which :meth:`expired` holds."""
        return self.newest_us(record) + RETENTION_US

    def idle_due_us(self, record: dict[str, Any]) -> int | None:
        """The stream time after which the customer is idle (no event for
        :data:`IDLE_AFTER_US`): the engine then keeps its record frozen
        (streams.core.frozen) until its next event, trim or retirement. Changes no value."""
        return self.newest_us(record) + IDLE_AFTER_US

    def queues_of(self, event: Event) -> tuple[str, ...]:
        return ()

    def first_seen(self, record: dict[str, Any]) -> dict[str, int]:
        return {}

    def event_ids(self, record: dict[str, Any]) -> Iterable[str]:
        ids: Iterable[str] = (ev.event_id for ev in record["ev"])
        if "fid" in record:
            return [*ids, *record["fid"]]
        return ids

    def trim(self, record: dict[str, Any], stream_us: int) -> list[str]:
        """Release the ids of folded and of ignored events (their fingerprints stand for
        them), and the fingerprints more than :data:`ID_WINDOW_US` behind stream time (whole
        buckets of :data:`ID_BUCKET_US`): module docstring. Changes no contribution. Returns
        the released ids."""
        if "ft" not in record:
            return []
        released: list[str] = record.pop("fid", [])
        horizon = (stream_us - ID_WINDOW_US) // ID_BUCKET_US  # buckets before it are due
        fingerprints: str = record["fh"]
        buckets = _buckets(fingerprints)
        due = [b for b in buckets if b < horizon]
        if due:
            record["fh"] = "".join(
                fingerprints[i * ENTRY_CHARS:(i + 1) * ENTRY_CHARS]
                for i, b in enumerate(buckets) if b >= horizon)
            times = record["ft"]
            times[2] = max(times[2], (max(due) + 1) * ID_BUCKET_US)
        return released

    def trim_due_us(self, record: dict[str, Any]) -> int | None:
        """The stream time after which :meth:`trim` has something to release (None:
        nothing): at once for ids, 64 days after a bucket of fingerprints."""
        if "ft" not in record:
            return None
        if record.get("fid"):
            return record["ft"][0]  # type: ignore[no-any-return]
        fingerprints: str = record["fh"]
        if not fingerprints:
            return None
        return (min(_buckets(fingerprints)) + 1) * ID_BUCKET_US + ID_WINDOW_US

    def trimmed(self, record: dict[str, Any], contributions: list[Contribution]
                ) -> tuple[list[Contribution], list[Contribution]]:
        """What :meth:`trim` left of ``contributions`` and what it dropped: nothing."""
        return contributions, []

    def restore(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        events = [CustomerEvent(at, eid, sys.intern(kind), shared(micro), _intern(currency),
                                referred)
                  for at, eid, kind, micro, currency, referred in record["ev"]]
        events.sort()
        out: dict[str, Any] = {"ev": events}
        if "ftz" in record:
            out["ftz"] = record["ftz"]
        if version >= 4 and "ft" in record:
            out.update(ft=list(record["ft"]),
                       fs={sys.intern(k): shared(v) for k, v in record["fs"].items()},
                       fh=record["fh"])
            if record.get("fid"):
                out["fid"] = list(record["fid"])
        elif version == 3 and "flo" in record:
            out.update(_from_format_3(record))
        return out

    def contributions(self, record: dict[str, Any], config: Config) -> list[Contribution]:
        timezone = config.customers.timezone
        if record.get("ftz") != timezone:
            record["ftz"] = timezone  # the months :func:`fold` sums by from now on
        totals = lifecycle_totals(record["ev"], month_calendar(timezone), record)
        return [shared(Count(metric, labels, amount))
                for (metric, labels), amount in sorted(totals.items())]
