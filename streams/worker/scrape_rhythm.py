"""A scrape's work done just before the scrape: a worker that has learned when Prometheus
reads its ``/metrics`` brings its families and their text up to date shortly before each read.

A scrape brings the families and their exposition up to date from what changed since they
were last rendered (``streams.core.kpis``, ``streams.exporter``), and most of that cost grows
with the events applied in between: at 500 queues × 2 channels a scrape after 1,000 events
costs ~90–150 ms of CPU, after ~10 events ~27 ms, with nothing new ~10 ms
(``bench/bench_scrape.py``, docs/performance.md). Prometheus reads a target at a fixed
interval, each scraper at its own fixed offset within it, so the next read of each scraper is
known from its last ones. The worker notes each read of ``/metrics`` by its client (address
and ``User-Agent``: two Prometheus replicas are two clients); once it has learned a client's
period (:class:`ScrapeRhythm`), it computes the families and rewrites the exposition's kept
lines, sending nothing, :data:`LEAD_S` plus its longest recent catch-up (at most
:data:`LEAD_EXTRA_MAX_S`) before the client's next read is due. That read then brings up to
date only what the last fraction of a second changed.

This moves work rather than adds it: the catch-up does what the read would have done, and
the read still pays the part that comes with the first event (~10–25 ms at that size); the
worker's CPU on a busy floor was the same with and without it, within noise. It changes no
number: the families computed at one more instant equal a fresh computation whenever they
are asked (``tests/unit/test_scrape_reuse.py``), and every read computes its own from the
state of that instant. A read that does not come as predicted costs that one catch-up; a
worker nobody reads regularly never catches up. ``CCPULSE_NO_SCRAPE_CATCH_UP=1`` turns it off
(:func:`catch_up_off`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

log = logging.getLogger("ccpulse.worker")

#: Set to anything but ``0`` or empty, the worker does not catch up before reads.
NO_CATCH_UP_ENV = "CCPULSE_NO_SCRAPE_CATCH_UP"
#: Seconds before a predicted read that the catch-up starts, on top of the longest of the
#: last :data:`RECENT` catch-ups (its own time): the events of that last fraction of a second
#: are left to the read (~5 at the bench floor's ~40 a second). Measured through a worker
#: (docs/performance.md), the catch-ups ended 100–160 ms before the reads at this lead; at
#: 0.25 s the reads were ~5–10 ms dearer (twice the events to bring up to date).
LEAD_S = 0.12
#: At most this much of a catch-up's own time is added to the lead (one slow catch-up, after
#: a rebalance say, must not push the next ones far ahead of their reads).
LEAD_EXTRA_MAX_S = 1.0
#: Two intervals between a client's reads agree within this many seconds, or this fraction
#: of the interval if more. Prometheus's reads of a target are regular to the millisecond,
#: but a read is noted when the worker's event loop answers it: after a batch being applied
#: or a catch-up (tens, at times a couple of hundred milliseconds).
TOLERANCE_S = 0.25
TOLERANCE_FRACTION = 0.02
#: A client whose reads miss its learned period this many times running is no longer
#: predicted (until two intervals agree again).
MISSES = 3
#: Reads closer than this are not a scraper's rhythm (a person reloading the page, the demo
#: watching its worker catch up every second); Prometheus's intervals are 5 s and more in
#: practice.
MIN_INTERVAL_S = 2.0
#: Clients followed at once; the one read least recently is forgotten first.
MAX_CLIENTS = 32
#: Reads on a client's period kept to estimate it (the period and the phase of its reads).
CHAIN = 8
#: How long the loop sleeps at most before it looks at the predictions again.
POLL_S = 1.0
#: Catch-ups whose duration sets the lead.
RECENT = 8


def catch_up_off(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` turns the catch-up off (:data:`NO_CATCH_UP_ENV`)."""
    return environ.get(NO_CATCH_UP_ENV, "") not in ("", "0")


def tolerance_s(interval_s: float) -> float:
    """How far (seconds) two readings of an interval may differ and still agree:
    :data:`TOLERANCE_S`, or :data:`TOLERANCE_FRACTION` of the interval if more."""
    return max(TOLERANCE_S, TOLERANCE_FRACTION * interval_s)


def steady(previous_s: float, interval_s: float) -> bool:
    """Whether two successive intervals (seconds) between a client's reads agree: within
    :func:`tolerance_s`, and not shorter than :data:`MIN_INTERVAL_S`."""
    if min(previous_s, interval_s) < MIN_INTERVAL_S:
        return False
    return abs(interval_s - previous_s) <= tolerance_s(interval_s)


@dataclass
class _Client:
    last_s: float  # its last read
    interval_s: float | None = None  # between its last two reads
    period_s: float | None = None  # its learned interval: what predicts its next read
    #: Its last reads on ``period_s`` and how many periods each is after the first.
    chain: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=CHAIN))
    misses: int = 0  # reads running that were not on ``period_s``
    told_s: float | None = None  # the period :meth:`ScrapeRhythm.read` last returned

    def learn(self, at_s: float, interval_s: float, previous_s: float) -> None:
        """A new period from the read at ``at_s`` and the two before it (``interval_s`` and
        ``previous_s`` apart): their mean."""
        first_s = at_s - interval_s - previous_s
        self.period_s, self.misses = (at_s - first_s) / 2, 0
        self.chain.clear()
        self.chain.extend(((first_s, 0), (at_s - interval_s, 1), (at_s, 2)))

    def periods_to(self, at_s: float) -> int:
        """How many periods after the chain's last read a read at ``at_s`` is, when it
        comes when predicted (:meth:`next_s`, plus whole periods: after reads that did not
        come) within the tolerance of :func:`steady`; 0 when it does not."""
        assert self.period_s is not None
        next_s = self.next_s()
        k = round((at_s - next_s) / self.period_s) + 1
        residual_s = at_s - next_s - (k - 1) * self.period_s
        return k if k >= 1 and abs(residual_s) <= tolerance_s(self.period_s) else 0

    def on_period(self, at_s: float, k: int) -> None:
        """A read ``k`` periods after the chain's last: the period estimated again from the
        chain's first read to this one (the delays with which reads are noted do not add
        up)."""
        self.misses = 0
        n = self.chain[-1][1] + k
        self.chain.append((at_s, n))
        first_s, first_n = self.chain[0]
        self.period_s = (at_s - first_s) / (n - first_n)

    def next_s(self) -> float:
        """Its next read: the earliest of its chain's reads carried forward by the period (a
        read noted late by the event loop does not delay the prediction)."""
        assert self.period_s is not None
        last_n = self.chain[-1][1]
        return min(at_s + (last_n + 1 - n) * self.period_s for at_s, n in self.chain)


class ScrapeRhythm:
    """When each client of ``/metrics`` will read it next, learned from its reads.

    A client's period is learned when two successive intervals between its reads agree
    (:func:`steady`: their mean), and learned again whenever two agree on another (a shorter
    or a longer interval); kept while its reads come when predicted, give or take the
    tolerance (whole periods later: after reads that did not come), estimated again over its
    last :data:`CHAIN` such reads; and dropped after :data:`MISSES` reads running that do
    neither. Times are seconds of one monotonic clock. Pure: no clock of its own, no I/O."""

    def __init__(self) -> None:
        self._clients: dict[str, _Client] = {}

    def read(self, client: str, at_s: float) -> float | None:
        """Note a read by ``client`` (any text naming it: address and user agent) at
        ``at_s``. Returns the client's period in seconds when this read learned one not told
        before (its first, or one that differs from the last told by more than the
        tolerance: what to tell an operator); None otherwise."""
        known = self._clients.pop(client, None)
        self._clients[client] = known or _Client(at_s)  # (most recently read last)
        if len(self._clients) > MAX_CLIENTS:
            del self._clients[next(iter(self._clients))]
        if known is None:
            return None
        interval_s = at_s - known.last_s
        previous_s = known.interval_s
        known.last_s, known.interval_s = at_s, interval_s
        if previous_s is not None and steady(previous_s, interval_s) and (
                known.period_s is None or not steady(known.period_s, interval_s)):
            known.learn(at_s, interval_s, previous_s)
        elif known.period_s is not None:
            k = known.periods_to(at_s)
            if k:
                known.on_period(at_s, k)
            else:
                known.misses += 1
                if known.misses >= MISSES:
                    known.period_s = None
        period_s = known.period_s
        if period_s is None or (known.told_s is not None and steady(known.told_s, period_s)):
            return None
        known.told_s = period_s
        return period_s

    def next_read_s(self, now_s: float, done: Collection[float] = ()) -> float | None:
        """The earliest read predicted at or after ``now_s``, leaving out the predictions in
        ``done`` (those a catch-up was done for: a client's prediction is the same number
        until it reads again), or None when no client has a period or every prediction has
        passed (a read that did not come: none until the client reads again)."""
        due = [d for d in (c.next_s() for c in self._clients.values() if c.period_s is not None)
               if d >= now_s and d not in done]
        return min(due, default=None)


async def catch_up_before_reads(catch_up: Callable[[], object], rhythm: ScrapeRhythm,
                                clock_s: Callable[[], float] = time.monotonic,
                                sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                                ) -> None:
    """Forever: call ``catch_up`` once before each read ``rhythm`` predicts (it returns
    False when it found nothing to do: no debug line then), starting
    :data:`LEAD_S` plus the longest of the last :data:`RECENT` catch-ups (at most
    :data:`LEAD_EXTRA_MAX_S`) before it (``clock_s``: the monotonic seconds the reads were
    noted in). One found already closer than that still gets it: the read would otherwise
    do the same work itself. An exception from ``catch_up`` is logged (once until a catch-up
    succeeds again) and the loop goes on: the read computes what it did not."""
    done_s: deque[float] = deque(maxlen=MAX_CLIENTS)  # predictions caught up for
    took_s: deque[float] = deque(maxlen=RECENT)
    failing = False
    while True:
        now_s = clock_s()
        due_s = rhythm.next_read_s(now_s, done_s)
        if due_s is None:
            await sleep(POLL_S)
            continue
        start_s = due_s - LEAD_S - min(max(took_s, default=0.0), LEAD_EXTRA_MAX_S)
        if start_s > now_s:
            await sleep(min(start_s - now_s, POLL_S))
            continue
        done_s.append(due_s)
        did = True
        try:
            did = catch_up() is not False
        except Exception:  # the read raises it as well, to its caller
            if not failing:
                log.exception("bringing the families up to date before a scrape failed; "
                              "the scrape computes them (logged again once one succeeds)")
            failing = True
        else:
            failing = False
        took_s.append(clock_s() - now_s)
        if did:
            log.debug("scrape catch-up: %.1f ms, %.3f s before the read due",
                      1000 * took_s[-1], due_s - clock_s())
