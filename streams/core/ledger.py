"""The aggregates: sums of every entity's current contributions, ready for the KPI layer.

A :class:`Ledger` is what one engine (one Kafka partition, or the whole replay) knows. It only
adds and retracts contributions; turning sums into KPIs for a given clock is
``streams.core.kpis``, which only reads. All times and durations are integer microseconds.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from itertools import count, islice
from typing import Any

from sortedcontainers import SortedList

from streams.core.admission import Admission
from streams.core.agent_ledger import AgentDays
from streams.core.calendar import QueueCalendar
from streams.core.config import Config
from streams.core.contributions import (
    AgentNow,
    Booking,
    Contribution,
    Count,
    Observe,
    Span,
    TicketNow,
    Waiting,
)

#: Handle-time histogram buckets (seconds): short chats to long escalations.
HANDLE_BOUNDS = (30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0,
                 3600.0)

#: Ticket first-response and resolution histogram buckets (seconds): 5 minutes to 30 days;
#: every configured first-response target is added (docs/contract.md §4).
TICKET_BOUNDS = (300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0,
                 172800.0, 259200.0, 604800.0, 1209600.0, 2592000.0)
TICKET_HISTOGRAMS = ("ticket_first_response", "ticket_resolution",
                     "ticket_first_response_business", "ticket_resolution_business")

Fields = dict[str, int]

MINUTE_US = 60_000_000
#: Fields also kept per minute, for the trailing-30-minute workforce (Erlang) inputs: load
#: and AHT (Erlang C), abandons and waits (the Erlang A patience), blocked calls (Erlang B).
MINUTE_FIELDS = frozenset({"offered", "handled", "handle_us", "abandoned", "short_abandoned",
                           "wait_answered_us", "wait_abandoned_us", "wait_flowed_out_us",
                           "blocked"})


#: Stamps of ledger states (:attr:`Ledger.version`): unique in the process, over all ledgers.
_STAMPS = count(1)
#: Out-of-order bucket dicts one window prune sorts again, at most: a rebuild from records
#: notes most of a ledger's, and sorting them all at once (three days of minutes of 500
#: queues on 2 channels: ~2 M buckets) would hold the event loop for about a second.
SORTS_PER_PRUNE = 64
#: The sealed epochs of what changed a ledger keeps (:meth:`Ledger.seal`): a reader that last
#: read before the oldest (a result kept over more scrapes) reads everything again.
EPOCHS_KEPT = 4


def _add_field(fields: Fields, field: str, amount: int) -> None:
    """Add to a window field; a field back at 0 is removed, as if never booked, so that the
    ledger holds exactly what a rebuild from the records would."""
    value = fields.get(field, 0) + amount
    if value:
        fields[field] = value
    else:
        fields.pop(field, None)


def ticket_bounds_seconds(config: Config) -> tuple[float, ...]:
    """Ticket histogram buckets: :data:`TICKET_BOUNDS` plus every first-response target."""
    bounds = set(TICKET_BOUNDS)
    for settings in (config.defaults, *config.queues.values()):
        for target_us in getattr(settings, "first_response_target_us", {}).values():
            bounds.add(target_us / 1_000_000)
    return tuple(sorted(bounds))


def _add_count(counts: dict[Any, int], key: Any, step: int) -> None:
    value = counts.get(key, 0) + step
    if value:
        counts[key] = value
    else:
        del counts[key]


def _add_time(times: dict[Any, SortedList], key: Any, at_us: int, step: int) -> None:
    """Add (``step`` > 0) or remove one instant in the sorted list of ``key``."""
    found = times.get(key)
    if found is None:
        found = times[key] = SortedList()
    if step > 0:
        found.add(at_us)
    else:
        found.remove(at_us)
        if not found:  # a queue with nothing open keeps no list (queue-name floods)
            del times[key]


class Ledger:
    """Counters, histograms, window buckets and live state of one engine.

    Every change goes through a method here, which stamps :attr:`version` anew: a state is
    known by its ledger and its version (the KPI layer reuses what it computed from a state
    while the version stays; the queue admission has its own version)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        #: A stamp of the current state, new at every change, unique over all ledgers.
        self.version = next(_STAMPS)
        #: What changed, for the scrape to recompute only that (``streams.core.kpis``): each
        #: key with the stamp (:attr:`version`) of its latest change — (queue, channel) of
        #: the window buckets, minutes and waiting segments in :attr:`touched`, (metric,
        #: labels) of the counters and histograms in :attr:`touched_totals`. A change that
        #: may reach any of them (pruning, moved or added totals) stamps :attr:`reshaped`
        #: instead, and clears both. A scrape seals them (:meth:`seal`): the keys changed
        #: since are then in new dicts, and a reader finds what changed after a stamp in the
        #: epochs sealed since (:meth:`changed_after`), not among every key changed since
        #: the last reshape.
        self.touched: dict[tuple[str, str], int] = {}
        self.touched_totals: dict[tuple[str, tuple[str, ...]], int] = {}
        self.reshaped = self.version
        #: The sealed epochs, oldest first: (version when sealed, touched, touched_totals);
        #: every key changed after :attr:`_epochs_from` is in them or the current dicts.
        self._epochs: list[tuple[int, dict[Any, int], dict[Any, int]]] = []
        self._epochs_from = self.version
        self.counters: dict[tuple[str, tuple[str, ...]], int] = {}
        #: (metric, labels) -> [count per bucket (len(bounds)+1, last is +Inf)..., sum in µs]
        self.histograms: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        ticket_bounds = ticket_bounds_seconds(config)
        self.bounds = {"wait": config.histogram_bounds_seconds(), "handle": HANDLE_BOUNDS,
                       **dict.fromkeys(TICKET_HISTOGRAMS, ticket_bounds)}
        self._bounds_us = {m: [round(b * 1_000_000) for b in bs] for m, bs in self.bounds.items()}
        #: (queue, channel) -> interval start -> fields; same for business days and minutes.
        #: Agent time is under channel "".
        self.intervals: dict[tuple[str, str], dict[int, Fields]] = {}
        self.days: dict[tuple[str, str], dict[int, Fields]] = {}
        self.minutes: dict[tuple[str, str], dict[int, Fields]] = {}
        #: (queue, channel) -> [the start of its newest minute bucket booked, the stamp of
        #: the latest booking into it, the stamp of the latest booking into an older one
        #: (those into the newest counted there once a newer one starts)]: whether its
        #: minutes before some minute changed after a stamp (:meth:`minutes_changed`).
        self.minute_marks: dict[tuple[str, str], list[int]] = {}
        #: The instants ``(previous, start, end)`` a reader of the windows
        #: (``streams.core.kpis``'s window sums) watches (:meth:`watch_current`; ``(0, 0,
        #: 0)``: none): ``[start, end)`` in the current interval and business day of every
        #: calendar, ``[previous, start)`` in its previous or current interval and that day.
        #: (queue, channel) -> a stamp after the reader's last look when a booking since went
        #: outside ``[previous, end)`` (:attr:`touched_outside`: the reader sums that key's
        #: windows from its buckets) or into ``[previous, start)``
        #: (:attr:`touched_previous`: its intervals); else its previous interval is as it
        #: was, and its day moved as its intervals did.
        self.current_us = (0, 0, 0)
        self.touched_outside: dict[tuple[str, str], int] = {}
        self.touched_previous: dict[tuple[str, str], int] = {}
        #: A stamp of the :meth:`watch_current` call that set :attr:`current_us`.
        self.current_set = 0
        #: The bucket dicts above (by id) whose starts may not ascend: a bucket was added
        #: before the newest one (a late event into a window none had booked yet, a rebuild
        #: from records in any order). :meth:`prune_windows` sorts up to
        #: :data:`SORTS_PER_PRUNE` of them again first and reads the others whole; every
        #: other dict holds its starts in ascending order, and it reads only its old buckets
        #: (a queue holds ~4,400: three days of minutes).
        self._unordered: dict[int, dict[int, Fields]] = {}
        #: (queue, channel) -> (entity key, queued_us) -> number of such segments
        self.waiting: dict[tuple[str, str], dict[tuple[str, int], int]] = {}
        #: entity key -> its live state
        self.agents: dict[str, AgentNow] = {}
        #: The same agents grouped: (state, queues) -> entity key -> since µs (the scrape's
        #: agent families walk groups, not every agent; :meth:`_group_agents` rebuilds it)
        self.agent_groups: dict[tuple[str, tuple[str, ...]], dict[str, int]] = {}
        #: The stamp (:attr:`version`) of each group's latest change, for what a scrape keeps
        #: of the groups (``streams.core.agent_groups``).
        self.agent_group_stamps: dict[tuple[str, tuple[str, ...]], int] = {}
        self.tickets: dict[str, TicketNow] = {}
        #: Open tickets, kept summed so that a scrape costs the same with 200,000 of them:
        #: (queue, channel, priority) -> count; (queue, channel) -> awaiting a reply;
        #: (queue, channel) -> creation times (backlog: how many before now - age);
        #: (queue, channel, priority) -> first-response due times (overdue: before now).
        self.tickets_open: dict[tuple[str, str, str], int] = {}
        self.tickets_awaiting: dict[tuple[str, str], int] = {}
        self.tickets_created_at: dict[tuple[str, str], SortedList] = {}
        self.tickets_due_at: dict[tuple[str, str, str], SortedList] = {}
        #: The max_queues admission (docs/contract.md §4, streams.core.admission): queue ->
        #: earliest event time naming it, for the admitted names only.
        self.admission = Admission(config.queues, config.limits.max_queues)
        self.first_seen: dict[str, int] = self.admission.first_seen
        #: The calendar of each configured queue; every other queue has the defaults' one.
        self._calendars: dict[str, QueueCalendar] = {}
        self._default_calendar: QueueCalendar | None = None
        #: Per-agent day sums, only with ``[limits] per_agent`` (streams.core.agent_ledger).
        self.per_agent = AgentDays(config) if config.limits.per_agent else None

    def __getstate__(self) -> dict[str, Any]:
        """Pickling (engine snapshots): the state without what changed when (a stamp means
        nothing in another process)."""
        return {**self.__dict__, "touched": {}, "touched_totals": {}, "_epochs": [],
                "minute_marks": {}, "agent_groups": {}, "agent_group_stamps": {},
                "current_us": (0, 0, 0),
                "touched_outside": {}, "touched_previous": {}, "current_set": 0}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling: the state as pickled, under a new :attr:`version` (a stamp of another
        process, or of the state this one had then, must not be taken for a current one)."""
        self.__dict__.update(state)
        self.version = self.reshaped = self._epochs_from = next(_STAMPS)
        self.touched = {}
        self.touched_totals = {}
        self._epochs = []
        self.minute_marks = {}
        self.current_us, self.current_set = (0, 0, 0), 0
        self.touched_outside, self.touched_previous = {}, {}
        self._group_agents()  # (a snapshot of any version holds the agents alone)

    def _group_agents(self) -> None:
        """:attr:`agent_groups` from :attr:`agents`."""
        groups: dict[tuple[str, tuple[str, ...]], dict[str, int]] = {}
        for key, (state, queues, since_us) in self.agents.items():
            groups.setdefault((state, queues), {})[key] = since_us
        self.agent_groups = groups
        self.agent_group_stamps = dict.fromkeys(groups, self.version)

    # ------------------------------------------------------------------ what changed
    def seal(self) -> None:
        """Close the current epoch of :attr:`touched` and :attr:`touched_totals` (a scrape,
        before it reads them): the keys changed from now on go into new dicts. Changes
        nothing a reader computes from; the last :data:`EPOCHS_KEPT` epochs are kept."""
        if not (self.touched or self.touched_totals):
            return
        self._epochs.append((self.version, self.touched, self.touched_totals))
        self.touched, self.touched_totals = {}, {}
        if len(self._epochs) > EPOCHS_KEPT:
            self._epochs_from = self._epochs.pop(0)[0]

    def changed_after(self, since: int, totals: bool) -> list[Any] | None:
        """The keys of :attr:`touched_totals` (``totals``) or :attr:`touched` changed after
        the stamp ``since`` (not reshaped since), once each; None when that is no longer
        known (``since`` before the oldest epoch kept)."""
        if since < self._epochs_from:
            return None
        which = 2 if totals else 1
        dicts = [epoch[which] for epoch in self._epochs if epoch[0] > since]
        dicts.append(self.touched_totals if totals else self.touched)
        if len(dicts) == 1:
            return [k for k, stamp in dicts[0].items() if stamp > since]
        found: dict[Any, None] = {}
        for touched in dicts:
            found.update((k, None) for k, stamp in touched.items() if stamp > since)
        return list(found)

    def minutes_changed(self, key: tuple[str, str], before_us: int, since: int) -> bool:
        """Whether a minute bucket of ``key`` (queue, channel) that starts before
        ``before_us`` (a minute's start, µs) may have changed after the stamp ``since``:
        False only when every booking since went into a minute at or after it (a floor's
        events book into the current minute, so a scrape's Erlang loads keep their trailing
        30 minutes summed, ``streams.core.staffing``). True when unknown (no minute booked
        in this process, or since its minutes were all pruned). Pruning reshapes the ledger
        (readers then read everything)."""
        mark = self.minute_marks.get(key)
        if mark is None:
            return True
        newest, stamp_newest, stamp_older = mark
        return stamp_older > since or (newest < before_us and stamp_newest > since)

    def _reshape(self) -> None:
        """A change that may reach any key: stamped in :attr:`reshaped`, every epoch of
        what changed dropped."""
        self.version = self.reshaped = self._epochs_from = next(_STAMPS)
        self._epochs.clear()
        self.touched_outside.clear()  # a reader reads everything after a reshape
        self.touched_previous.clear()

    def watch_current(self, previous_us: int, start_us: int, end_us: int) -> int:
        """From now on, stamp each (queue, channel) booked at an instant outside
        ``[previous_us, end_us)`` in :attr:`touched_outside`, and in ``[previous_us,
        start_us)`` in :attr:`touched_previous` (:attr:`current_us`); a stamp of this call,
        which :attr:`current_set` keeps while no other call is made."""
        self.current_us = (previous_us, start_us, end_us)
        self.current_set = next(_STAMPS)
        return self.current_set

    def booked_where(self, key: tuple[str, str], since: int) -> int:
        """Where (queue, channel) ``key`` was booked after the stamp ``since`` (a reader's
        last look at :attr:`version`), of :attr:`current_us`: 2 outside ``[previous,
        end)``, 1 in ``[previous, start)``, else 0 (in ``[start, end)``, or not at all)."""
        if self.touched_outside.get(key, 0) > since:
            return 2
        return 1 if self.touched_previous.get(key, 0) > since else 0

    # ------------------------------------------------------------------ calendars
    def calendar(self, queue: str) -> QueueCalendar:
        """The queue's calendar: one per configured queue, one shared by all the others (a
        calendar depends on its settings alone, and a flood of queue names must not cost a
        calendar each)."""
        cal = self._calendars.get(queue)
        if cal is None:
            if queue in self.config.queues:
                s = self.config.queues[queue]
                cal = QueueCalendar(s.timezone, s.interval_minutes, s.day_start_minutes)
                self._calendars[queue] = cal
            else:
                cal = self._default_calendar
                if cal is None:
                    s = self.config.defaults
                    cal = QueueCalendar(s.timezone, s.interval_minutes, s.day_start_minutes)
                    self._default_calendar = cal
        return cal

    # ------------------------------------------------------------------ admission
    def saw_queues(self, queues: Iterable[str], at_us: int) -> None:
        """Note that ``queues`` were named by an event at ``at_us`` (keeps the earliest)."""
        see = self.admission.see
        for q in queues:
            see(q, at_us)

    # ------------------------------------------------------------------ applying
    def add(self, key: str, contributions: Iterable[Contribution], times: int = 1) -> None:
        """Add ``contributions`` of entity ``key`` ``times`` times (``-1`` retracts them).

        Consecutive bookings at one queue, channel and instant (an answered call's answer,
        wait and answer within the threshold; a handled contact's count and handle time) find
        their window buckets once: over half of a call stream's bookings follow one at the
        same place, and the same state results as booking each alone (:meth:`add_one`)."""
        run: list[Any] | None = None
        add_one = self.add_one
        for c in contributions:
            if c.__class__ is not Booking:
                add_one(key, c, times)
                continue
            queue, channel, at_us, field, amount = c
            if run is None or run[0] != at_us or run[1] != queue or run[2] != channel:
                run = self._run(queue, channel, at_us)
            self.version = next(_STAMPS)
            self._book_run(run, field, amount * times)

    def retract(self, key: str, contributions: Iterable[Contribution]) -> None:
        self.add(key, contributions, -1)

    def add_one(self, key: str, c: Contribution, times: int) -> None:
        self.version = next(_STAMPS)
        # Dispatch on the exact type and unpack (faster than attribute access, per event).
        cls = c.__class__
        if cls is Booking:
            queue, channel, at_us, field, amount = c
            self._book(queue, channel, at_us, field, amount * times)
        elif cls is Count:
            metric, labels, amount = c
            k = (metric, labels)
            self.touched_totals[k] = self.version
            value = self.counters.get(k, 0) + amount * times
            if value or times > 0:
                self.counters[k] = value
            else:  # fully retracted: as if never added (a rebuild would not have it)
                del self.counters[k]
        elif cls is Observe:
            metric, labels, value_us = c
            self._observe(metric, labels, value_us, times)
        elif cls is Waiting:
            queue, channel, queued_us = c
            self.touched[(queue, channel)] = self.version
            segs = self.waiting.setdefault((queue, channel), {})
            k2 = (key, queued_us)
            n = segs.get(k2, 0) + times
            if n > 0:
                segs[k2] = n
            else:
                segs.pop(k2, None)
                if not segs:
                    del self.waiting[(queue, channel)]
        elif cls is Span:
            queue, state, start_us, end_us = c
            self._book_span(queue, state, start_us, end_us, times)
        elif cls is AgentNow:
            state, queues, since_us = c
            if times > 0:
                old = self.agents.get(key)
                if old is not None:
                    self._ungroup_agent(key, old)
                self.agents[key] = c  # type: ignore[assignment]
                group = self.agent_groups.get((state, queues))
                if group is None:
                    group = self.agent_groups[(state, queues)] = {}
                group[key] = since_us
                self.agent_group_stamps[(state, queues)] = self.version
            elif self.agents.get(key) == c:
                del self.agents[key]
                self._ungroup_agent(key, c)  # type: ignore[arg-type]
        elif cls is TicketNow:
            if times > 0:
                self.tickets[key] = c  # type: ignore[assignment]
                self._open_ticket(c, 1)  # type: ignore[arg-type]
            elif self.tickets.get(key) == c:
                del self.tickets[key]
                self._open_ticket(c, -1)  # type: ignore[arg-type]
        elif self.per_agent is not None:  # AgentBooking, AgentSpan (per_agent on)
            self.per_agent.add(key, c, times)

    def _ungroup_agent(self, key: str, now: AgentNow) -> None:
        """Take agent ``key`` (live state ``now``) out of its group in :attr:`agent_groups`."""
        group_key = (now[0], now[1])
        group = self.agent_groups.get(group_key)
        if group is not None:
            group.pop(key, None)
            if group:
                self.agent_group_stamps[group_key] = self.version
            else:
                del self.agent_groups[group_key]
                del self.agent_group_stamps[group_key]

    def _open_ticket(self, t: TicketNow, step: int) -> None:
        qc = (t.queue, t.channel)
        qcp = (t.queue, t.channel, t.priority)
        _add_count(self.tickets_open, qcp, step)
        if t.awaiting_reply:
            _add_count(self.tickets_awaiting, qc, step)
        _add_time(self.tickets_created_at, qc, t.created_us, step)
        if t.first_response_due_us is not None:
            _add_time(self.tickets_due_at, qcp, t.first_response_due_us, step)

    def _observe(self, metric: str, labels: tuple[str, ...], value_us: int, times: int) -> None:
        bounds = self._bounds_us[metric]
        self.touched_totals[(metric, labels)] = self.version
        row = self.histograms.get((metric, labels))
        if row is None:
            row = self.histograms[(metric, labels)] = [0] * (len(bounds) + 2)
        row[bisect_left(bounds, value_us)] += times  # le is inclusive: value <= bound
        row[-1] += value_us * times
        if times < 0 and not any(row):
            del self.histograms[(metric, labels)]  # fully retracted

    def _book(self, queue: str, channel: str, at_us: int, field: str, amount: int) -> None:
        """Book ``amount`` of ``field`` at ``at_us`` in the queue's interval, day and (for
        :data:`MINUTE_FIELDS`) minute buckets; the caller stamps :attr:`version`."""
        self._book_run(self._run(queue, channel, at_us), field, amount)

    def _run(self, queue: str, channel: str, at_us: int) -> list[Any]:
        """The buckets bookings at ``at_us`` of (``queue``, ``channel``) go into, made if
        absent: ``[at_us, queue, channel, key, interval fields, day fields, minute fields or
        None until a minute field is booked]``."""
        cal = self._calendars.get(queue) or self.calendar(queue)
        key = (queue, channel)
        buckets = self.intervals.get(key)
        if buckets is None:
            buckets = self.intervals[key] = {}
        days = self.days.get(key)
        if days is None:
            days = self.days[key] = {}
        interval_start, day_start = cal.starts(at_us)
        fi = buckets.get(interval_start)
        if fi is None:
            fi = self._new_bucket(buckets, interval_start)
        fd = days.get(day_start)
        if fd is None:
            fd = self._new_bucket(days, day_start)
        previous, start, end = self.current_us
        if not start <= at_us < end:  # stamped above the version its booking will have
            if previous <= at_us < end:
                self.touched_previous[key] = self.version + 1
            else:
                self.touched_outside[key] = self.version + 1
        return [at_us, queue, channel, key, fi, fd, None]

    def _book_run(self, run: list[Any], field: str, amount: int) -> None:
        """Book ``amount`` of ``field`` into the buckets of ``run`` (:meth:`_run`)."""
        key = run[3]
        self.touched[key] = self.version
        _add_field(run[4], field, amount)
        _add_field(run[5], field, amount)
        if field in MINUTE_FIELDS:
            at_us = run[0]
            minute_start = at_us - at_us % MINUTE_US
            mark = self.minute_marks.get(key)
            if mark is None:  # older minutes may exist (restored): changed, to be safe
                self.minute_marks[key] = [minute_start, self.version, self.version]
            elif minute_start == mark[0]:
                mark[1] = self.version
            elif minute_start > mark[0]:
                mark[0], mark[2] = minute_start, max(mark[1], mark[2])
                mark[1] = self.version
            else:
                mark[2] = self.version
            f = run[6]
            if f is None:
                minutes = self.minutes.get(key)
                if minutes is None:
                    minutes = self.minutes[key] = {}
                f = minutes.get(minute_start)
                if f is None:
                    f = self._new_bucket(minutes, minute_start)
                run[6] = f
            _add_field(f, field, amount)

    def _new_bucket(self, buckets: dict[int, Fields], start: int) -> Fields:
        """A new empty bucket at ``start`` in ``buckets``, which are then noted as
        unordered if an existing bucket starts after it."""
        if buckets and start < next(reversed(buckets)):
            self._unordered[id(buckets)] = buckets
        f: Fields = {}
        buckets[start] = f
        return f

    def _book_span(self, queue: str, state: str, start: int, end: int, times: int) -> None:
        """Split an agent's state span over the interval and day windows it crosses."""
        cal = self.calendar(queue)
        field = "t_" + state
        key = (queue, "")
        self.touched[key] = self.version
        previous, inside_from, inside_to = self.current_us
        if times < 0 or not inside_from <= start <= end <= inside_to:
            # (a span retracted may leave its fields at 0 in its buckets: whether the day's
            # sums then hold such a field is known from the buckets alone)
            if times > 0 and previous <= start <= end <= inside_to:
                self.touched_previous[key] = self.version
            else:
                self.touched_outside[key] = self.version
        ib = self.intervals.setdefault(key, {})
        db = self.days.setdefault(key, {})
        at = start
        while at < end:
            istart = cal.interval_start(at)
            stop = min(end, istart + cal.interval_us)
            f = ib.get(istart)
            if f is None:
                f = self._new_bucket(ib, istart)
            f[field] = f.get(field, 0) + (stop - at) * times
            at = stop
        at = start
        while at < end:
            dstart, dend = cal.day_bounds(at)
            stop = min(end, dend)
            f = db.get(dstart)
            if f is None:
                f = self._new_bucket(db, dstart)
            f[field] = f.get(field, 0) + (stop - at) * times
            at = stop

    # ------------------------------------------------------------------ upkeep
    def prune_windows(self, before_us: int, minutes_before_us: int | None = None) -> None:
        """Forget window buckets that started before ``before_us`` (no window can show them),
        minute buckets before ``minutes_before_us`` (default ``before_us``; they serve only
        the trailing Erlang window, so the engine keeps them for less), and the queues left
        with none: a flood of queue names costs nothing once its windows have passed. When
        there is none to forget nothing changes, not even the stamps: the engine's prunes
        call this about once a stream hour, and a reshaped ledger is read whole by the next
        scrape."""
        unordered = self._unordered
        for noted in list(islice(unordered, SORTS_PER_PRUNE)):
            buckets = unordered.pop(noted)  # in order again, in place (the same dict)
            ordered = sorted(buckets.items())
            buckets.clear()
            buckets.update(ordered)
        old = []
        minutes_cut = before_us if minutes_before_us is None else minutes_before_us
        for store, cut in ((self.intervals, before_us), (self.days, before_us),
                           (self.minutes, minutes_cut)):
            for buckets in store.values():
                if id(buckets) in unordered:  # not sorted yet: every bucket read
                    starts = [s for s in buckets if s < cut]
                else:
                    starts = []
                    for s in buckets:  # ascending: the old ones first
                        if s >= cut:
                            break
                        starts.append(s)
                if starts:
                    old.append((buckets, starts))
        if not old and (self.per_agent is None or not self.per_agent.starts_before(before_us)):
            return
        self._reshape()
        self.touched.clear()
        self.touched_totals.clear()
        if self.per_agent is not None:
            self.per_agent.prune(before_us)
        for buckets, starts in old:
            for start in starts:
                del buckets[start]
        # The KPI layer reads a queue's days beside its intervals: both go, or neither.
        for key in [k for k, b in self.intervals.items() if not b and not self.days.get(k)]:
            unordered.pop(id(self.intervals.pop(key)), None)
            unordered.pop(id(self.days.pop(key, None)), None)
        for key in [k for k, b in self.minutes.items() if not b]:
            unordered.pop(id(self.minutes.pop(key)), None)
            self.minute_marks.pop(key, None)  # its next minute: unknown history, as at first

    def move_totals(self, metric: str, labels: tuple[str, ...], into: tuple[str, ...],
                    value: int | list[int]) -> None:
        """Move ``value`` (a counter's amount or a histogram row, as :attr:`counters` or
        :attr:`histograms` hold) of ``metric`` from ``labels`` to ``into``; what is left at 0
        is removed, as if never booked."""
        self._reshape()
        self.touched_totals.clear()
        store: dict[Any, Any] = self.histograms if isinstance(value, list) else self.counters
        for key, sign in (((metric, labels), -1), ((metric, into), 1)):
            prev = store.get(key)
            if isinstance(value, list):
                row = [sign * v for v in value] if prev is None else [
                    a + sign * b for a, b in zip(prev, value, strict=True)]
                if any(row):
                    store[key] = row
                else:
                    store.pop(key, None)
            else:
                total = (prev or 0) + sign * value
                if total:
                    store[key] = total
                else:
                    store.pop(key, None)

    def export_totals(self) -> dict[str, Any]:
        """Counters and histograms as plain data (to persist what retired entities added)."""
        return {
            "c": [[m, list(lbl), v] for (m, lbl), v in self.counters.items()],
            "h": [[m, list(lbl), row] for (m, lbl), row in self.histograms.items()],
        }

    def add_totals(self, totals: dict[str, Any], scale_sums: int = 1) -> None:
        """Add persisted counters and histograms (:meth:`export_totals`); ``scale_sums``
        converts histogram sums of an older format (milliseconds) to microseconds."""
        self._reshape()
        self.touched_totals.clear()
        for metric, labels, value in totals.get("c", []):
            k = (metric, tuple(labels))
            self.counters[k] = self.counters.get(k, 0) + value
        for metric, labels, row in totals.get("h", []):
            k = (metric, tuple(labels))
            row = [int(v) for v in row[:-1]] + [round(row[-1] * scale_sums)]
            prev = self.histograms.get(k)
            self.histograms[k] = row if prev is None else [
                a + b for a, b in zip(prev, row, strict=True)]
