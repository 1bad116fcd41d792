"""Local-time windows of a queue (docs/contract.md §2): intervals and business days, DST-correct.

All instants are integer epoch microseconds (UTC). A queue's interval is aligned to its local
wall clock (09:00, 09:15, ... for 15 minutes); flooring the *local* time is the same as
subtracting ``local_us mod interval_us`` from the UTC instant, which stays right across DST
changes because zone offsets move at interval boundaries. A business day runs from one local
``day_start`` to the next, so it lasts 23 or 25 hours on DST days.

Windows are half-open, ``[start, end)``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MINUTE_US = 60_000_000
_OFFSET_SLOT_US = 15 * MINUTE_US  # zone offsets change on quarter hours in every real zone


class QueueCalendar:
    """Interval and day boundaries of one (timezone, interval, day start) combination."""

    __slots__ = ("_day_cache", "_day_start", "_offsets", "interval_us", "tz")

    def __init__(self, timezone: str, interval_minutes: int, day_start_minutes: int) -> None:
        self.tz = ZoneInfo(timezone)
        self.interval_us = interval_minutes * MINUTE_US
        self._day_start = time(day_start_minutes // 60, day_start_minutes % 60)
        self._offsets: dict[int, int] = {}
        self._day_cache: dict[int, tuple[int, int]] = {}

    def offset_us(self, instant_us: int) -> int:
        """UTC offset of the zone at ``instant_us``, cached per quarter hour."""
        slot = instant_us // _OFFSET_SLOT_US
        offset = self._offsets.get(slot)
        if offset is None:
            moment = datetime.fromtimestamp(slot * (_OFFSET_SLOT_US // 1_000_000), UTC)
            delta = moment.astimezone(self.tz).utcoffset()
            offset = (delta // timedelta(microseconds=1)) if delta is not None else 0
            if len(self._offsets) > 50_000:
                self._offsets.clear()
            self._offsets[slot] = offset
        return offset

    def interval_start(self, instant_us: int) -> int:
        """Start of the local interval that contains ``instant_us``."""
        local = instant_us + self.offset_us(instant_us)
        return instant_us - local % self.interval_us

    def day_bounds(self, instant_us: int) -> tuple[int, int]:
        """``[start, end)`` of the local business day that contains ``instant_us``."""
        # Cache by the local date guess; verify the instant is inside the cached bounds.
        key = (instant_us + self.offset_us(instant_us)) // 86_400_000_000
        bounds = self._day_cache.get(key)
        if bounds is not None and bounds[0] <= instant_us < bounds[1]:
            return bounds
        bounds = self._compute_day_bounds(instant_us)
        if len(self._day_cache) > 10_000:
            self._day_cache.clear()
        self._day_cache[key] = bounds
        return bounds

    def day_start(self, instant_us: int) -> int:
        return self.day_bounds(instant_us)[0]

    def starts(self, instant_us: int) -> tuple[int, int]:
        """``(interval start, day start)`` of ``instant_us``: :meth:`interval_start` and
        :meth:`day_start` with one offset lookup (the ledger books every window this way)."""
        local = instant_us + self.offset_us(instant_us)
        bounds = self._day_cache.get(local // 86_400_000_000)
        if bounds is None or not bounds[0] <= instant_us < bounds[1]:
            bounds = self.day_bounds(instant_us)
        return instant_us - local % self.interval_us, bounds[0]

    def _local_day_start(self, local_date: date) -> int:
        """The first instant of ``local_date`` whose wall time is at or after ``day_start``.

        Normally that is ``day_start`` itself (its first occurrence on a fall-back day); when
        ``day_start`` falls in a spring-forward gap it is the moment the clock jumps.
        """
        wall = datetime.combine(local_date, self._day_start)
        moment = wall.replace(tzinfo=self.tz)
        instant = moment.astimezone(UTC)
        if instant.astimezone(self.tz).replace(tzinfo=None) == wall:
            return _epoch_us(instant)
        # Nonexistent wall time: walk forward from before the gap to the jump.
        probe = moment.replace(fold=1).astimezone(UTC)
        step = timedelta(minutes=1)
        while probe.astimezone(self.tz).replace(tzinfo=None) < wall:
            probe += step
        return _epoch_us(probe)

    def _compute_day_bounds(self, instant_us: int) -> tuple[int, int]:
        local = (_EPOCH + timedelta(microseconds=instant_us)).astimezone(self.tz)
        date = local.date()
        start = self._local_day_start(date)
        if start > instant_us:
            date -= timedelta(days=1)
            start = self._local_day_start(date)
        end = self._local_day_start(date + timedelta(days=1))
        if end <= instant_us:  # only possible right at a boundary with odd zones
            start, end = end, self._local_day_start(date + timedelta(days=2))
        return start, end

    def windows(self, now_us: int) -> tuple[int, int, int]:
        """``(interval start, previous interval start, day start)`` for the engine clock."""
        current = self.interval_start(now_us)
        previous = self.interval_start(current - 1)
        return current, previous, self.day_start(now_us)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)
