"""Business time of a queue (docs/contract.md §3.6): weekly opening spans in a zone, and holidays.

All instants are integer epoch microseconds (UTC). A span is a pair of local wall-clock
minutes ``(start, end)`` of one weekday, ``0 <= start < end <= 1440`` (1440 is "24:00", the
next day's 00:00). Business time is *real elapsed time* inside the spans, so DST changes count
as the clock on the wall says:

- a wall time that does not exist (spring-forward gap) is the instant the clock jumps: on the
  Lisbon spring-forward night (01:00 -> 02:00) a span ``01:00-04:00`` starts at the jump and
  lasts 2 h;
- a wall time that happens twice (fall-back overlap) is its first occurrence (``fold=0``), for
  a span's start and for its end alike: on the Lisbon fall-back night (02:00 -> 01:00) a span
  ``00:00-04:00`` lasts 5 h, and a span ``00:00-01:30`` ends at the first 01:30 (1 h 30 min).

A holiday is a local date on which the queue is closed all day. Opening spans are computed
once per local date and cached, so a ticket open for weeks costs one loop step per day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 1440
#: :meth:`BusinessHours.deadline_us` gives up after this many local days without enough
#: opening time (only possible with years of holidays).
MAX_SEARCH_DAYS = 2 * 366
_CACHE_DAYS = 4096
_SECOND_US = 1_000_000

Span = tuple[int, int]


class BusinessHours:
    """Weekly opening spans in a zone, and holiday dates (closed all day)."""

    __slots__ = ("_days", "holidays", "timezone", "tz", "weekly")

    def __init__(
        self,
        timezone: str,
        weekly: Mapping[int, Sequence[tuple[int, int]]],
        holidays: Iterable[date],
    ) -> None:
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self.weekly: tuple[tuple[Span, ...], ...] = tuple(
            _checked_spans(day, weekly.get(day, ())) for day in range(7)
        )
        unknown = set(weekly) - set(range(7))
        if unknown:
            raise ValueError(f"weekdays are 0 (Monday) to 6 (Sunday), got {sorted(unknown)}")
        if not any(self.weekly):
            raise ValueError("business hours need at least one opening span in the week")
        self.holidays = frozenset(holidays)
        # local date ordinal -> (instant of the next local midnight, opening spans as instants)
        self._days: dict[int, tuple[int, tuple[Span, ...]]] = {}

    # ------------------------------------------------------------------ public

    def business_us(self, start_us: int, end_us: int) -> int:
        """Business time inside ``[start_us, end_us)``; 0 if ``end_us <= start_us``."""
        if end_us <= start_us:
            return 0
        total = 0
        day = self._local_ordinal(start_us) - 1
        while True:
            next_midnight, spans = self._day(day)
            for open_us, close_us in spans:
                lo = max(open_us, start_us)
                hi = min(close_us, end_us)
                if hi > lo:
                    total += hi - lo
            if next_midnight >= end_us:
                return total
            day += 1

    def deadline_us(self, start_us: int, business_us: int) -> int:
        """The earliest instant ``t >= start_us`` with ``business_us(start_us, t) == business_us``.

        ``business_us == 0`` gives ``start_us`` itself, open or closed. A positive amount ends
        inside an opening span (at its close when it uses the span up exactly). Raises
        ``ValueError`` for a negative amount, or when :data:`MAX_SEARCH_DAYS` local days from
        ``start_us`` do not hold enough opening time (holidays all the way).
        """
        if business_us < 0:
            raise ValueError(f"business time must be >= 0, got {business_us}")
        if business_us == 0:
            return start_us
        remaining = business_us
        first = self._local_ordinal(start_us) - 1
        for day in range(first, first + MAX_SEARCH_DAYS + 2):
            for open_us, close_us in self._day(day)[1]:
                if close_us <= start_us:
                    continue
                lo = max(open_us, start_us)
                if remaining <= close_us - lo:
                    return lo + remaining
                remaining -= close_us - lo
        raise ValueError(
            f"no {business_us} us of business time within {MAX_SEARCH_DAYS} days after "
            f"{start_us} in {self.timezone}: too many holidays"
        )

    def opening_spans_us(self, local_date: date) -> tuple[Span, ...]:
        """The opening spans of ``local_date`` as ``[open, close)`` instants (empty: closed)."""
        return self._day(local_date.toordinal())[1]

    # ------------------------------------------------------------------ value semantics

    def _key(self) -> tuple[str, tuple[tuple[Span, ...], ...], frozenset[date]]:
        return (self.timezone, self.weekly, self.holidays)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessHours):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        days = {d: list(s) for d, s in enumerate(self.weekly) if s}
        return (f"BusinessHours({self.timezone!r}, {days!r}, "
                f"holidays={sorted(self.holidays)!r})")

    # ------------------------------------------------------------------ internals

    def _local_ordinal(self, instant_us: int) -> int:
        moment = _EPOCH + timedelta(microseconds=instant_us)
        return moment.astimezone(self.tz).date().toordinal()

    def _day(self, ordinal: int) -> tuple[int, tuple[Span, ...]]:
        cached = self._days.get(ordinal)
        if cached is not None:
            return cached
        local_date = date.fromordinal(ordinal)
        next_midnight = self._wall_us(local_date + timedelta(days=1), 0)
        spans: tuple[Span, ...] = ()
        if local_date not in self.holidays:
            instants = (
                (self._wall_us(local_date, start), self._wall_us(local_date, end))
                for start, end in self.weekly[local_date.weekday()]
            )
            spans = tuple((a, b) for a, b in instants if b > a)  # a span inside a DST gap is empty
        if len(self._days) >= _CACHE_DAYS:
            self._days.clear()
        entry = (next_midnight, spans)
        self._days[ordinal] = entry
        return entry

    def _wall_us(self, local_date: date, minute: int) -> int:
        """The instant of the local wall time ``minute`` of ``local_date`` (rules above)."""
        if minute == MINUTES_PER_DAY:
            local_date += timedelta(days=1)
            minute = 0
        wall = datetime(local_date.year, local_date.month, local_date.day,
                        minute // 60, minute % 60, tzinfo=self.tz)
        first = wall.utcoffset()
        second = wall.replace(fold=1).utcoffset()
        assert first is not None and second is not None
        naive_us = _epoch_us(wall.replace(tzinfo=UTC))
        if first >= second:  # one occurrence, or two and fold=0 is the first
            return naive_us - first // _ONE_US
        # A gap: the jump lies in (naive - second, naive - first]; offsets change on whole
        # seconds, so bisect in seconds (a gap of a few hours takes ~14 steps).
        lo = (naive_us - second // _ONE_US) // _SECOND_US  # before the jump
        hi = (naive_us - first // _ONE_US) // _SECOND_US  # at or after the jump
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self.tz).utcoffset() == second:
                hi = mid
            else:
                lo = mid
        return hi * _SECOND_US


def _checked_spans(day: int, spans: Sequence[tuple[int, int]]) -> tuple[Span, ...]:
    out = tuple((int(start), int(end)) for start, end in spans)
    previous_end = 0
    for start, end in out:
        if not 0 <= start < end <= MINUTES_PER_DAY:
            raise ValueError(f"weekday {day}: span ({start}, {end}) must have 0 <= start < end "
                             f"<= {MINUTES_PER_DAY} minutes")
        if start < previous_end:
            raise ValueError(f"weekday {day}: spans must be sorted and must not overlap, "
                             f"got {list(out)}")
        previous_end = end
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def _epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _ONE_US
