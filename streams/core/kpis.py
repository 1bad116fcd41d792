"""From ledgers and a clock to metric families (SPEC §3, §4), as plain data.

Sums are merged first (over the partitions a worker owns, after mapping queues beyond
``max_queues`` to ``other``) and KPIs computed last, so a ratio is always numerator-sum over
denominator-sum, never an average of ratios. A ratio with a zero denominator is not exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.core import samples as F
from streams.core.config import Config
from streams.core.ledger import Ledger
from streams.core.samples import AGENT_STATES, CONTACT_CHANNELS, OCCUPANCY_STATES

WINDOWS = ("interval", "previous_interval", "today")
OTHER_QUEUE = "other"


@dataclass
class Family:
    """One metric family. ``samples`` maps label values to a value; for a histogram the value
    is ``(bounds, counts, sum)`` with non-cumulative counts (last count is the +Inf bucket)."""

    name: str
    kind: str  # counter | gauge | histogram
    help: str
    labels: tuple[str, ...]
    samples: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def add(self, labels: tuple[str, ...], value: float) -> None:
        self.samples[labels] = self.samples.get(labels, 0) + value


class QueueLabels:
    """Maps queue names to label values: configured queues, the first ``max_queues`` seen,
    then ``other`` (SPEC §4), so a producer bug cannot explode the series count."""

    def __init__(self, config: Config, ledgers: Sequence[Ledger]) -> None:
        allowed = dict.fromkeys(config.queues)
        budget = config.limits.max_queues
        for ledger in ledgers:
            for q in ledger.queues_seen:
                if q in allowed:
                    continue
                if budget <= 0:
                    break
                allowed[q] = None
                budget -= 1
        self._allowed = allowed

    def __call__(self, queue: str) -> str:
        return queue if queue in self._allowed else OTHER_QUEUE


_COUNTERS = {
    "offered": ("cc_contacts_offered", "Contact segments that started waiting in a queue.",
                ("queue", "channel")),
    "answered": ("cc_contacts_answered", "Segments answered by an agent.", ("queue", "channel")),
    "abandoned": ("cc_contacts_abandoned",
                  "Segments abandoned by the customer while waiting (short abandons excluded).",
                  ("queue", "channel")),
    "short_abandoned": ("cc_contacts_short_abandoned",
                        "Abandons with a wait below the policy's short_abandon_seconds.",
                        ("queue", "channel")),
    "flowed_out": ("cc_contacts_flowed_out", "Segments that left the queue unanswered by routing.",
                   ("queue", "channel", "reason")),
    "answered_within": ("cc_contacts_answered_within_threshold",
                        "Segments answered within the service-level threshold.",
                        ("queue", "channel")),
    "handled": ("cc_contacts_handled", "Contacts handled (after-contact work over).",
                ("queue", "channel")),
    "blocked": ("cc_calls_blocked", "Calls that could not be served at all.", ("queue", "reason")),
}

_HISTOGRAMS = {
    "wait": ("cc_contact_wait_seconds", "Wait of answered and abandoned segments.",
             ("queue", "channel", "outcome")),
    "handle": ("cc_contact_handle_seconds", "Handle time (talk + hold + after-contact work).",
               ("queue", "channel")),
}


def _sum_fields(into: dict[str, float], fields: dict[str, float] | None) -> None:
    if fields:
        for k, v in fields.items():
            into[k] = into.get(k, 0) + v


def _open_span_ms(start: int, end: int, lo: int, hi: int) -> int:
    return max(0, min(end, hi) - max(start, lo))


def contact_families(config: Config, ledgers: Sequence[Ledger], now_ms: int) -> list[Family]:
    """Every contact, blocked-call and agent family of SPEC §4 for the clock ``now_ms``."""
    label = QueueLabels(config, ledgers)
    fams: list[Family] = []

    counters = {k: Family(n + "_total", "counter", h, lbl) for k, (n, h, lbl) in _COUNTERS.items()}
    for ledger in ledgers:
        for (metric, labels), value in ledger.counters.items():
            counters[metric].add((label(labels[0]), *labels[1:]), value)
    fams.extend(counters.values())

    hists = {k: Family(n, "histogram", h, lbl) for k, (n, h, lbl) in _HISTOGRAMS.items()}
    for ledger in ledgers:
        for (metric, labels), row in ledger.histograms.items():
            fam = hists[metric]
            key = (label(labels[0]), *labels[1:])
            prev = fam.samples.get(key)
            bounds = ledger.bounds[metric]
            if prev is None:
                fam.samples[key] = (bounds, list(row[:-1]), row[-1])
            else:
                fam.samples[key] = (bounds, [a + b for a, b in zip(prev[1], row[:-1], strict=True)],
                                    prev[2] + row[-1])
    for fam in hists.values():  # sums were kept in integer ms (exact); export seconds
        for key, (bounds, counts, total_ms) in fam.samples.items():
            fam.samples[key] = (bounds, counts, total_ms / 1000)
    fams.extend(hists.values())

    fams.extend(_live_contact_families(config, ledgers, label, now_ms))
    fams.extend(_window_families(config, ledgers, label, now_ms))
    fams.extend(_agent_families(config, ledgers, label, now_ms))
    fams.extend(erlang_families(config, ledgers, now_ms, label))
    return fams


def _live_contact_families(
    config: Config, ledgers: Sequence[Ledger], label: QueueLabels, now_ms: int
) -> list[Family]:
    waiting = Family("cc_queue_contacts_waiting", "gauge",
                     "Segments waiting in the queue now (stale ones excluded).",
                     ("queue", "channel"))
    oldest = Family("cc_queue_oldest_wait_seconds", "gauge",
                    "How long the oldest waiting segment has waited (0 when none).",
                    ("queue", "channel"))
    stale = Family("cc_contacts_stale_total", "counter",
                   "Waiting segments dropped as stale (no outcome after stale_after_seconds).",
                   ("queue", "channel"))
    for ledger in ledgers:
        for (metric, labels) in ledger.counters:
            if metric == "offered":
                key = (label(labels[0]), labels[1])
                waiting.samples.setdefault(key, 0)
                oldest.samples.setdefault(key, 0.0)
                stale.samples.setdefault(key, 0)
        ledger.sweep_stale(now_ms)
        for (queue, channel), n in ledger.stale_total.items():
            stale.add((label(queue), channel), n)
        for (queue, channel), segs in ledger.waiting.items():
            key = (label(queue), channel)
            stale_before = now_ms - config.queue(queue).stale_after_ms
            for (_, queued_ms), n in segs.items():
                if queued_ms < stale_before:
                    continue
                waiting.add(key, n)
                age = max(0.0, (now_ms - queued_ms) / 1000)
                if age > oldest.samples.get(key, 0.0):
                    oldest.samples[key] = age
    return [waiting, oldest, stale]


def _window_sums(
    ledgers: Sequence[Ledger], label: QueueLabels, now_ms: int
) -> dict[tuple[str, str, str], dict[str, float]]:
    """(queue label, channel, window) -> summed fields; channel "" holds agent time."""
    sums: dict[tuple[str, str, str], dict[str, float]] = {}
    for ledger in ledgers:
        for (queue, channel), buckets in ledger.intervals.items():
            current, previous, day = ledger.calendar(queue).windows(now_ms)
            days = ledger.days[(queue, channel)]
            q = label(queue)
            for window, fields in (
                ("interval", buckets.get(current)),
                ("previous_interval", buckets.get(previous)),
                ("today", days.get(day)),
            ):
                _sum_fields(sums.setdefault((q, channel, window), {}), fields)
    return sums


def _ratio(fam: Family, labels: tuple[str, ...], num: float, den: float, scale: float = 1.0):
    if den > 0:
        fam.samples[labels] = num / den * scale


def _window_families(
    config: Config, ledgers: Sequence[Ledger], label: QueueLabels, now_ms: int
) -> list[Family]:
    qcw = ("queue", "channel", "window")
    g = {
        "offered": Family("cc_window_contacts_offered", "gauge",
                          "Segments that started waiting in the window.", qcw),
        "answered": Family("cc_window_contacts_answered", "gauge",
                           "Segments answered in the window.", qcw),
        "abandoned": Family("cc_window_contacts_abandoned", "gauge",
                            "Segments abandoned (not short) in the window.", qcw),
        "handled": Family("cc_window_contacts_handled", "gauge",
                          "Contacts handled in the window.", qcw),
        "blocked": Family("cc_window_calls_blocked", "gauge", "Calls blocked in the window.",
                          ("queue", "window")),
        "requests": Family("cc_window_requests", "gauge",
                           "Requests by channel: offered contacts, blocked calls, new tickets.",
                           ("channel", "window")),
        "sl": Family("cc_service_level_ratio", "gauge",
                     "Service level of the window per the queue's policy (SPEC §3.2).", qcw),
        "target": Family("cc_service_level_target_ratio", "gauge",
                         "The service-level target of the queue and channel.", qcw),
        "asa": Family("cc_average_speed_of_answer_seconds", "gauge",
                      "Average wait of answered segments.", qcw),
        "abandon": Family("cc_abandon_ratio", "gauge",
                          "Abandoned (not short) / (answered + abandoned + flowed out).", qcw),
        "blocking": Family("cc_blocking_ratio", "gauge",
                           "Blocked / (blocked + offered voice).", ("queue", "window")),
        "aht": Family("cc_average_handle_time_seconds", "gauge",
                      "Average handle time of contacts handled in the window.", qcw),
        "fcr": Family("cc_first_contact_resolution_ratio", "gauge",
                      "Handled contacts resolved without transfer / handled.", qcw),
        "chat": Family("cc_chat_response_average_seconds", "gauge",
                       "Average agent response time to waiting chat customers.",
                       ("queue", "window")),
    }
    sums = _window_sums(ledgers, label, now_ms)
    policies: dict[tuple[str, str], Any] = {}
    for ledger in ledgers:  # contact gauges exist for every (queue, channel) that was offered
        for (metric, labels) in ledger.counters:
            if metric == "offered" and labels[1] in CONTACT_CHANNELS:
                queue, channel = labels
                policies.setdefault((label(queue), channel), config.policy(queue, channel))
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
            acc[0] += f.get(F.CHAT_RESPONSE_MS, 0)
            acc[1] += f[F.CHAT_RESPONSES]
        policy = policies.get((q, channel))
        if policy is None:  # a channel that only ever had blocked calls booked
            continue
        labels = (q, channel, window)
        answered = f.get(F.ANSWERED, 0)
        within = f.get(F.ANSWERED_WITHIN, 0)
        abandoned = f.get(F.ABANDONED, 0)
        abandoned_within = f.get(F.ABANDONED_WITHIN, 0)
        flowed = f.get(F.FLOWED_OUT, 0)
        handled = f.get(F.HANDLED, 0)
        g["offered"].samples[labels] = offered
        g["answered"].samples[labels] = answered
        g["abandoned"].samples[labels] = abandoned
        g["handled"].samples[labels] = handled
        g["target"].samples[labels] = policy.target_ratio
        f_sl = flowed if policy.flow_outs == "negative" else 0
        if policy.abandons == "negative":
            _ratio(g["sl"], labels, within, answered + abandoned + f_sl)
        elif policy.abandons == "ignored":
            _ratio(g["sl"], labels, within, answered + f_sl)
        else:
            _ratio(g["sl"], labels, within + abandoned_within, answered + abandoned + f_sl)
        _ratio(g["asa"], labels, f.get(F.WAIT_ANSWERED_MS, 0) / 1000, answered)
        _ratio(g["abandon"], labels, abandoned, answered + abandoned + flowed)
        _ratio(g["aht"], labels, f.get(F.HANDLE_MS, 0) / 1000, handled)
        _ratio(g["fcr"], labels, f.get(F.RESOLVED_FIRST_CONTACT, 0), handled)
    for (q, window), blocked in blocked_by_qw.items():
        g["blocked"].samples[(q, window)] = blocked
        _ratio(g["blocking"], (q, window), blocked, blocked + offered_voice_by_qw[(q, window)])
    for key, value in requests.items():
        g["requests"].samples[key] = value
    for key, (total_ms, n) in chat_by_qw.items():
        _ratio(g["chat"], key, total_ms / 1000, n)
    return list(g.values())


def _agent_families(
    config: Config, ledgers: Sequence[Ledger], label: QueueLabels, now_ms: int
) -> list[Family]:
    agents = Family("cc_agents", "gauge", "Agents by their current state, per queue they serve.",
                    ("queue", "state"))
    occupancy = Family("cc_occupancy_ratio", "gauge",
                       "Time on contact + after-contact work / time available + on contact + ACW.",
                       ("queue", "window"))
    sums = _window_sums(ledgers, label, now_ms)
    time_in: dict[tuple[str, str], dict[str, float]] = {}
    for (q, channel, window), f in sums.items():
        if channel == "":
            time_in[(q, window)] = dict(f)
    for ledger in ledgers:
        for state, queues, since in ledger.agents.values():
            for queue in queues:
                q = label(queue)
                for s in AGENT_STATES:
                    agents.samples.setdefault((q, s), 0)
                agents.add((q, state), 1)
                if state not in OCCUPANCY_STATES:
                    continue
                cal = ledger.calendar(queue)
                current, previous, day = cal.windows(now_ms)
                for window, lo, hi in (
                    ("interval", current, current + cal.interval_ms),
                    ("previous_interval", previous, current),
                    ("today", day, now_ms),
                ):
                    span = _open_span_ms(since, now_ms, lo, hi)
                    if span:
                        f = time_in.setdefault((q, window), {})
                        f["t_" + state] = f.get("t_" + state, 0) + span
    for (q, window), f in time_in.items():
        busy = f.get("t_on_contact", 0) + f.get("t_after_contact_work", 0)
        _ratio(occupancy, (q, window), busy, busy + f.get("t_available", 0))
    return [agents, occupancy]



#: Trailing window of the Erlang inputs (SPEC §3.5): the 30 whole minutes before this one.
ERLANG_WINDOW_MS = 30 * 60_000
_STAFFED = ("available", "on_contact", "after_contact_work")


def erlang_families(
    config: Config, ledgers: Sequence[Ledger], now_ms: int, label: QueueLabels | None = None
) -> list[Family]:
    """Erlang C staffing per queue and channel (SPEC §3.5).

    Arrival rate = segments offered in the trailing 30 minutes / 1800 s; AHT = handle time of
    the contacts handled in those minutes (else today's); staffed = agents serving the queue
    who are logged in and not on a break (available, on contact or in ACW) right now.
    """
    from streams.core import erlang

    label = label or QueueLabels(config, ledgers)
    required = Family("cc_erlang_required_agents", "gauge",
                      "Erlang C agents needed to meet the SL target at the trailing-30-minute "
                      "arrival rate and AHT.", ("queue", "channel"))
    predicted = Family("cc_erlang_predicted_service_level_ratio", "gauge",
                       "Erlang C service level predicted with the agents staffed now.",
                       ("queue", "channel"))
    this_minute = now_ms - now_ms % 60_000
    lo = this_minute - ERLANG_WINDOW_MS
    trailing: dict[tuple[str, str], dict[str, float]] = {}
    policies: dict[tuple[str, str], Any] = {}
    for ledger in ledgers:
        for (queue, channel), minutes in ledger.minutes.items():
            if not channel:
                continue
            key = (label(queue), channel)
            policies.setdefault(key, config.policy(queue, channel))
            acc = trailing.setdefault(key, {})
            for start, fields in minutes.items():
                if lo <= start < this_minute:
                    _sum_fields(acc, fields)
    today = _window_sums(ledgers, label, now_ms)
    staffed: dict[str, int] = {}
    for ledger in ledgers:
        for state, queues, _ in ledger.agents.values():
            if state in _STAFFED:
                for queue in queues:
                    q = label(queue)
                    staffed[q] = staffed.get(q, 0) + 1
    for (q, channel), f in trailing.items():
        offered = f.get(F.OFFERED, 0)
        handled, handle_ms = f.get(F.HANDLED, 0), f.get(F.HANDLE_MS, 0)
        if not handled:
            day = today.get((q, channel, "today"), {})
            handled, handle_ms = day.get(F.HANDLED, 0), day.get(F.HANDLE_MS, 0)
        if not handled or handle_ms <= 0:
            continue  # no AHT yet: no staffing estimate
        aht_s = handle_ms / handled / 1000
        traffic = erlang.traffic_erlangs(offered / (ERLANG_WINDOW_MS / 1000), aht_s)
        policy = policies[(q, channel)]
        required.samples[(q, channel)] = erlang.required_agents(
            traffic, aht_s, policy.threshold_seconds, policy.target_ratio)
        agents = staffed.get(q, 0)
        if traffic > 0:
            predicted.samples[(q, channel)] = (
                erlang.service_level(agents, traffic, aht_s, policy.threshold_seconds)
                if agents > 0 else 0.0)
    return [required, predicted]
