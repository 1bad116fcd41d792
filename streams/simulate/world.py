"""The discrete-event kernel the simulated processes share: one clock, one RNG, one output.

Simulated time is float seconds since the run's start. Actions are scheduled on a heap and run
in time order (ties in scheduling order), and every event an action emits is stamped with the
current time. That is the whole ordering argument: events leave in nondecreasing
``occurred_at`` without any sorting or buffering.

Determinism: all randomness of the model comes from one ``random.Random(seed)``, consumed in
the (deterministic) order actions run; ids come from :class:`~streams.simulate.stamps.Stamper`.
A process that runs at a fixed time of day (the daily marketing-spend sync) draws from a
generator of its own (:meth:`World.own_rng`): drawn from the model's, it would make every
later contact depend on the hour a run starts, even with a flat profile.
Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

from streams.simulate.model import SECONDS_PER_DAY, Scenario
from streams.simulate.stamps import Stamper

TimedEvent = tuple[int, dict[str, Any]]
"""``(occurred_ms, event)``: the event time as epoch milliseconds beside the event itself."""


class World:
    """Clock, scheduler, random source and event outbox of one simulation run."""

    def __init__(self, scenario: Scenario, seed: int, start_ms: int) -> None:
        self.rng = random.Random(seed)
        self._seed = seed
        self.stamper = Stamper(seed, start_ms, scenario.source)
        self.profile = scenario.profile
        self.start_ms = start_ms
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._outbox: list[TimedEvent] = []

    # -- scheduling ---------------------------------------------------------------------------

    def at(self, time_s: float, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(*args)`` at simulated time ``time_s`` (never before now)."""
        heapq.heappush(self._heap, (max(time_s, self.now), self._seq, action, args))
        self._seq += 1

    def after(self, delay_s: float, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(*args)`` ``delay_s`` seconds from now."""
        self.at(self.now + delay_s, action, *args)

    def run(self, horizon_s: float | None) -> Iterator[TimedEvent]:
        """Run actions in time order until ``horizon_s`` (exclusive), yielding their events."""
        heap, outbox = self._heap, self._outbox
        limit = math.inf if horizon_s is None else horizon_s
        while heap and heap[0][0] < limit:
            time_s, _, action, args = heapq.heappop(heap)
            self.now = time_s
            action(*args)
            if outbox:
                yield from outbox
                outbox.clear()

    # -- output -------------------------------------------------------------------------------

    def emit(self, event_type: str, fields: dict[str, Any]) -> None:
        """Emit one event of ``event_type`` at the current time."""
        occurred_ms = self.start_ms + int(self.now * 1000.0)
        event = self.stamper.envelope(event_type, occurred_ms)
        event.update(fields)
        self._outbox.append((occurred_ms, event))

    # -- time of day and random draws ---------------------------------------------------------

    def own_rng(self, name: str) -> random.Random:
        """A generator of its own for the process ``name``, seeded by the run's seed: for a
        process whose draws happen at fixed times of day, so that the model's draws
        (:attr:`rng`) do not depend on the hour the run starts."""
        return random.Random(f"ccpulse-simulator:{self._seed}:{name}")

    def second_of_day(self, at_s: float | None = None) -> float:
        """UTC second of the day at simulated time ``at_s`` (default: now)."""
        return (self.start_ms / 1000.0 + (self.now if at_s is None else at_s)) % SECONDS_PER_DAY

    def next_staffed(self, at_s: float, share: float) -> float:
        """The first instant from ``at_s`` on when the profile is at ≥ ``share`` of its peak
        (``at_s`` itself when it is, or when the profile never gets there)."""
        profile = self.profile
        floor = share * profile.peak
        time_s = at_s
        for _ in range(len(profile.steps) + 1):
            second = self.second_of_day(time_s)
            if profile.multiplier_at(second) >= floor:
                return time_s
            time_s += profile.seconds_to_next_step(second)
        return at_s

    def poisson(self, per_hour: float, action: Callable[[], None],
                follow_profile: bool = True) -> None:
        """Call ``action()`` at the arrivals of a Poisson process of ``per_hour`` × profile.

        A time-varying rate is drawn by thinning: candidates at the peak rate, each kept with
        probability ``multiplier(t)/peak`` — exact for a piecewise-constant rate.
        """
        profile = self.profile if follow_profile else None
        peak = profile.peak if profile is not None else 1.0
        rate_s = per_hour * peak / 3600.0
        if rate_s <= 0:
            return
        thinning = profile is not None and not profile.flat
        rng = self.rng

        def arrive() -> None:
            if not thinning or rng.random() * peak < profile.multiplier_at(self.second_of_day()):
                action()
            self.after(rng.expovariate(rate_s), arrive)

        self.after(rng.expovariate(rate_s), arrive)

    def exponential(self, mean_s: float) -> float:
        """An exponential duration with mean ``mean_s`` (0 when the mean is 0)."""
        return self.rng.expovariate(1.0 / mean_s) if mean_s > 0 else 0.0

    def lognormal(self, mean_s: float, cv: float) -> float:
        """A log-normal duration with mean ``mean_s`` and coefficient of variation ``cv``."""
        sigma2 = math.log1p(cv * cv)
        return self.rng.lognormvariate(math.log(mean_s) - sigma2 / 2.0, math.sqrt(sigma2))

    def pick(self, weights: dict[str, float] | Any) -> str:
        """A key of ``weights`` drawn with probability proportional to its weight."""
        keys = list(weights)
        return self.rng.choices(keys, [weights[key] for key in keys])[0]

    def chance(self, probability: float) -> bool:
        """True with ``probability``; draws nothing when it is 0 (keeps simple models lean)."""
        return probability > 0 and self.rng.random() < probability
