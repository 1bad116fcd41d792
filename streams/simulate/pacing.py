"""Replay a timed event stream against a clock: real time, or ``speed`` times faster.

Never ahead of the wall clock: with ``wall_epoch_ms`` (the epoch time at which pacing starts)
no event leaves before its own ``occurred_at`` has come, whatever the speed. A fast run that
starts in the past therefore catches up with the present and then carries on in real time --
the engine refuses events more than 5 minutes in its future (contract §1.1), so a feed that ran
ahead would be dead-lettered.

The clock and the sleep are arguments (monotonic seconds and an awaitable sleep), so tests run
a simulated hour in no time with a fake clock. Pacing is absolute, not per-gap: event *k* is
due at ``wall_start + (t_k − t_0)/speed``, so small sleep overshoots never accumulate into
drift. Events already due are released without sleeping; a consumer slower than the schedule
just runs behind (and the progress line shows it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from streams.simulate.world import TimedEvent

#: Sleeps shorter than this are skipped: events that close together go out as one burst.
MIN_SLEEP_S = 0.005


async def paced(
    events: Iterable[TimedEvent],
    *,
    speed: float,
    start_ms: int,
    wall_epoch_ms: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> AsyncIterator[TimedEvent]:
    """Yield each ``(occurred_ms, event)`` once its time has come on the (scaled) clock.

    ``start_ms`` is the simulated instant that corresponds to the moment this is first
    iterated; ``speed`` is simulated seconds per wall second (1 = real time). With
    ``wall_epoch_ms`` an event is also held until ``wall_epoch_ms`` plus the wall time elapsed
    reaches its ``occurred_ms``.
    """
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed!r}")
    wall_start = clock()
    for occurred_ms, event in events:
        due_ms = (occurred_ms - start_ms) / speed
        if wall_epoch_ms is not None:
            due_ms = max(due_ms, occurred_ms - wall_epoch_ms)
        delay = wall_start + due_ms / 1000.0 - clock()
        if delay >= MIN_SLEEP_S:
            await sleep(delay)
        yield occurred_ms, event
