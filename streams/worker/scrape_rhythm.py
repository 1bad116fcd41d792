"""A scrape's work done just before the scrape: a worker that has learned when Prometheus
reads its ``/metrics`` brings its families and their text up to date shortly before each read.

A scrape brings the families and their exposition up to date from what changed since they
were last computed (``streams.core.kpis``, ``streams.exporter``), and most of that cost grows
with the events applied in between: at 500 queues × 2 channels a scrape after 1,000 events
costs ~90 ms of CPU, after ~15 events ~27 ms, with nothing new ~10 ms
(``bench/bench_scrape.py``, docs/performance.md). Prometheus reads a target at a fixed
interval, each scraper at its own fixed offset within it, so the next read of each scraper is
known from its last two. The worker notes each read of ``/metrics`` by its client (address and
``User-Agent``: two Prometheus replicas are two clients); once a client's last two intervals
agree (:class:`ScrapeRhythm`), it computes the families and rewrites the exposition's kept lines,
sending nothing, :data:`LEAD_S` plus its longest recent catch-up before the client's next read
is due. That read then brings up to date only what the last fraction of a second changed.

This moves work and adds a little: the catch-up costs what the scrape would have, and the
scrape still costs its fixed part (~10–25 ms at that size; more CPU in all by ~0.2–0.5 % of a
core at a 5–15 s interval). It changes no number: the families computed at one more instant
equal a fresh computation whenever they are asked (``tests/unit/test_scrape_reuse.py``), and
every read computes its own from the state of that instant. A read that does not come as
predicted costs nothing more; a worker nobody reads regularly never catches up.
``CCPULSE_NO_SCRAPE_CATCH_UP=1`` turns it off (:func:`catch_up_off`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger("ccpulse.worker")

#: Set to anything but ``0`` or empty, the worker does not catch up before reads.
NO_CATCH_UP_ENV = "CCPULSE_NO_SCRAPE_CATCH_UP"
#: Seconds before a predicted read that the catch-up starts, on top of the longest of the
#: last :data:`RECENT` catch-ups (its own time): the events of that last fraction of a second
#: are left to the read (~14 at the bench floor's ~55 a second).
LEAD_S = 0.25
#: Two intervals between a client's reads agree within this many seconds, or this fraction
#: of the interval if more. Prometheus's reads of a target are regular to the millisecond,
#: but a read is noted when the worker's event loop answers it: after a batch being applied
#: or a catch-up (tens, at times a couple of hundred milliseconds).
TOLERANCE_S = 0.25
TOLERANCE_FRACTION = 0.02
#: A client whose reads miss its learned interval this many times running is no longer
#: predicted (until two intervals agree again).
MISSES = 3
#: Reads closer than this are not a scraper's rhythm (a person reloading the page).
MIN_INTERVAL_S = 1.0
#: Clients followed at once; the one read least recently is forgotten first.
MAX_CLIENTS = 32
#: How long the loop sleeps at most before it looks at the predictions again.
POLL_S = 1.0
#: Catch-ups whose duration sets the lead.
RECENT = 8


def catch_up_off(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` turns the catch-up off (:data:`NO_CATCH_UP_ENV`)."""
    return environ.get(NO_CATCH_UP_ENV, "") not in ("", "0")


def steady(previous_s: float, interval_s: float) -> bool:
    """Whether two successive intervals (seconds) between a client's reads agree: within
    :data:`TOLERANCE_S`, or :data:`TOLERANCE_FRACTION` of the interval if more, and not
    shorter than :data:`MIN_INTERVAL_S`."""
    if min(previous_s, interval_s) < MIN_INTERVAL_S:
        return False
    return abs(interval_s - previous_s) <= max(TOLERANCE_S, TOLERANCE_FRACTION * interval_s)


def fits(period_s: float, interval_s: float) -> bool:
    """Whether an interval between two reads is a whole number (≥ 1) of a learned
    ``period_s``, within the tolerance of :func:`steady`: a read on time, or after reads
    that did not come (a scrape that failed to connect, Prometheus restarted)."""
    k = round(interval_s / period_s)
    return k >= 1 and steady(period_s, interval_s / k)


@dataclass
class _Client:
    last_s: float  # its last read
    interval_s: float | None = None  # between its last two reads
    period_s: float | None = None  # its learned interval: what predicts its next read
    misses: int = 0  # reads running whose interval did not fit ``period_s``
    told_s: float | None = None  # the period :meth:`ScrapeRhythm.read` last returned


class ScrapeRhythm:
    """When each client of ``/metrics`` will read it next, learned from its reads.

    A client's period is learned when two successive intervals between its reads agree
    (:func:`steady`), kept while its reads fit it (:func:`fits`), replaced when two other
    intervals agree, and dropped after :data:`MISSES` reads running that do not fit. Times
    are seconds of one monotonic clock. Pure: no clock of its own, no I/O."""

    def __init__(self) -> None:
        self._clients: dict[str, _Client] = {}

    def read(self, client: str, at_s: float) -> float | None:
        """Note a read by ``client`` (any text naming it: address and user agent) at
        ``at_s``. Returns the client's period in seconds when this read set one not told
        before (its first, or one that differs from the last told by more than the
        tolerance: what to tell an operator once); None otherwise."""
        known = self._clients.pop(client, None)
        self._clients[client] = known or _Client(at_s)  # (most recently read last)
        if len(self._clients) > MAX_CLIENTS:
            del self._clients[next(iter(self._clients))]
        if known is None:
            return None
        interval_s = at_s - known.last_s
        previous_s = known.interval_s
        known.last_s, known.interval_s = at_s, interval_s
        if known.period_s is not None and fits(known.period_s, interval_s):
            known.misses = 0
        elif previous_s is not None and steady(previous_s, interval_s):
            known.period_s, known.misses = interval_s, 0
        elif known.period_s is not None:
            known.misses += 1
            if known.misses >= MISSES:
                known.period_s = None
        period_s = known.period_s
        if period_s is None or (known.told_s is not None and steady(known.told_s, period_s)):
            return None
        known.told_s = period_s
        return period_s

    def next_read_s(self, now_s: float) -> float | None:
        """The earliest read predicted at or after ``now_s`` (a client's last read plus its
        period), or None when no client has a period or every prediction has passed (a read
        that did not come: none until the client reads again)."""
        due = [c.last_s + c.period_s for c in self._clients.values()
               if c.period_s is not None and c.last_s + c.period_s >= now_s]
        return min(due, default=None)


async def catch_up_before_reads(catch_up: Callable[[], object], rhythm: ScrapeRhythm,
                                clock_s: Callable[[], float] = time.monotonic,
                                sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                                ) -> None:
    """Forever: call ``catch_up`` once before each read ``rhythm`` predicts, starting
    :data:`LEAD_S` plus the longest of the last :data:`RECENT` catch-ups before it
    (``clock_s``: the monotonic seconds the reads were noted in). A prediction found closer
    than that longest catch-up is let go (the read would wait for it). An exception from
    ``catch_up`` is logged once and the loop goes on: the read computes what it did not."""
    done_for: float | None = None
    took: deque[float] = deque(maxlen=RECENT)
    failed = False
    while True:
        now = clock_s()
        due = rhythm.next_read_s(now)
        longest = max(took, default=0.0)
        if due is None or due == done_for:
            await sleep(POLL_S)
            continue
        start_s = due - LEAD_S - longest
        if start_s > now:
            await sleep(min(start_s - now, POLL_S))
            continue
        done_for = due
        if due - now < longest:
            continue
        try:
            catch_up()
        except Exception:  # the read raises it as well, to its caller
            if not failed:
                log.exception("bringing the families up to date before a scrape failed; "
                              "the scrape computes them (further failures are not logged)")
            failed = True
        took.append(clock_s() - now)
        log.debug("scrape catch-up: %.1f ms, %.3f s before the read due", 1000 * took[-1],
                  due - clock_s())
