"""Queue admission: which queue names get a label of their own (contract §4, ``max_queues``).

The configured queues and ``unknown`` always do; of the other names, the ``max_queues`` whose
first event is earliest in event time (ties by name); every other name is labelled
:data:`OTHER_QUEUE`. Three parts:

* :class:`Admission`, one per ledger: the first-seen times of the names it admits, exactly
  and no more, so a flood of names costs it nothing. Exact: a name it drops had
  ``max_queues`` names seen before it, which stay (or give way to names seen even earlier),
  so it could only come back with an earlier time of its own — and then it competes with that
  time, as it would have had its old one been kept. Over several ledgers, a name the merged
  admission keeps is among the earliest of the ledger holding its earliest time, so it is kept
  there with that time.
* :class:`QueueLabels`: the merged admission of some ledgers, as a name -> label function
  (a worker's partitions; the replay's one engine).
* :class:`AdmissionView`: the merged admission of the engines that share it, cached, for the
  engine's retirements: what a retired contact added under a name labelled ``other`` is kept
  under ``other`` (``Engine._fold``), so nothing stays per name once its contacts are gone.

What this does not undo: a name labelled ``other`` when its contacts retired and *admitted*
later (an event names it before the last admitted queue's first event, which in-order traffic
never does) keeps under ``other`` what those contacts added. See docs/decisions.md, "Queue
names past max_queues".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from sortedcontainers import SortedList

from streams.core.config import Config

#: The label of every queue name past the ``max_queues`` limit.
OTHER_QUEUE = "other"
#: The queue of what names none (a blocked call of no known queue, an agent that never said):
#: always a label of its own, like the configured queues.
UNKNOWN_QUEUE = "unknown"


class Admission:
    """First-seen times of the admitted queue names, kept exactly and bounded.

    ``first_seen`` maps each admitted name (the configured ones, ``unknown`` once seen, and at
    most ``max_queues`` others) to its earliest event time in epoch microseconds. It holds
    nothing for an excluded name, so its size is bounded by the configuration, whatever the
    input.
    """

    def __init__(self, configured: Iterable[str], max_queues: int) -> None:
        self.first_seen: dict[str, int] = {}
        self._always = frozenset((*configured, UNKNOWN_QUEUE))
        self._max = max_queues
        #: (first seen µs, name) of the admitted names that are not always admitted.
        self._ranked: SortedList = SortedList()
        #: Bumped at every change of :attr:`first_seen` (what :class:`AdmissionView` caches by).
        self.version = 0

    def see(self, queue: str, at_us: int) -> None:
        """Note that an event at ``at_us`` names ``queue`` (keeps the earliest time)."""
        first = self.first_seen
        seen = first.get(queue)
        if seen is not None:
            if at_us < seen:
                first[queue] = at_us
                self.version += 1
                if queue not in self._always:
                    self._ranked.remove((seen, queue))
                    self._ranked.add((at_us, queue))
            return
        if queue in self._always:
            first[queue] = at_us
            self.version += 1
            return
        if len(self._ranked) >= self._max:
            if not self._max or (at_us, queue) > self._ranked[-1]:
                return  # behind every admitted name: excluded, nothing kept
            _, last = self._ranked.pop()
            del first[last]
        first[queue] = at_us
        self._ranked.add((at_us, queue))
        self.version += 1



class _Admitting(Protocol):
    admission: Admission


class QueueLabels:
    """Maps queue names to label values (contract §4): the configured queues and ``unknown``,
    then the ``max_queues`` others whose first event is earliest in event time over
    ``ledgers`` (ties by name), then ``other`` — so a producer bug cannot explode the series
    count, and the labels depend on the events alone: not on arrival order, restarts or
    rebalances (the first-seen times are persisted)."""

    def __init__(self, config: Config, ledgers: Iterable[_Admitting]) -> None:
        first: dict[str, int] = {}
        for ledger in ledgers:
            for q, at in ledger.admission.first_seen.items():
                if q not in first or at < first[q]:
                    first[q] = at
        allowed = dict.fromkeys([*config.queues, UNKNOWN_QUEUE])
        others = sorted((at, q) for q, at in first.items() if q not in allowed)
        for _, q in others[: config.limits.max_queues]:
            allowed[q] = None
        self._allowed = allowed

    def __call__(self, queue: str) -> str:
        return queue if queue in self._allowed else OTHER_QUEUE


class AdmissionView:
    """The merged admission of the ledgers in :attr:`ledgers` (a worker keeps there those of
    the partitions it owns), recomputed only when one of them admitted a name since."""

    def __init__(self, config: Config, ledgers: Sequence[_Admitting] = ()) -> None:
        self.config = config
        self.ledgers: list[_Admitting] = list(ledgers)
        self._key: tuple[tuple[int, int], ...] | None = None
        self._labels: QueueLabels | None = None

    def labels(self) -> QueueLabels:
        key = tuple((id(ledger), ledger.admission.version) for ledger in self.ledgers)
        if self._labels is None or key != self._key:
            self._labels = QueueLabels(self.config, self.ledgers)
            self._key = key
        return self._labels
