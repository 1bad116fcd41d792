"""The progress line of a long simulation: simulated time, events so far, events per second.

Printed every few seconds of wall time, never per event (the clock is only read every
:data:`CHECK_EVERY` events, so ticking costs next to nothing at 200 k events/s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from streams.simulate.stamps import rfc3339_ms

#: Events between two looks at the wall clock.
CHECK_EVERY = 256


class Progress:
    """Counts events and reports, every ``every_s`` wall seconds, how far the run has got."""

    def __init__(self, out: TextIO, *, every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, label: str = "simulate") -> None:
        self.count = 0
        self.last_ms: int | None = None
        self._out = out
        self._every_s = every_s
        self._clock = clock
        self._label = label
        self._started = clock()
        self._next_report = self._started + every_s

    def tick(self, occurred_ms: int) -> None:
        """One more event, at simulated time ``occurred_ms``."""
        self.count += 1
        self.last_ms = occurred_ms
        if self.count % CHECK_EVERY == 0 and self._clock() >= self._next_report:
            self.report()

    def report(self) -> None:
        """Print the progress line now."""
        now = self._clock()
        self._next_report = now + self._every_s
        where = rfc3339_ms(self.last_ms) if self.last_ms is not None else "-"
        self._out.write(f"{self._label}: simulated {where} · {self.count:,} events · "
                        f"{self.rate(now):,.0f} events/s\n")
        self._out.flush()

    def rate(self, now: float | None = None) -> float:
        """Average events per wall second since the start."""
        elapsed = (self._clock() if now is None else now) - self._started
        return self.count / elapsed if elapsed > 0 else 0.0

    def elapsed_s(self) -> float:
        """Wall seconds since the start."""
        return self._clock() - self._started
