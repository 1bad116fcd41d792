"""Ticket, survey and QA-review families (contract §3.1, §3.3, §3.6, §4) from ledgers and a clock.

Like the contact families: sums are merged over the ledgers first (queues beyond
``max_queues`` mapped to ``other``), KPIs computed last as numerator-sum over
denominator-sum, and every windowed ratio is exported with its parts
(:data:`streams.core.metrics.RATIO_PARTS`). A pure read of the ledgers.
"""

from __future__ import annotations

from collections.abc import Sequence

from streams.core import contributions as F
from streams.core.config import Config
from streams.core.entities import ticket as T
from streams.core.entities.feedback import QA_SCORE_PPM
from streams.core.kpis import (
    SECOND_US,
    WINDOWS,
    QueueLabels,
    _ratio,
    _reused,
    _reused_value,
    _window_sums,
    copy_families,
    queue_labels,
)
from streams.core.ledger import Ledger
from streams.core.metrics import Family, new_family

PRIORITIES = ("low", "normal", "high", "urgent")

_TICKET_COUNTERS = {T.CREATED: "cc_tickets_created_total", T.SOLVED: "cc_tickets_solved_total",
                    T.REOPENED: "cc_tickets_reopened_total",
                    T.RESOLVED_FIRST_CONTACT: "cc_tickets_resolved_first_contact_total",
                    T.REPLIES_BEFORE_SOLVE: "cc_ticket_replies_before_solve_total",
                    T.RESPONSES: "cc_ticket_responses_total",
                    T.RESPONSE_US: "cc_ticket_response_seconds_total"}
#: Counters of summed times, kept in integer µs (exact in any order), exported in seconds.
_SECONDS_COUNTERS = (T.RESPONSE_US,)
_TICKET_HISTOGRAMS = {
    T.FIRST_RESPONSE: "cc_ticket_first_response_seconds",
    T.RESOLUTION: "cc_ticket_resolution_seconds",
    T.FIRST_RESPONSE_BUSINESS: "cc_ticket_first_response_business_seconds",
    T.RESOLUTION_BUSINESS: "cc_ticket_resolution_business_seconds",
}
SURVEY_RESPONSES, QA_REVIEWS = "survey_responses", "qa_reviews"
_FEEDBACK_COUNTERS = {SURVEY_RESPONSES: "cc_survey_responses_total",
                      QA_REVIEWS: "cc_qa_reviews_total",
                      QA_SCORE_PPM: "cc_qa_review_score_total"}

#: Windowed count gauges: family -> field (0 when nothing was booked).
_TICKET_COUNTS = {
    "cc_window_tickets_solved": F.TICKETS_SOLVED,
    "cc_window_tickets_reopened": F.TICKETS_REOPENED,
    "cc_window_ticket_first_responses": F.TICKET_FIRST_RESPONSES,
    "cc_window_ticket_first_responses_within_target": F.TICKET_FIRST_RESPONSES_WITHIN_TARGET,
    "cc_window_ticket_first_responses_with_target": F.TICKET_FIRST_RESPONSES_WITH_TARGET,
    "cc_window_ticket_responses": F.TICKET_RESPONSES,
    "cc_window_tickets_created_and_solved": F.TICKETS_CREATED_SOLVED,
    "cc_window_tickets_created_all": F.TICKETS_CREATED,
    "cc_window_tickets_resolved_first_contact": F.TICKETS_RESOLVED_FIRST_CONTACT,
    "cc_window_ticket_replies_before_solve": F.TICKET_REPLIES_BEFORE_SOLVE,
}
#: Windowed sums of durations: family -> field in µs (exported in seconds).
_TICKET_SECONDS = {
    "cc_window_ticket_first_response_seconds": F.TICKET_FIRST_RESPONSE_US,
    "cc_window_ticket_first_response_business_seconds": F.TICKET_FIRST_RESPONSE_BUSINESS_US,
    "cc_window_ticket_response_seconds": F.TICKET_RESPONSE_US,
    "cc_window_ticket_resolution_seconds": F.TICKET_RESOLUTION_US,
    "cc_window_ticket_resolution_business_seconds": F.TICKET_RESOLUTION_BUSINESS_US,
}
#: Ratio or average -> (numerator field, denominator field, numerator scale).
_TICKET_RATIOS = {
    "cc_ticket_first_response_average_seconds": (
        F.TICKET_FIRST_RESPONSE_US, F.TICKET_FIRST_RESPONSES, SECOND_US),
    "cc_ticket_first_response_business_average_seconds": (
        F.TICKET_FIRST_RESPONSE_BUSINESS_US, F.TICKET_FIRST_RESPONSES, SECOND_US),
    "cc_ticket_first_response_within_target_ratio": (
        F.TICKET_FIRST_RESPONSES_WITHIN_TARGET, F.TICKET_FIRST_RESPONSES_WITH_TARGET, 1),
    "cc_ticket_response_average_seconds": (F.TICKET_RESPONSE_US, F.TICKET_RESPONSES, SECOND_US),
    "cc_ticket_resolution_average_seconds": (
        F.TICKET_RESOLUTION_US, F.TICKETS_SOLVED, SECOND_US),
    "cc_ticket_resolution_business_average_seconds": (
        F.TICKET_RESOLUTION_BUSINESS_US, F.TICKETS_SOLVED, SECOND_US),
    "cc_ticket_resolution_ratio": (F.TICKETS_CREATED_SOLVED, F.TICKETS_CREATED, 1),
    "cc_ticket_first_contact_resolution_ratio": (
        F.TICKETS_RESOLVED_FIRST_CONTACT, F.TICKETS_SOLVED, 1),
    "cc_replies_per_ticket": (F.TICKET_REPLIES_BEFORE_SOLVE, F.TICKETS_SOLVED, 1),
}

#: Survey kind -> its windowed parts and ratios (labels queue, channel, window).
_SURVEY_PARTS = {
    "csat": {"cc_window_csat_responses": F.CSAT_RESPONSES,
             "cc_window_csat_satisfied": F.CSAT_SATISFIED},
    "ces": {"cc_window_ces_responses": F.CES_RESPONSES, "cc_window_ces_easy": F.CES_EASY,
            "cc_window_ces_score": F.CES_SCORE_SUM},
}
_FEEDBACK_RATIOS = {
    "cc_csat_ratio": (F.CSAT_SATISFIED, F.CSAT_RESPONSES, 1),
    "cc_ces_ratio": (F.CES_EASY, F.CES_RESPONSES, 1),
    "cc_ces_average_score": (F.CES_SCORE_SUM, F.CES_RESPONSES, 1),
    "cc_iqs_ratio": (F.IQS_PPM, F.QA_REVIEWS, 1_000_000),
}


def _merge_histograms(ledgers: Sequence[Ledger], label: QueueLabels,
                      names: dict[str, str]) -> list[Family]:
    fams = {metric: new_family(name) for metric, name in names.items()}
    for ledger in ledgers:
        for (metric, labels), row in ledger.histograms.items():
            fam = fams.get(metric)
            if fam is None:
                continue
            key = (label(labels[0]), *labels[1:])
            prev = fam.samples.get(key)
            counts, total = list(row[:-1]), row[-1]
            if prev is not None:
                counts = [a + b for a, b in zip(prev[1], counts, strict=True)]
                total += prev[2]
            fam.samples[key] = (ledger.bounds[metric], counts, total)
    for fam in fams.values():
        for key, (bounds, counts, total_us) in fam.samples.items():
            fam.samples[key] = (bounds, counts, total_us / SECOND_US)
    return list(fams.values())


def ticket_families(config: Config, ledgers: Sequence[Ledger], now_us: int,
                    live_us: Sequence[int] | None = None) -> list[Family]:
    """Every ticket family of docs/contract.md §4 (and §3.6) at the engine clock ``now_us``;
    the live ages (backlog, overdue) of ``ledgers[i]`` as of ``live_us[i]`` (its feed's time,
    see :func:`streams.core.kpis.contact_families`), by default ``now_us``."""
    label = queue_labels(config, ledgers)
    head, tail, pairs = _reused_value(
        "ticket totals", lambda: _ticket_parts(config, ledgers, label, now_us))
    clocks = list(live_us) if live_us is not None else [now_us] * len(ledgers)
    return [*copy_families(head),
            *_live_ticket_families(config, ledgers, label, clocks, pairs),
            *copy_families(tail)]


def _ticket_parts(config: Config, ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
                  ) -> tuple[list[Family], list[Family], set[tuple[str, str]]]:
    """The ticket families before the live ones (counters, histograms) and after them
    (windowed), and the (queue label, channel) pairs that have ticket series: functions of
    the ledgers' contents and the windows at ``now_us`` alone."""
    counters = {metric: new_family(name) for metric, name in _TICKET_COUNTERS.items()}
    pairs: set[tuple[str, str]] = set()  # (queue label, channel) that ever had a ticket
    categories: set[tuple[str, str, str]] = set()
    for ledger in ledgers:
        for (metric, labels), value in ledger.counters.items():
            fam = counters.get(metric)
            if fam is None:
                continue
            key = (label(labels[0]), *labels[1:])
            fam.add(key, value)
            if metric == T.CREATED:
                pairs.add(key[:2])
                categories.add(key)  # type: ignore[arg-type]
    sums = _window_sums(ledgers, label, now_us)
    for (q, channel, _), f in sums.items():  # a queue a ticket moved to has ticket bookings
        if channel and any(field.startswith("ticket") for field in f):
            pairs.add((q, channel))
    for ledger in ledgers:  # ... or has it open now
        for queue, channel, _ in ledger.tickets_open:
            pairs.add((label(queue), channel))
    for metric in _SECONDS_COUNTERS:
        fam = counters[metric]
        fam.samples = {k: v / SECOND_US for k, v in fam.samples.items()}
    for pair in pairs:  # a counter starts at 0, so increase() sees its first step
        for metric in (T.SOLVED, T.REOPENED, T.RESOLVED_FIRST_CONTACT, T.REPLIES_BEFORE_SOLVE,
                       T.RESPONSES, T.RESPONSE_US):
            counters[metric].samples.setdefault(pair, 0)
    fams: list[Family] = [*counters.values()]
    fams.extend(_merge_histograms(ledgers, label, _TICKET_HISTOGRAMS))

    g = {name: new_family(name) for name in (
        "cc_window_tickets_created", *_TICKET_COUNTS, *_TICKET_SECONDS, *_TICKET_RATIOS)}
    for q, channel in sorted(pairs):
        for window in WINDOWS:
            f = sums.get((q, channel, window), {})
            labels = (q, channel, window)
            for name, field in _TICKET_COUNTS.items():
                g[name].samples[labels] = f.get(field, 0)
            for name, field in _TICKET_SECONDS.items():
                g[name].samples[labels] = f.get(field, 0) / SECOND_US
            for name, (num, den, scale) in _TICKET_RATIOS.items():
                _ratio(g[name], labels, f.get(num, 0) / scale, f.get(den, 0))
    created = g["cc_window_tickets_created"]
    for q, channel, category in sorted(categories):
        for window in WINDOWS:
            f = sums.get((q, channel, window), {})
            created.samples[(q, channel, category, window)] = f.get(
                F.TICKETS_CREATED_IN + category, 0)
    return fams, list(g.values()), pairs


def _live_ticket_families(config: Config, ledgers: Sequence[Ledger], label: QueueLabels,
                          clocks: Sequence[int], pairs: set[tuple[str, str]]) -> list[Family]:
    """Open, awaiting reply, backlog and overdue now: functions of the state and the clock."""
    open_ = new_family("cc_tickets_open")
    awaiting = new_family("cc_tickets_awaiting_reply")
    backlog = new_family("cc_tickets_backlog")
    overdue = new_family("cc_tickets_first_response_overdue")
    for pair in pairs:
        awaiting.samples[pair] = 0
        backlog.samples[pair] = 0
        targets = config.queue(pair[0]).first_response_target_us
        for priority in PRIORITIES:
            open_.samples[(*pair, priority)] = 0
            if priority in targets:  # no target, never overdue: no series
                overdue.samples[(*pair, priority)] = 0
    for ledger, now_us in zip(ledgers, clocks, strict=True):
        for (queue, channel, priority), n in ledger.tickets_open.items():
            open_.add((label(queue), channel, priority), n)
        for (queue, channel), n in ledger.tickets_awaiting.items():
            awaiting.add((label(queue), channel), n)
        for (queue, channel), created in ledger.tickets_created_at.items():
            before = now_us - round(config.queue(queue).backlog_age_seconds * SECOND_US)
            backlog.add((label(queue), channel), created.bisect_left(before))
        for (queue, channel, priority), due in ledger.tickets_due_at.items():
            overdue.add((label(queue), channel, priority), due.bisect_left(now_us))
    return [open_, awaiting, backlog, overdue]


def feedback_families(config: Config, ledgers: Sequence[Ledger], now_us: int) -> list[Family]:
    """Survey (NPS, CSAT, CES) and QA-review (IQS) families at the engine clock ``now_us``:
    functions of the ledgers' contents and the windows at ``now_us`` alone."""
    return _reused("feedback", lambda: _feedback_families(config, ledgers, now_us))


def _feedback_families(config: Config, ledgers: Sequence[Ledger], now_us: int) -> list[Family]:
    label = queue_labels(config, ledgers)
    counters = {metric: new_family(name) for metric, name in _FEEDBACK_COUNTERS.items()}
    seen: dict[str, set[tuple[str, str]]] = {"nps": set(), "csat": set(), "ces": set(),
                                             "qa": set()}
    for ledger in ledgers:
        for (metric, labels), value in ledger.counters.items():
            if metric == SURVEY_RESPONSES:  # labels: queue, survey, channel, score
                q = label(labels[0])
                counters[metric].add((labels[1], q, labels[2], labels[3]), value)
                seen[labels[1]].add((q, labels[2]))
            elif metric == QA_REVIEWS:
                key = (label(labels[0]), labels[1])
                counters[metric].add(key, value)
                seen["qa"].add(key)
            elif metric == QA_SCORE_PPM:  # the scores' sum, 0-1 each, kept in millionths
                counters[metric].add((label(labels[0]), labels[1]), value)
    scores = counters[QA_SCORE_PPM]
    scores.samples = {k: v / 1_000_000 for k, v in scores.samples.items()}
    for key in counters[QA_REVIEWS].samples:  # a counter starts at 0 beside its denominator
        scores.samples.setdefault(key, 0.0)
    g = {name: new_family(name) for name in (
        "cc_nps_score", "cc_window_nps_responses", "cc_window_nps_promoters",
        "cc_window_nps_detractors", *_SURVEY_PARTS["csat"], *_SURVEY_PARTS["ces"],
        "cc_window_qa_reviews", "cc_window_iqs_score", *_FEEDBACK_RATIOS)}
    sums = _window_sums(ledgers, label, now_us)
    nps: dict[tuple[str, str], list[int]] = {}
    for q, channel in seen["nps"]:
        for window in WINDOWS:
            f = sums.get((q, channel, window), {})
            acc = nps.setdefault((q, window), [0, 0, 0])
            acc[0] += f.get(F.NPS_RESPONSES, 0)
            acc[1] += f.get(F.NPS_PROMOTERS, 0)
            acc[2] += f.get(F.NPS_DETRACTORS, 0)
    for key, (responses, promoters, detractors) in sorted(nps.items()):
        g["cc_window_nps_responses"].samples[key] = responses
        g["cc_window_nps_promoters"].samples[key] = promoters
        g["cc_window_nps_detractors"].samples[key] = detractors
        _ratio(g["cc_nps_score"], key, 100 * (promoters - detractors), responses)
    for survey, parts in _SURVEY_PARTS.items():
        for q, channel in sorted(seen[survey]):
            for window in WINDOWS:
                f = sums.get((q, channel, window), {})
                for name, field in parts.items():
                    g[name].samples[(q, channel, window)] = f.get(field, 0)
    for q, channel in sorted(seen["qa"]):
        for window in WINDOWS:
            f = sums.get((q, channel, window), {})
            g["cc_window_qa_reviews"].samples[(q, channel, window)] = f.get(F.QA_REVIEWS, 0)
            g["cc_window_iqs_score"].samples[(q, channel, window)] = (
                f.get(F.IQS_PPM, 0) / 1_000_000)
    for name, (num, den, scale) in _FEEDBACK_RATIOS.items():
        for (q, channel, window), f in sums.items():
            if channel:
                _ratio(g[name], (q, channel, window), f.get(num, 0) / scale, f.get(den, 0))
    return [*counters.values(), *g.values()]
