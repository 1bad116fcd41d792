"""Pipeline-health counts (docs/contract.md §4 "Pipeline health"), kept by the shells per process.

These describe the plumbing, not the floor: they are not part of the replay/worker equality
and are not persisted (a restart resets them, which Prometheus handles as a counter reset).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from streams.core.metrics import Family, new_family

#: Lag histogram buckets (seconds): processing time − event time.
LAG_BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass
class PipelineStats:
    processed: dict[tuple[str, str], int] = field(default_factory=dict)
    invalid: dict[tuple[str, str], int] = field(default_factory=dict)
    duplicate: dict[str, int] = field(default_factory=dict)
    late: dict[str, int] = field(default_factory=dict)
    last_event_us: dict[str, int] = field(default_factory=dict)
    lag: dict[str, list[float]] = field(default_factory=dict)

    def prime(self, types_by_topic: dict[str, list[str]], reasons: list[str]) -> None:
        """Start every known series at 0, so ``rate()``/``increase()`` see the first event
        and a clean pipeline shows "0 invalid" rather than "no data"."""
        for topic, types in types_by_topic.items():
            for event_type in types:
                self.processed.setdefault((topic, event_type), 0)
            for reason in reasons:
                self.invalid.setdefault((topic, reason), 0)
            self.duplicate.setdefault(topic, 0)
            self.late.setdefault(topic, 0)

    def count_processed(self, topic: str, event_type: str, occurred_us: int) -> None:
        k = (topic, event_type)
        self.processed[k] = self.processed.get(k, 0) + 1
        if occurred_us > self.last_event_us.get(topic, -1):
            self.last_event_us[topic] = occurred_us

    def count_applied(self, topic: str, event_type: str, occurred_us: int,
                      now_us: int | None) -> None:
        """:meth:`count_processed`, then :meth:`observe_lag` of ``now_us`` − the event time
        when ``now_us`` is given (a live worker): the two counts of an event the engine
        took, in one call."""
        k = (topic, event_type)
        processed = self.processed
        processed[k] = processed.get(k, 0) + 1
        last = self.last_event_us
        if occurred_us > last.get(topic, -1):
            last[topic] = occurred_us
        if now_us is not None:
            lag_seconds = max(0.0, (now_us - occurred_us) / 1e6)
            row = self.lag.get(topic)
            if row is None:
                row = self.lag[topic] = [0.0] * (len(LAG_BOUNDS) + 2)
            row[bisect_left(LAG_BOUNDS, lag_seconds)] += 1  # le is inclusive: lag <= bound
            row[-1] += lag_seconds

    def count_invalid(self, topic: str, reason: str) -> None:
        k = (topic, reason)
        self.invalid[k] = self.invalid.get(k, 0) + 1

    def count_duplicate(self, topic: str) -> None:
        self.duplicate[topic] = self.duplicate.get(topic, 0) + 1

    def count_late(self, topic: str) -> None:
        self.late[topic] = self.late.get(topic, 0) + 1

    def observe_lag(self, topic: str, lag_seconds: float) -> None:
        row = self.lag.get(topic)
        if row is None:
            row = self.lag[topic] = [0.0] * (len(LAG_BOUNDS) + 2)
        row[bisect_left(LAG_BOUNDS, lag_seconds)] += 1  # le is inclusive: lag <= bound
        row[-1] += lag_seconds

    def families(self, *, with_lag: bool = True) -> list[Family]:
        events = new_family("cc_events_total")
        events.samples.update(self.processed.items())
        invalid = new_family("cc_events_invalid_total")
        invalid.samples.update(self.invalid.items())
        dup = new_family("cc_events_duplicate_total")
        dup.samples.update({(t,): n for t, n in self.duplicate.items()})
        late = new_family("cc_events_late_total")
        late.samples.update({(t,): n for t, n in self.late.items()})
        last = new_family("cc_last_event_timestamp_seconds")
        last.samples.update({(t,): us / 1e6 for t, us in self.last_event_us.items()})
        out = [events, invalid, dup, late, last]
        if with_lag:
            lag = new_family("cc_event_lag_seconds")
            lag.samples.update(
                {(t,): (LAG_BOUNDS, row[:-1], row[-1]) for t, row in self.lag.items()}
            )
            out.append(lag)
        return out
