"""A scrape's new-minute work done when the minute turns, not in the next scrape.

The Erlang families follow the wall clock by its minute: their inputs are the 30 whole
minutes before the current one (``streams.core.staffing``). So the first scrape of each
minute computes every queue's load and Erlang C, A and B again — at 500 queues × 2 channels
about 60–70 ms of CPU on top of a busy scrape's ~60 ms (docs/performance.md). A worker
that is being scraped computes its families once just after each wall-clock minute starts
(:data:`WARM_AFTER_S` into it), without rendering them; the scrapes of that minute then bring
that result up to date from what changed since, as any scrape does from the one before.

This moves work, it adds none: the warm-up (~60–90 ms of CPU on the event loop once a
minute at that size, what the minute's first scrape spent before) is a scrape's
computation (``WorkerState.families`` through ``Pipeline.families``), and a computation
of the families at one more instant changes no number (every builder gives what a fresh
computation gives, whenever it is asked: ``tests/unit/test_scrape_reuse.py``,
``tests/unit/test_minute_warm_up.py``). A worker nobody scraped for
:data:`SCRAPED_WITHIN_S` does not warm up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("ccpulse.worker")

MINUTE_S = 60.0
#: How far into a minute the warm-up runs: just past the minute's turn, so that a scrape
#: rarely comes between the turn and the warm-up (1 in 500 at the deploy's 5 s interval). A
#: timer that fires before the turn (an event loop may wake a little early) sleeps again.
WARM_AFTER_S = 0.01
#: A worker warms up only while something reads its families (``/metrics``, the wallboard,
#: the staffing page): within this many seconds of the last read.
SCRAPED_WITHIN_S = 300.0


def seconds_to_warm_up(now_s: float) -> float:
    """Seconds from the wall-clock instant ``now_s`` (Unix seconds) to the next warm-up:
    :data:`WARM_AFTER_S` into the next minute, or into this one when that is still ahead.
    Always > 0."""
    into = now_s % MINUTE_S
    if into < WARM_AFTER_S - 1e-4:  # (0.1 ms: a float's rounding at the warm-up itself)
        return WARM_AFTER_S - into
    return MINUTE_S - into + WARM_AFTER_S


async def warm_up_new_minutes(warm: Callable[[], object], clock_s: Callable[[], float],
                              last_read_s: Callable[[], float | None],
                              sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                              ) -> None:
    """Forever: sleep until just after the next minute of ``clock_s`` (the wall clock, Unix
    seconds) turns, then call ``warm`` (the worker's families) if ``last_read_s`` (the wall
    clock's seconds at the last read of the families, None before any) is within
    :data:`SCRAPED_WITHIN_S`. An exception from ``warm`` is logged and the loop goes on: the
    next scrape computes what the warm-up did not."""
    failed = False
    while True:
        await sleep(seconds_to_warm_up(clock_s()))
        if clock_s() % MINUTE_S > MINUTE_S / 2:
            continue  # woke before the minute turned: the rest of the wait again
        read = last_read_s()
        if read is None or clock_s() - read > SCRAPED_WITHIN_S:
            continue
        try:
            warm()
        except Exception:  # the scrape raises it as well, to its caller
            if not failed:
                log.exception("computing the families at a new minute failed; the next "
                              "scrape computes them (further failures are not logged)")
            failed = True
