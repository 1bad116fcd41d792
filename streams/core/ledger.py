"""The aggregates: sums of every entity's current samples, ready for the KPI layer.

A :class:`Ledger` is what one engine (one Kafka partition, or the whole replay) knows. It only
adds and retracts samples; turning sums into KPIs for a given clock is ``streams.core.kpis``.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from streams.core.calendar import QueueCalendar
from streams.core.config import Config
from streams.core.samples import AGENT, COUNTER, OBSERVE, SPAN, WAITING, WINDOW, Sample

#: Handle-time histogram buckets (seconds): short chats to long escalations.
HANDLE_BOUNDS = (30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0,
                 3600.0)

Fields = dict[str, float]

MINUTE_MS = 60_000
#: Fields also kept per minute, for the trailing-30-minute workforce (Erlang) inputs.
MINUTE_FIELDS = frozenset({"offered", "handled", "handle_ms"})


class Ledger:
    """Counters, histograms, window buckets and live state of one engine."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.counters: dict[tuple[str, tuple[str, ...]], float] = {}
        #: metric -> labels -> [count per bucket (len(bounds)+1, last is +Inf)..., sum in ms]
        self.histograms: dict[tuple[str, tuple[str, ...]], list[float]] = {}
        self.bounds = {"wait": config.histogram_bounds_seconds(), "handle": HANDLE_BOUNDS}
        self._bounds_ms = {m: [round(b * 1000) for b in bs] for m, bs in self.bounds.items()}
        #: (queue, channel) -> interval start -> fields; same for business days.
        self.intervals: dict[tuple[str, str], dict[int, Fields]] = {}
        self.days: dict[tuple[str, str], dict[int, Fields]] = {}
        self.minutes: dict[tuple[str, str], dict[int, Fields]] = {}
        #: (queue, channel) -> (entity key, queued_ms) -> number of such segments
        self.waiting: dict[tuple[str, str], dict[tuple[str, int], int]] = {}
        #: waiting segments already counted as stale, and the stale counter per (queue, channel)
        self.stale_seen: set[tuple[str, str, str, int]] = set()
        self.stale_total: dict[tuple[str, str], int] = {}
        #: entity key -> (state, queues, since_ms)
        self.agents: dict[str, tuple[str, tuple[str, ...], int]] = {}
        #: queues in order of first appearance (for the max_queues label limit)
        self.queues_seen: dict[str, None] = {}
        self._calendars: dict[str, QueueCalendar] = {}

    # ------------------------------------------------------------------ calendars
    def calendar(self, queue: str) -> QueueCalendar:
        cal = self._calendars.get(queue)
        if cal is None:
            s = self.config.queue(queue)
            cal = QueueCalendar(s.timezone, s.interval_minutes, s.day_start_minutes)
            self._calendars[queue] = cal
        return cal

    # ------------------------------------------------------------------ applying
    def apply(self, key: str, samples: list[Sample], times: int) -> None:
        """Add ``samples`` ``times`` times (``-1`` retracts them)."""
        for s in samples:
            self.apply_one(key, s, times)

    def apply_one(self, key: str, s: Sample, times: int) -> None:
        kind = s[0]
        if kind == WINDOW:
            self._book(s[1], s[2], s[3], s[4], s[5] * times)
        elif kind == COUNTER:
            k = (s[1], s[2])
            self.counters[k] = self.counters.get(k, 0) + s[3] * times
            self._seen(s[2][0])
        elif kind == OBSERVE:
            self._observe(s[1], s[2], s[3], times)
        elif kind == WAITING:
            segs = self.waiting.setdefault((s[1], s[2]), {})
            k2 = (key, s[3])
            n = segs.get(k2, 0) + times
            if n > 0:
                segs[k2] = n
            else:
                segs.pop(k2, None)
                self.stale_seen.discard((s[1], s[2], key, s[3]))
        elif kind == SPAN:
            self._book_span(s[1], s[2], s[3], s[4], times)
        elif kind == AGENT:
            if times > 0:
                self.agents[key] = (s[1], s[2], s[3])
                for q in s[2]:
                    self._seen(q)
            elif self.agents.get(key) == (s[1], s[2], s[3]):
                del self.agents[key]

    def _seen(self, queue: str) -> None:
        if queue not in self.queues_seen:
            self.queues_seen[queue] = None

    def _observe(self, metric: str, labels: tuple[str, ...], value: int, times: int) -> None:
        bounds = self._bounds_ms[metric]
        row = self.histograms.get((metric, labels))
        if row is None:
            row = self.histograms[(metric, labels)] = [0.0] * (len(bounds) + 2)
        row[bisect_left(bounds, value)] += times  # le is inclusive: value <= bound
        row[-1] += value * times

    def _book(self, queue: str, channel: str, at_ms: int, field: str, amount: float) -> None:
        cal = self.calendar(queue)
        key = (queue, channel)
        buckets = self.intervals.get(key)
        if buckets is None:
            buckets = self.intervals[key] = {}
            self.days[key] = {}
            self._seen(queue)
        fields = buckets.setdefault(cal.interval_start(at_ms), {})
        fields[field] = fields.get(field, 0) + amount
        fields = self.days[key].setdefault(cal.day_start(at_ms), {})
        fields[field] = fields.get(field, 0) + amount
        if field in MINUTE_FIELDS:
            minute = self.minutes.setdefault(key, {}).setdefault(at_ms - at_ms % MINUTE_MS, {})
            minute[field] = minute.get(field, 0) + amount

    def _book_span(self, queue: str, state: str, start: int, end: int, times: int) -> None:
        """Split an agent's state span over the interval and day windows it crosses."""
        cal = self.calendar(queue)
        field = "t_" + state
        key = (queue, "")
        ib = self.intervals.setdefault(key, {})
        db = self.days.setdefault(key, {})
        at = start
        while at < end:
            istart = cal.interval_start(at)
            stop = min(end, istart + cal.interval_ms)
            f = ib.setdefault(istart, {})
            f[field] = f.get(field, 0) + (stop - at) * times
            at = stop
        at = start
        while at < end:
            dstart, dend = cal.day_bounds(at)
            stop = min(end, dend)
            f = db.setdefault(dstart, {})
            f[field] = f.get(field, 0) + (stop - at) * times
            at = stop

    # ------------------------------------------------------------------ upkeep
    def sweep_stale(self, now_ms: int) -> None:
        """Count waiting segments that have become stale, once each (a counter never drops:
        an outcome arriving later takes the segment off the wait, not off the count)."""
        for (queue, channel), segs in self.waiting.items():
            before = now_ms - self.config.queue(queue).stale_after_ms
            for (key, queued_ms), n in segs.items():
                if queued_ms < before:
                    mark = (queue, channel, key, queued_ms)
                    if mark not in self.stale_seen:
                        self.stale_seen.add(mark)
                        self.stale_total[(queue, channel)] = (
                            self.stale_total.get((queue, channel), 0) + n)

    def prune_windows(self, before_ms: int) -> None:
        """Forget window buckets that started before ``before_ms`` (no window can show them)."""
        for store in (self.intervals, self.days, self.minutes):
            for buckets in store.values():
                for start in [s for s in buckets if s < before_ms]:
                    del buckets[start]

    def export_totals(self) -> dict[str, Any]:
        """Counters and histograms as plain data (to persist what pruned entities added)."""
        return {
            "c": [[m, list(lbl), v] for (m, lbl), v in self.counters.items()],
            "h": [[m, list(lbl), row] for (m, lbl), row in self.histograms.items()],
        }
