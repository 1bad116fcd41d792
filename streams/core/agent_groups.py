"""The live agents of every ledger in groups, kept across scrapes: what the agent families
take from them (``streams.core.kpis._agent_parts``), brought up to date from the groups that
changed since the last scrape alone.

A scrape's agent families need, per group of agents in the same state serving the same
queues (over every ledger of one configuration), the agents' count by queue and state, the
staffed agents by queue, and for the staffed states the instants their open spans start in
the current interval and today (each group's sorted and summed) and the part of their spans
in the previous interval. Computed afresh, that is every live agent regrouped and sorted at
each scrape whose ledgers changed at all (~6 ms at 1,500 agents on 500 queues, the largest
part of a busy scrape's first event). :class:`AgentGroups` keeps each group's part, and the
sums over them: a group is computed again when one of its ledgers' groups changed
(:attr:`~streams.core.ledger.Ledger.agent_group_stamps`) or the windows of its queues'
calendars moved, and its old part is taken out of the sums, its new one added. Every sum is
of integers: the same in any order, so the kept sums equal a fresh computation's
(``tests/unit/test_agent_groups_kept.py`` compares them over random changes).
"""

from __future__ import annotations

import weakref
from bisect import bisect_right
from itertools import accumulate
from typing import Any

from streams.core.admission import QueueLabels
from streams.core.contributions import AGENT_STATES, OCCUPANCY_STATES
from streams.core.ledger import Ledger
from streams.core.ledger import _add_count as _step  # into[key] += by, dropped at 0

#: One group's open spans in one window: the queue labels it serves (of one calendar), the
#: window, the state field, the window's end (None: the clock), and (count, sum of starts,
#: latest start, starts ascending, their running sums).
OpenSpans = tuple[list[str], str, str, "int | None", tuple[int, int, int, list[int], list[int]]]

#: A merged group: (state, queues, the index of the first ledger of its configuration).
GroupKey = tuple[str, tuple[str, ...], int]


class _Group:
    """One merged group's part: what it was computed from (its ledgers' group stamps, the
    windows of its calendars) and what it adds to the sums."""

    __slots__ = ("by_cal", "ended", "n", "spans", "stamps", "windows")

    def __init__(self, stamps: list[tuple[int, int]], windows: tuple[Any, ...], n: int,
                 by_cal: list[tuple[Any, list[str]]], spans: list[OpenSpans],
                 ended: list[tuple[list[str], int]]) -> None:
        #: (ledger index, :attr:`~streams.core.ledger.Ledger.agent_group_stamps` of the
        #: group there) of each ledger holding it, in the ledgers' order
        self.stamps = stamps
        #: ``(current interval, previous interval, day)`` starts in µs of each calendar of
        #: ``by_cal``, at the clock it was computed at
        self.windows = windows
        #: the agents in the group, over its ledgers
        self.n = n
        #: [(calendar, the labels of its queues in the queues' order)]
        self.by_cal = by_cal
        #: the group's open spans (staffed states only)
        self.spans = spans
        #: (the labels of one calendar, µs of the group's spans in its previous interval)
        self.ended = ended


class AgentGroups:
    """:meth:`parts` of the ledgers at a clock, kept from the last call: valid for the same
    ledgers (weak references, in the same order) and the same queue labels (the names each
    is its own label, compared by value); anything else starts over."""

    def __init__(self) -> None:
        self.reset(None, [])

    def reset(self, label: QueueLabels | None, ledgers: list[Ledger]) -> None:
        """Forget every group and sum (the next :meth:`parts` computes them all)."""
        #: the queue labels it was computed with, and the names each is its own label of
        self.label = label
        self.allowed: dict[str, None] | None = (dict(label._allowed) if label is not None
                                                 else None)
        #: the ledgers, in their order
        self.refs = [weakref.ref(ledger) for ledger in ledgers]
        self.groups: dict[GroupKey, _Group] = {}
        #: (queues, the index of the first ledger of their configuration) -> a group's
        #: ``by_cal`` (:class:`_Group`): the same for every state
        self.calendars: dict[tuple[tuple[str, ...], int], list[tuple[Any, list[str]]]] = {}
        #: (queue label, state) -> agents; queue label -> agents in any state, and in a
        #: staffed one; queue label -> state field -> µs in the previous interval
        self.counts: dict[tuple[str, str], int] = {}
        self.present: dict[str, int] = {}
        self.staffed: dict[str, int] = {}
        self.previous: dict[str, dict[str, int]] = {}
        #: :attr:`counts` as :meth:`parts` gives them (None: to write again whole), and the
        #: keys changed since it was last brought up to date
        self.ordered: dict[tuple[str, ...], int] | None = None
        self.moved: set[tuple[str, str]] = set()

    def parts(self, ledgers: list[Ledger], label: QueueLabels, now_us: int
              ) -> tuple[dict[tuple[str, ...], int], list[OpenSpans], dict[str, int],
                         dict[str, dict[str, int]]]:
        """``(counts, open spans, staffed, previous)`` at ``now_us``: counts as
        ``_agent_parts`` gives them (every state of each queue label with agents present,
        labels in name order, states in :data:`AGENT_STATES`' order), the open spans of the
        staffed groups (:data:`OpenSpans`), staffed agents by queue label, and per queue
        label the µs of each staffed state's field (``t_<state>``) the open spans add to the
        previous interval (the clock is past its end). Shared: callers only read them, the
        counts and the previous ones until the next call (which changes them in place)."""
        same_labels = label is self.label or label._allowed == self.allowed
        if not (same_labels and len(ledgers) == len(self.refs) and all(
                ref() is ledger for ref, ledger in zip(self.refs, ledgers, strict=True))):
            self.reset(label, ledgers)
        current = self._current(ledgers)
        windows_of: dict[Any, tuple[int, int, int]] = {}
        groups = self.groups
        gone = [key for key in groups if key not in current]
        stale: list[GroupKey] = []  # the groups to compute again
        for key, stamps in current.items():
            kept = groups.get(key)
            if kept is not None and kept.stamps == stamps:
                windows = tuple(windows_once(cal, now_us, windows_of) for cal, _ in kept.by_cal)
                if windows == kept.windows:
                    continue
            stale.append(key)
        if 2 * (len(stale) + len(gone)) > len(current):
            # most groups changed (many events since the last call, or new windows): every
            # sum added up again, cheaper than each changed group's taken out and put back
            for key in gone:
                del groups[key]
            for key in stale:
                groups[key] = self._group(key, current[key], ledgers, label, now_us,
                                          windows_of, self.calendars)
            self._sum_all()
        else:
            for key in gone:
                self._add(key, groups.pop(key), -1)
            for key in stale:
                kept = groups.get(key)
                if kept is not None:
                    self._add(key, kept, -1)
                group = groups[key] = self._group(key, current[key], ledgers, label, now_us,
                                                  windows_of, self.calendars)
                self._add(key, group, 1)
        if len(self.calendars) > 2 * len(groups) + 64:  # queue sets no group serves now
            used = {(queues, first) for _, queues, first in groups}
            self.calendars = {key: v for key, v in self.calendars.items() if key in used}
        get = self.counts.get
        counts = self.ordered
        if counts is None:
            counts = self.ordered = {}
            for q in sorted(self.present):
                for s in AGENT_STATES:
                    counts[(q, s)] = get((q, s), 0)
        else:
            for qs in self.moved:
                counts[qs] = get(qs, 0)
        self.moved.clear()
        spans = [span for group in groups.values() for span in group.spans]
        return counts, spans, dict(self.staffed), self.previous

    @staticmethod
    def _current(ledgers: list[Ledger]) -> dict[GroupKey, list[tuple[int, int]]]:
        """Each merged group of the ledgers with its ledgers' (index, group stamp)."""
        first_of: dict[int, int] = {}
        current: dict[GroupKey, list[tuple[int, int]]] = {}
        for i, ledger in enumerate(ledgers):
            first = first_of.setdefault(id(ledger.config), i)
            stamps = ledger.agent_group_stamps
            for state, queues in ledger.agent_groups:
                key = (state, queues, first)
                found = current.get(key)
                entry = (i, stamps[(state, queues)])
                if found is None:
                    current[key] = [entry]
                else:
                    found.append(entry)
        return current

    @staticmethod
    def _group(key: GroupKey, stamps: list[tuple[int, int]], ledgers: list[Ledger],
               label: QueueLabels, now_us: int, windows_of: dict[Any, tuple[int, int, int]],
               calendars: dict[tuple[tuple[str, ...], int], list[tuple[Any, list[str]]]]
               ) -> _Group:
        """One merged group's part computed from its ledgers' groups at ``now_us``."""
        state, queues, first = key
        sinces: list[int] = []
        for i, _ in stamps:
            sinces.extend(ledgers[i].agent_groups[(state, queues)].values())
        sinces.sort()
        by_cal = calendars.get((queues, first))
        if by_cal is None:
            ledger = ledgers[first]
            labels_by_cal: dict[Any, list[str]] = {}
            for queue in queues:
                labels_by_cal.setdefault(ledger.calendar(queue), []).append(label(queue))
            by_cal = calendars[(queues, first)] = list(labels_by_cal.items())
        windows = tuple(windows_once(cal, now_us, windows_of) for cal, _ in by_cal)
        n = len(sinces)
        spans: list[OpenSpans] = []
        ended_by_cal: list[tuple[list[str], int]] = []
        if state in OCCUPANCY_STATES:
            field = "t_" + state
            for (cal, labels), bounds in zip(by_cal, windows, strict=True):
                ended = window_spans(sinces, labels, field, cal.interval_us, bounds, spans)
                if ended:
                    ended_by_cal.append((labels, ended))
        return _Group(stamps, windows, n, by_cal, spans, ended_by_cal)

    def _sum_all(self) -> None:
        """Every sum added up again from the groups (what :meth:`_add` keeps)."""
        counts: dict[tuple[str, str], int] = {}
        present: dict[str, int] = {}
        staffed: dict[str, int] = {}
        previous: dict[str, dict[str, int]] = {}
        for (state, _, _), group in self.groups.items():
            n = group.n
            occupied = state in OCCUPANCY_STATES
            for _, labels in group.by_cal:
                for q in labels:
                    key = (q, state)
                    counts[key] = counts.get(key, 0) + n
                    present[q] = present.get(q, 0) + n
                    if occupied:
                        staffed[q] = staffed.get(q, 0) + n
            if group.ended:
                field = "t_" + state
                for labels, ended in group.ended:
                    for q in labels:
                        sums = previous.get(q)
                        if sums is None:
                            sums = previous[q] = {}
                        sums[field] = sums.get(field, 0) + ended
        self.counts, self.present, self.staffed, self.previous = (counts, present, staffed,
                                                                  previous)
        self.ordered = None
        self.moved.clear()

    def _add(self, key: GroupKey, group: _Group, sign: int) -> None:
        """Add (``sign`` 1) or take out (-1) ``group``'s part of the sums."""
        state = key[0]
        n = sign * group.n
        occupied = state in OCCUPANCY_STATES
        shown = state in AGENT_STATES  # (the schemas allow no other: the counts show none)
        counts, present, staffed, moved = self.counts, self.present, self.staffed, self.moved
        for _, labels in group.by_cal:
            for q in labels:
                qs = (q, state)
                _step(counts, qs, n)
                if shown:
                    moved.add(qs)
                if q in present:
                    left = present[q] + n
                    if left:
                        present[q] = left
                    else:
                        del present[q]
                        self.ordered = None
                else:
                    present[q] = n
                    self.ordered = None
                if occupied:
                    _step(staffed, q, n)
        if group.ended:
            field = "t_" + state
            previous = self.previous
            for labels, ended in group.ended:
                for q in labels:
                    sums = previous.get(q)
                    if sums is None:
                        sums = previous[q] = {}
                    _step(sums, field, sign * ended)
                    if not sums:
                        del previous[q]


def windows_once(cal: Any, now_us: int, windows_of: dict[Any, tuple[int, int, int]]
             ) -> tuple[int, int, int]:
    """``cal.windows(now_us)`` once per calendar and call."""
    found = windows_of.get(cal)
    if found is None:
        found = windows_of[cal] = cal.windows(now_us)
    return found


def window_spans(sinces: list[int], labels: list[str], field: str, interval_us: int,
                 bounds: tuple[int, int, int], into: list[OpenSpans]) -> int:
    """The spans of ``len(sinces)`` agents in one state whose open spans started at
    ``sinces`` (epoch µs, ascending), for the queues ``labels`` of one calendar whose
    intervals last ``interval_us`` and whose windows at the clock are ``bounds`` (the current
    interval's start, the previous interval's start, the day's start: ``cal.windows``).

    Appends to ``into`` their open spans (:data:`OpenSpans`) in the current interval (which
    ends at its start plus ``interval_us``) and today (which ends at the clock), each start
    clamped to the window's; returns the µs of the previous interval they spent in it, which
    no longer moves with the clock (the previous interval ends where the current one begins).
    """
    current, previous, day = bounds
    n = len(sinces)
    ended = 0
    for since in sinces:
        if since >= current:
            break
        ended += current - (since if since > previous else previous)
    for window, lo, hi in (("interval", current, current + interval_us), ("today", day, None)):
        k = bisect_right(sinces, lo)  # those before lo start at lo
        starts = [lo] * k + sinces[k:] if k else sinces
        before = list(accumulate(starts, initial=0))
        into.append((labels, window, field, hi, (n, before[-1], starts[-1], starts, before)))
    return ended
