"""From ledgers and a clock to metric families (docs/contract.md §3, §4), as plain data.

Sums are merged first (over the partitions a worker owns, after mapping queues beyond
``max_queues`` to ``other``) and KPIs computed last, so a ratio is always numerator-sum over
denominator-sum, never an average of ratios. A ratio with a zero denominator is not exported.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from itertools import accumulate
from typing import Any

from streams.core import contributions as F
from streams.core.admission import QueueLabels
from streams.core.calendar import QueueCalendar
from streams.core.config import Config
from streams.core.contributions import AGENT_STATES, CONTACT_CHANNELS, OCCUPANCY_STATES, STALE
from streams.core.customers import customer_families
from streams.core.entities.customer import month_calendar
from streams.core.ledger import MINUTE_US, Ledger
from streams.core.metrics import Family, new_family

WINDOWS = ("interval", "previous_interval", "today")
#: What one :func:`all_families` call computes once for all its builders (pure: a cache
#: that lives for the call only).
_SCRAPE: ContextVar[dict[Any, Any] | None] = ContextVar("ccpulse_scrape", default=None)
SECOND_US = 1_000_000
#: What the last :func:`all_families` computed from the ledgers' contents (and the window
#: boundaries) alone, kept for the next call: see :class:`_Reuse`.
_LAST: list[_Reuse] = []


_COUNTERS = {
    "offered": "cc_contacts_offered_total",
    "answered": "cc_contacts_answered_total",
    "abandoned": "cc_contacts_abandoned_total",
    "short_abandoned": "cc_contacts_short_abandoned_total",
    "flowed_out": "cc_contacts_flowed_out_total",
    "answered_within": "cc_contacts_answered_within_threshold_total",
    "handled": "cc_contacts_handled_total",
    "blocked": "cc_calls_blocked_total",
    STALE: "cc_contacts_stale_total",
    "resolved_first_contact": "cc_contacts_resolved_first_contact_total",
    "chat_responses": "cc_chat_responses_total",
}
#: Counters of summed times, kept in integer µs (exact in any order), exported in seconds.
_SECONDS_COUNTERS = {"chat_response_us": "cc_chat_response_seconds_total"}

_HISTOGRAMS = {"wait": "cc_contact_wait_seconds", "handle": "cc_contact_handle_seconds"}


def _sum_fields(into: dict[str, float], fields: dict[str, int] | None) -> None:
    if fields:
        for k, v in fields.items():
            into[k] = into.get(k, 0) + v


def _open_span_us(start: int, end: int, lo: int, hi: int) -> int:
    return max(0, min(end, hi) - max(start, lo))


def all_families(config: Config, ledgers: Sequence[Ledger], now_us: int,
                 live_us: Sequence[int] | None = None) -> list[Family]:
    """Every KPI family of contract §4 (pipeline health aside) at the engine clock ``now_us``:
    the one entry point of the worker's ``/metrics`` and the replay. A pure read.

    ``live_us`` (one per ledger, each at most ``now_us``) is the instant each ledger's live
    contact and ticket ages are shown as of (see :func:`contact_families`); by default
    ``now_us``."""
    from streams.core.agent_kpis import per_agent_families
    from streams.core.ticket_kpis import feedback_families, ticket_families

    reuse = _reuse_for(config, ledgers, now_us)
    token = _SCRAPE.set({"reuse": reuse.results})  # the window sums etc., computed once
    try:
        # The customer families follow the clock only by its month (streams.core.customers).
        month = month_calendar(config.customers.timezone).month(now_us)
        return [
            *contact_families(config, ledgers, now_us, live_us),
            *_reused(("customers", month),
                     lambda: customer_families(config, ledgers, now_us)),
            *ticket_families(config, ledgers, now_us, live_us),
            *feedback_families(config, ledgers, now_us),
            *per_agent_families(config, ledgers, now_us),
        ]
    finally:
        _SCRAPE.reset(token)


class _Reuse:
    """The state a scrape read — the ledgers (each one's identity and :attr:`Ledger.version`),
    the queue labels, the configuration and the window boundaries at the clock — with
    ``results``: what was computed from that state and nothing else (not the clock itself:
    live ages and open spans are computed at every scrape). A scrape of the same state
    reuses them, so a quiet worker's scrape costs only what moves with the clock.

    Exact: a ledger's version is stamped anew at every change of its contents
    (``streams.core.ledger``), a ledger is held by a weak reference (an id is never mistaken
    for a new ledger's), the labels are compared by value, and everything keyed by windows is
    keyed by every calendar's window boundaries at the clock."""

    def __init__(self, config: Config, ledgers: Sequence[Ledger], allowed: dict[str, None],
                 windows: tuple[Any, ...]) -> None:
        self.config = config
        self.refs = [weakref.ref(ledger) for ledger in ledgers]
        self.versions = [ledger.version for ledger in ledgers]
        self.allowed = allowed
        self.windows = windows
        self.results: dict[Any, Any] = {}

    def holds(self, config: Config, ledgers: Sequence[Ledger], allowed: dict[str, None],
              windows: tuple[Any, ...]) -> bool:
        return (config is self.config and len(ledgers) == len(self.refs)
                and all(ref() is ledger for ref, ledger in zip(self.refs, ledgers, strict=True))
                and [ledger.version for ledger in ledgers] == self.versions
                and windows == self.windows and allowed == self.allowed)


def _windows_at(config: Config, now_us: int) -> tuple[Any, ...]:
    """The window boundaries (:meth:`QueueCalendar.windows`) at ``now_us`` of every calendar
    the configuration gives a queue (a calendar is a function of these settings alone)."""
    settings = {(s.timezone, s.interval_minutes, s.day_start_minutes)
                for s in (config.defaults, *config.queues.values())}
    return tuple((key, QueueCalendar(*key).windows(now_us)) for key in sorted(settings))


def _reuse_for(config: Config, ledgers: Sequence[Ledger], now_us: int) -> _Reuse:
    """The reusable results of the last scrape when it read the same state, else a new,
    empty set of them (the last one's are dropped)."""
    label = QueueLabels(config, ledgers)
    windows = _windows_at(config, now_us)
    if _LAST and _LAST[0].holds(config, ledgers, label._allowed, windows):
        return _LAST[0]
    _LAST[:] = [_Reuse(config, ledgers, dict(label._allowed), windows)]
    _LAST[0].results["labels"] = label
    return _LAST[0]


def queue_labels(config: Config, ledgers: Sequence[Ledger]) -> QueueLabels:
    """``QueueLabels(config, ledgers)``; inside :func:`all_families`, the scrape's."""
    return _reused_value("labels", lambda: QueueLabels(config, ledgers))  # type: ignore[no-any-return]


def _reused_value(key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, or inside :func:`all_families` its result for the same state if already
    computed (shared: callers only read it). A key ``(name, *rest)`` keeps only the latest
    ``rest`` of its name (the clock's minute, say: a quiet day must not pile them up)."""
    memo = _SCRAPE.get()
    if memo is None:
        return compute()
    results = memo["reuse"]
    if isinstance(key, tuple):
        name, rest = key[0], key[1:]
        found = results.get(name)
        if found is None or found[0] != rest:
            found = results[name] = (rest, compute())
        return found[1]
    found = results.get(key)
    if found is None:
        found = results[key] = compute()
    return found


def _reused(key: Any, compute: Callable[[], list[Family]]) -> list[Family]:
    """:func:`_reused_value` for families: always families of their own (a caller may add
    to them)."""
    return copy_families(_reused_value(key, compute))


def copy_families(fams: Sequence[Family]) -> list[Family]:
    """New families with the samples of ``fams`` (the sample values shared, not changed)."""
    return [Family(f.name, f.kind, f.help, f.labels, dict(f.samples)) for f in fams]


def contact_families(config: Config, ledgers: Sequence[Ledger], now_us: int,
                     live_us: Sequence[int] | None = None) -> list[Family]:
    """Every contact, blocked-call and agent family of contract §4 at the engine clock ``now_us``.

    ``live_us[i]`` is the instant the live contact gauges (waiting now, oldest wait, stale)
    of ``ledgers[i]`` are shown as of: ``now_us`` for a ledger whose feed is live (the
    default, and always in the replay), its feed's time for one that is behind (a worker
    catching up; ``streams.worker.state`` decides). Windows always follow ``now_us``.

    A pure read: two calls with the same ledgers and clocks give the same families.
    """
    label = queue_labels(config, ledgers)
    fams: list[Family] = []
    totals = _reused("contact totals", lambda: _contact_totals(ledgers, label))
    counters = dict(zip((*_COUNTERS, *_SECONDS_COUNTERS), totals, strict=False))
    hists = dict(zip(_HISTOGRAMS, totals[len(counters):], strict=True))

    clocks = [now_us] * len(ledgers) if live_us is None else live_us
    live = _live_contact_families(config, ledgers, label, clocks, counters[STALE])
    fams.extend(counters.values())
    fams.extend(hists.values())
    fams.extend(live)
    fams.extend(_reused("window families",
                        lambda: _window_families(config, ledgers, label, now_us)))
    fams.extend(_agent_families(config, ledgers, label, now_us))
    from streams.core.staffing import erlang_families  # staffing reads this module's sums

    # The Erlang families follow the clock by its minute (the trailing 30 minutes), its
    # windows (today's AHT) and which waiting segments are stale (streams.core.staffing).
    stale = bisect_left(_reused_value("stale instants", lambda: _stale_instants(config, ledgers)),
                        now_us)
    fams.extend(_reused(("erlang", now_us - now_us % MINUTE_US, stale),
                        lambda: erlang_families(config, ledgers, now_us, label)))
    return fams


def _stale_instants(config: Config, ledgers: Sequence[Ledger]) -> list[int]:
    """When each waiting segment turns stale, ascending: a segment is stale at ``now_us``
    when its instant is before it (``queued_us < now_us - stale_after_us``), so the stale
    segments at ``now_us`` are the first ``bisect_left(instants, now_us)``."""
    instants = []
    for ledger in ledgers:
        for (queue, _), segs in ledger.waiting.items():
            after_us = config.queue(queue).stale_after_us
            instants.extend(queued_us + after_us for _, queued_us in segs)
    instants.sort()
    return instants


def _contact_totals(ledgers: Sequence[Ledger], label: QueueLabels) -> list[Family]:
    """The contact counters (:data:`_COUNTERS`, :data:`_SECONDS_COUNTERS`, in that order) and
    histograms (:data:`_HISTOGRAMS`): functions of the ledgers' contents alone."""
    counters = {k: new_family(name) for k, name in (*_COUNTERS.items(),
                                                    *_SECONDS_COUNTERS.items())}
    for ledger in ledgers:
        for (metric, labels), value in ledger.counters.items():
            fam = counters.get(metric)
            if fam is not None:  # other kinds' counters are exported by their own builders
                fam.add((label(labels[0]), *labels[1:]), value)
    for metric in _SECONDS_COUNTERS:
        fam = counters[metric]
        fam.samples = {k: v / SECOND_US for k, v in fam.samples.items()}
    for key in counters["handled"].samples:  # a counter starts at 0 beside its denominator
        counters["resolved_first_contact"].samples.setdefault(key, 0)
    for key in counters["chat_responses"].samples:
        counters["chat_response_us"].samples.setdefault(key, 0.0)

    hists = {k: new_family(name) for k, name in _HISTOGRAMS.items()}
    for ledger in ledgers:
        for (metric, labels), row in ledger.histograms.items():
            fam = hists.get(metric)
            if fam is None:
                continue
            key = (label(labels[0]), *labels[1:])
            prev = fam.samples.get(key)
            bounds = ledger.bounds[metric]
            if prev is None:
                fam.samples[key] = (bounds, list(row[:-1]), row[-1])
            else:
                fam.samples[key] = (bounds, [a + b for a, b in zip(prev[1], row[:-1], strict=True)],
                                    prev[2] + row[-1])
    for fam in hists.values():  # sums were kept in integer µs (exact); export seconds
        for key, (bounds, counts, total_us) in fam.samples.items():
            fam.samples[key] = (bounds, counts, total_us / SECOND_US)

    return [*counters.values(), *hists.values()]


def _live_contact_families(
    config: Config, ledgers: Sequence[Ledger], label: QueueLabels, live_us: Sequence[int],
    stale: Family
) -> list[Family]:
    """Waiting now and the oldest wait, leaving out stale segments — which ``stale`` (the
    counter, so far holding segments whose outcome came after they turned stale) counts.
    Stale is a function of the state and the clock: serving a scrape writes nothing.

    Each ledger is read at its own live clock ``live_us[i]``: the ages of its segments and
    the stale cut-off are measured from it (a segment queued after it is 0 s old)."""
    waiting = new_family("cc_queue_contacts_waiting")
    oldest = new_family("cc_queue_oldest_wait_seconds")
    for key in _reused_value("offered keys", lambda: _offered_keys(ledgers, label)):
        waiting.samples.setdefault(key, 0)
        oldest.samples.setdefault(key, 0.0)
        stale.samples.setdefault(key, 0)
    for ledger, now_us in zip(ledgers, live_us, strict=True):
        for (queue, channel), segs in ledger.waiting.items():
            key = (label(queue), channel)
            stale_before = now_us - config.queue(queue).stale_after_us
            for (_, queued_us), n in segs.items():
                if queued_us < stale_before:
                    stale.add(key, n)
                    continue
                waiting.add(key, n)
                age = max(0.0, (now_us - queued_us) / SECOND_US)
                if age > oldest.samples.get(key, 0.0):
                    oldest.samples[key] = age
    return [waiting, oldest]


def _offered_keys(ledgers: Sequence[Ledger], label: QueueLabels) -> list[tuple[str, str]]:
    """(queue label, channel) of every offered counter, in the ledgers' order."""
    return list(dict.fromkeys((label(labels[0]), labels[1]) for ledger in ledgers
                              for (metric, labels) in ledger.counters if metric == "offered"))


def _window_sums(
    ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
) -> dict[tuple[str, str, str], dict[str, float]]:
    """(queue label, channel, window) -> summed fields; channel "" holds agent time.

    Within :func:`all_families` (same ledgers and labels) computed once for a state and its
    windows, and shared: callers only read it."""
    memo = _SCRAPE.get()
    results = memo["reuse"] if memo is not None else None  # this state's, at these windows
    if results is not None and "window sums" in results:
        return results["window sums"]
    sums: dict[tuple[str, str, str], dict[str, float]] = {}
    windows_of: dict[Any, tuple[int, int, int]] = {}  # calendar -> its windows at now_us
    for ledger in ledgers:
        for (queue, channel), buckets in ledger.intervals.items():
            cal = ledger.calendar(queue)
            found = windows_of.get(cal)
            if found is None:
                found = windows_of[cal] = cal.windows(now_us)
            current, previous, day = found
            days = ledger.days[(queue, channel)]
            q = label(queue)
            windows = (("interval", buckets.get(current)),
                       ("previous_interval", buckets.get(previous)),
                       ("today", days.get(day)))
            if not any(fields for _, fields in windows):
                continue  # nothing now (e.g. only bookings since retracted): no series
            for window, fields in windows:  # the other windows of a live one show 0
                _sum_fields(sums.setdefault((q, channel, window), {}), fields)
    if results is not None:
        results["window sums"] = sums
    return sums


def _ratio(fam: Family, labels: tuple[str, ...], num: float, den: float) -> None:
    if den > 0:
        fam.samples[labels] = num / den


def service_level_parts(policy: Any, f: dict[str, float]) -> tuple[float, float]:
    """``(met, counted)`` of docs/contract.md §3.2 for one window's fields under ``policy``:
    A≤T (+ B≤T when abandons are positive) (+ F≤T when flow-outs are positive) over
    A (+ B unless abandons are ignored) (+ F unless flow-outs are ignored). With
    ``flow_outs`` given per reason, F and F≤T are summed over the reasons by each one's rule."""
    met = f.get(F.ANSWERED_WITHIN, 0)
    counted = f.get(F.ANSWERED, 0)
    if policy.abandons != "ignored":
        counted += f.get(F.ABANDONED, 0)
        if policy.abandons == "positive":
            met += f.get(F.ABANDONED_WITHIN, 0)
    flow_outs = policy.flow_outs
    if isinstance(flow_outs, str):  # every reason alike: the totals
        rules = ((flow_outs, F.FLOWED_OUT, F.FLOWED_OUT_WITHIN),)
    else:
        rules = tuple((rule, F.FLOWED_OUT_FOR + reason, F.FLOWED_OUT_WITHIN_FOR + reason)
                      for reason, rule in flow_outs.items())
    for rule, flowed, flowed_within in rules:
        if rule != "ignored":
            counted += f.get(flowed, 0)
            if rule == "positive":
                met += f.get(flowed_within, 0)
    return met, counted


_WINDOW_FAMILIES = (
    "cc_window_contacts_offered", "cc_window_contacts_answered", "cc_window_contacts_abandoned",
    "cc_window_contacts_handled", "cc_window_calls_blocked", "cc_window_requests",
    "cc_service_level_ratio", "cc_service_level_target_ratio",
    "cc_average_speed_of_answer_seconds", "cc_abandon_ratio", "cc_blocking_ratio",
    "cc_average_handle_time_seconds", "cc_first_contact_resolution_ratio",
    "cc_chat_response_average_seconds",
    "cc_window_contacts_answered_within_threshold", "cc_window_contacts_flowed_out",
    "cc_window_contacts_short_abandoned", "cc_window_contacts_service_level_met",
    "cc_window_contacts_service_level_counted", "cc_window_contact_wait_seconds_sum",
    "cc_window_contacts_left_queue", "cc_window_contact_handle_seconds_sum",
    "cc_window_contacts_resolved_first_contact", "cc_window_calls_attempted",
    "cc_window_chat_response_seconds_sum", "cc_window_chat_responses",
)


def _window_families(
    config: Config, ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
) -> list[Family]:
    g = {name: new_family(name) for name in _WINDOW_FAMILIES}
    sums = _window_sums(ledgers, label, now_us)
    policies: dict[tuple[str, str], Any] = {}
    for ledger in ledgers:  # contact gauges exist for every (queue, channel) that was offered
        for (metric, labels) in ledger.counters:
            if metric == "offered" and labels[1] in CONTACT_CHANNELS:
                queue, channel = labels
                key = (label(queue), channel)
                if key not in policies:  # every name labelled other shares the defaults'
                    policies[key] = config.policy(queue, channel)
    blocked_by_qw: dict[tuple[str, str], float] = {}
    offered_voice_by_qw: dict[tuple[str, str], float] = {}
    requests: dict[tuple[str, str], float] = {}
    chat_by_qw: dict[tuple[str, str], list[float]] = {}
    for (q, channel, window), f in sums.items():
        if not channel:
            continue
        offered = f.get(F.OFFERED, 0)
        blocked = f.get(F.BLOCKED, 0)
        requests[(channel, window)] = (requests.get((channel, window), 0) + offered + blocked
                                       + f.get(F.TICKETS_CREATED, 0))
        if channel == "voice":
            blocked_by_qw[(q, window)] = blocked_by_qw.get((q, window), 0) + blocked
            offered_voice_by_qw[(q, window)] = offered_voice_by_qw.get((q, window), 0) + offered
        if f.get(F.CHAT_RESPONSES):
            acc = chat_by_qw.setdefault((q, window), [0.0, 0.0])
            acc[0] += f.get(F.CHAT_RESPONSE_US, 0)
            acc[1] += f[F.CHAT_RESPONSES]
        policy = policies.get((q, channel))
        if policy is None:  # a channel that only ever had blocked calls booked
            continue
        labels = (q, channel, window)
        answered = f.get(F.ANSWERED, 0)
        abandoned = f.get(F.ABANDONED, 0)
        flowed = f.get(F.FLOWED_OUT, 0)
        handled = f.get(F.HANDLED, 0)
        wait_s = f.get(F.WAIT_ANSWERED_US, 0) / SECOND_US
        handle_s = f.get(F.HANDLE_US, 0) / SECOND_US
        resolved = f.get(F.RESOLVED_FIRST_CONTACT, 0)
        left_queue = answered + abandoned + flowed
        met, counted = service_level_parts(policy, f)
        for name, value in (
            ("cc_window_contacts_offered", offered),
            ("cc_window_contacts_answered", answered),
            ("cc_window_contacts_abandoned", abandoned),
            ("cc_window_contacts_handled", handled),
            ("cc_service_level_target_ratio", policy.target_ratio),
            ("cc_window_contacts_answered_within_threshold", f.get(F.ANSWERED_WITHIN, 0)),
            ("cc_window_contacts_flowed_out", flowed),
            ("cc_window_contacts_short_abandoned", f.get(F.SHORT_ABANDONED, 0)),
            ("cc_window_contacts_service_level_met", met),
            ("cc_window_contacts_service_level_counted", counted),
            ("cc_window_contact_wait_seconds_sum", wait_s),
            ("cc_window_contacts_left_queue", left_queue),
            ("cc_window_contact_handle_seconds_sum", handle_s),
            ("cc_window_contacts_resolved_first_contact", resolved),
        ):
            g[name].samples[labels] = value
        _ratio(g["cc_service_level_ratio"], labels, met, counted)
        _ratio(g["cc_average_speed_of_answer_seconds"], labels, wait_s, answered)
        _ratio(g["cc_abandon_ratio"], labels, abandoned, left_queue)
        _ratio(g["cc_average_handle_time_seconds"], labels, handle_s, handled)
        _ratio(g["cc_first_contact_resolution_ratio"], labels, resolved, handled)
    for (q, window), blocked in blocked_by_qw.items():
        attempted = blocked + offered_voice_by_qw[(q, window)]
        g["cc_window_calls_blocked"].samples[(q, window)] = blocked
        g["cc_window_calls_attempted"].samples[(q, window)] = attempted
        _ratio(g["cc_blocking_ratio"], (q, window), blocked, attempted)
    for key, value in requests.items():
        g["cc_window_requests"].samples[key] = value
    for key, (total_us, n) in chat_by_qw.items():
        g["cc_window_chat_response_seconds_sum"].samples[key] = total_us / SECOND_US
        g["cc_window_chat_responses"].samples[key] = n
        _ratio(g["cc_chat_response_average_seconds"], key, total_us / SECOND_US, n)
    return list(g.values())


def _agent_families(
    config: Config, ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
) -> list[Family]:
    agents = new_family("cc_agents")
    occupancy = new_family("cc_occupancy_ratio")
    busy_fam = new_family("cc_window_agent_busy_seconds")
    staffed_fam = new_family("cc_window_agent_staffed_seconds")
    counts, closed, open_starts = _reused_value(
        "agents", lambda: _agent_parts(ledgers, label, now_us))
    agents.samples = dict(counts)
    time_in: dict[tuple[str, str], dict[str, float]] = {k: dict(f) for k, f in closed.items()}
    for key, field, hi, n, total, latest, groups in open_starts:
        # Σ max(0, end - start) over the starts: those before end, each (end - start).
        end = now_us if hi is None or now_us < hi else hi
        if latest < end:
            span = n * end - total  # integer µs: exact
        else:
            span = 0
            for starts, before in groups:
                k = bisect_left(starts, end)
                span += k * end - before[k]
        if span:
            f = time_in.setdefault(key, {})
            f[field] = f.get(field, 0) + span
    for (q, window), f in time_in.items():
        busy = (f.get("t_on_contact", 0) + f.get("t_after_contact_work", 0)) / SECOND_US
        staffed = busy + f.get("t_available", 0) / SECOND_US
        if not staffed:
            continue
        busy_fam.samples[(q, window)] = busy
        staffed_fam.samples[(q, window)] = staffed
        _ratio(occupancy, (q, window), busy, staffed)
    return [agents, occupancy, busy_fam, staffed_fam]


def _agent_parts(ledgers: Sequence[Ledger], label: QueueLabels, now_us: int) -> tuple[
        dict[tuple[str, str], int], dict[tuple[str, str], dict[str, int]], list[Any]]:
    """What the agent families take from the ledgers and the windows at ``now_us`` (the
    same at every clock with these windows): ``(counts, closed, open starts)``.

    Counts: (queue label, state) -> agents, every state of a queue with agents present.
    Closed: (queue label, window) -> state field -> µs that no longer move with the clock:
    the closed spans (the window sums) and the open spans' part of the previous interval
    (the clock is past its end). Open starts, for the current interval and today: per
    (queue label, window), state field and window end (``None``: the clock), the agents'
    count, the sum and the latest of the instants their open spans start within the window
    (each one's start, or the window's if later), and those instants ascending with their
    running sums, per group of agents in the same state serving the same queues. The span up
    to a clock ``end`` past every start is ``count × end − sum``; else a bisection per group.
    """
    counts: dict[tuple[str, str], int] = {}
    closed: dict[tuple[str, str], dict[str, int]] = {}
    for (q, channel, window), f in _window_sums(ledgers, label, now_us).items():
        if channel == "":
            closed[(q, window)] = dict(f)  # type: ignore[arg-type]
    open_by: dict[tuple[tuple[str, str], str, int | None], list[Any]] = {}
    windows_of: dict[Any, tuple[int, int, int]] = {}
    for ledger in ledgers:
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for state, queues, since in ledger.agents.values():
            groups.setdefault((state, tuple(queues)), []).append(since)
        for (state, queues), sinces in groups.items():
            n = len(sinces)
            by_cal: dict[Any, list[str]] = {}
            for queue in queues:
                q = label(queue)
                for s in AGENT_STATES:
                    counts.setdefault((q, s), 0)
                counts[(q, state)] += n
                by_cal.setdefault(ledger.calendar(queue), []).append(q)
            if state not in OCCUPANCY_STATES:
                continue
            field = "t_" + state
            for cal, labels in by_cal.items():
                found = windows_of.get(cal)
                if found is None:
                    found = windows_of[cal] = cal.windows(now_us)
                current, previous, day = found
                # the previous interval ends at the current one's start, before the clock
                ended = sum(_open_span_us(since, current, previous, current) for since in sinces)
                for window, lo, hi in (("interval", current, current + cal.interval_us),
                                       ("today", day, None)):
                    starts = sorted(since if since > lo else lo for since in sinces)
                    before = list(accumulate(starts, initial=0))
                    for q in labels:
                        entry = open_by.get(((q, window), field, hi))
                        if entry is None:
                            entry = open_by[((q, window), field, hi)] = [0, 0, starts[-1], []]
                        entry[0] += n
                        entry[1] += before[-1]
                        entry[2] = max(entry[2], starts[-1])
                        entry[3].append((starts, before))
                if ended:
                    for q in labels:
                        f = closed.setdefault((q, "previous_interval"), {})
                        f[field] = f.get(field, 0) + ended
    open_starts = [(key, field, hi, n, total, latest, groups)
                   for (key, field, hi), (n, total, latest, groups) in open_by.items()]
    return counts, closed, open_starts
