"""The monthly customer-service report (issue 12 part 2), from snapshots of the exposition.

A :class:`Snapshot` is the value of the exposition's counters, histogram ``_sum``/``_count``
and a few gauges at one instant, summed over every series with the same labels (a fleet of
workers, or the replay). Whatever the source (the replay at that instant, or a Prometheus
``@`` query), the report is computed here, the same way:

* a month's count is the counter at the month's end minus the counter at its start: exact,
  never ``increase()``'s extrapolation;
* an average is a difference of a histogram's ``_sum`` over the difference of its
  ``_count``, a ratio a sum over a sum;
* open tickets and the backlog are the live gauges at the month's end;
* the customer KPIs are the ``previous_month`` parts gauges at the end of the month in
  ``[customers] timezone`` (the month the engine already closes, contract §3.4).

A KPI whose denominator is 0 in the month, or whose family has no series, is ``None`` ("no
data"), never 0. :data:`NOT_DERIVABLE` lists the KPIs of the issue that the exposition
exports only as ``interval``/``today`` windows, so that a month value cannot be read off it:
none any more (each has a counter, or a pair, since the start). Pure: no I/O; the instants
come from :func:`month_plan`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from streams.core.config import Config
from streams.core.customers import lifetime_years
from streams.core.metrics import Family
from streams.core.timestamps import format_us

Labels = tuple[tuple[str, str], ...]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

HISTOGRAMS = ("cc_contact_wait_seconds", "cc_contact_handle_seconds",
              "cc_ticket_first_response_seconds", "cc_ticket_resolution_seconds",
              "cc_ticket_first_response_business_seconds", "cc_ticket_resolution_business_seconds")
COUNTERS = ("cc_contacts_offered_total", "cc_contacts_answered_total",
            "cc_contacts_abandoned_total", "cc_contacts_short_abandoned_total",
            "cc_contacts_flowed_out_total", "cc_contacts_answered_within_threshold_total",
            "cc_contacts_handled_total", "cc_calls_blocked_total", "cc_tickets_created_total",
            "cc_tickets_solved_total", "cc_tickets_reopened_total", "cc_survey_responses_total",
            "cc_qa_reviews_total", "cc_contacts_resolved_first_contact_total",
            "cc_chat_responses_total", "cc_chat_response_seconds_total",
            "cc_tickets_resolved_first_contact_total", "cc_ticket_replies_before_solve_total",
            "cc_ticket_responses_total", "cc_ticket_response_seconds_total",
            "cc_qa_review_score_total")
LIVE = ("cc_tickets_open", "cc_tickets_backlog")
CUSTOMER_PARTS = ("cc_window_customers_start", "cc_window_customers_end",
                  "cc_window_customers_acquired", "cc_window_customers_churned",
                  "cc_window_customers_referred", "cc_window_customer_interactions",
                  "cc_window_customer_revenue", "cc_window_marketing_spend")
#: Every sample name a snapshot needs (histograms as their ``_sum`` and ``_count``).
SAMPLE_NAMES: tuple[str, ...] = (
    *COUNTERS, *(h + part for h in HISTOGRAMS for part in ("_sum", "_count")), *LIVE,
    *CUSTOMER_PARTS)
#: Survey scales the score label is read against (the contract's defaults, §1.5).
CSAT_SCALE, CES_SCALE = 5, 7


@dataclass(frozen=True)
class Snapshot:
    """Sample name -> labels (sorted pairs) -> value, at ``at_us``."""

    at_us: int
    series: Mapping[str, Mapping[Labels, float]]

    def total(self, name: str, by: tuple[str, ...] = (),
              **where: str) -> dict[tuple[str, ...], float]:
        """Sum of ``name`` over the series matching ``where``, grouped by ``by``."""
        out: dict[tuple[str, ...], float] = {}
        for labels, value in self.series.get(name, {}).items():
            d = dict(labels)
            if any(d.get(k) != v for k, v in where.items()):
                continue
            key = tuple(d.get(k, "") for k in by)
            out[key] = out.get(key, 0.0) + value
        return out

    def has(self, name: str, **where: str) -> bool:
        return bool(self.total(name, **where))


def snapshot_from_families(at_us: int, families: Iterable[Family]) -> Snapshot:
    """The engine's families at ``at_us`` (the replay's, or a worker's) as a snapshot."""
    wanted = set(SAMPLE_NAMES)
    series: dict[str, dict[Labels, float]] = {}

    def put(name: str, labels: Labels, value: float) -> None:
        if name in wanted:
            by = series.setdefault(name, {})
            by[labels] = by.get(labels, 0.0) + value

    for fam in families:
        for values, value in fam.samples.items():
            labels = tuple(sorted(zip(fam.labels, values, strict=True)))
            if fam.kind == "histogram":
                _, counts, total = value
                put(fam.name + "_sum", labels, float(total))
                put(fam.name + "_count", labels, float(sum(counts)))
            else:
                put(fam.name, labels, float(value))
    return Snapshot(at_us, series)


# --- instants -------------------------------------------------------------------------------

def local_midnight_us(tz: ZoneInfo, year: int, month: int, day: int = 1) -> int:
    """Local midnight of a date in ``tz`` as epoch microseconds (as the customer months do)."""
    return (datetime(year, month, day, tzinfo=tz) - _EPOCH) // _ONE_US


def month_label_shift(label: str, months: int) -> str:
    year, month = int(label[:4]), int(label[5:7])
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_start_us(tz: ZoneInfo, label: str) -> int:
    return local_midnight_us(tz, int(label[:4]), int(label[5:7]))


@dataclass(frozen=True)
class MonthPlan:
    """The instants a report reads: ``days`` are the local midnights from the month's start
    to its end (the first and last are the month's boundaries), ``previous_start`` the start
    of the month before, ``customer_ends`` the end of each of the last :data:`TREND_MONTHS`
    months in the customers' zone (the last is the report month's)."""

    month: str
    timezone: str
    customer_timezone: str
    previous_start_us: int
    days_us: tuple[int, ...]
    customer_ends_us: tuple[int, ...]

    @property
    def start_us(self) -> int:
        return self.days_us[0]

    @property
    def end_us(self) -> int:
        return self.days_us[-1]

    @property
    def previous_month(self) -> str:
        return month_label_shift(self.month, -1)

    def customer_months(self) -> list[str]:
        n = len(self.customer_ends_us)
        return [month_label_shift(self.month, k - n + 1) for k in range(n)]

    def instants(self) -> list[int]:
        return sorted({self.previous_start_us, *self.days_us, *self.customer_ends_us})


TREND_MONTHS = 6


def month_plan(month: str, timezone: str, customer_timezone: str) -> MonthPlan:
    """The instants of ``month`` (``YYYY-MM``) in ``timezone``, DST-correct."""
    tz = ZoneInfo(timezone)
    year, mon = int(month[:4]), int(month[5:7])
    end_label = month_label_shift(month, 1)
    days: list[int] = []
    day = datetime(year, mon, 1)
    end_day = datetime(int(end_label[:4]), int(end_label[5:7]), 1)
    while day <= end_day:
        days.append(local_midnight_us(tz, day.year, day.month, day.day))
        day += timedelta(days=1)
    ctz = ZoneInfo(customer_timezone)
    ends = tuple(month_start_us(ctz, month_label_shift(month, k + 1))
                 for k in range(-TREND_MONTHS + 1, 1))
    return MonthPlan(month, timezone, customer_timezone,
                     month_start_us(tz, month_label_shift(month, -1)), tuple(days), ends)


# --- KPIs -----------------------------------------------------------------------------------

HIGHER, LOWER, NEUTRAL = "higher", "lower", "neutral"


@dataclass(frozen=True)
class Kpi:
    """One row kind of the overview: its unit (``count``, ``ratio``, ``seconds``, ``score``,
    ``money``, ``number``), which way is better, its formula and the families it reads."""

    key: str
    name: str
    unit: str
    direction: str
    formula: str
    families: str
    centre_only: bool = False


def _k(*args: Any, **kw: Any) -> Kpi:
    return Kpi(*args, **kw)


CHANNEL_REQUESTS = _k(
    "requests", "Requests", "count", NEUTRAL,
    "contacts offered (queued) + calls blocked (voice) + tickets created, in the month, "
    "by channel", "cc_contacts_offered_total, cc_calls_blocked_total, cc_tickets_created_total")
KPIS: tuple[Kpi, ...] = (
    _k("requests_total", "Requests, all channels", "count", NEUTRAL,
       "contacts offered + calls blocked + tickets created in the month",
       "cc_contacts_offered_total, cc_calls_blocked_total, cc_tickets_created_total"),
    _k("contacts_offered", "Contacts offered", "count", NEUTRAL,
       "segments queued in the month (end − start)", "cc_contacts_offered_total"),
    _k("contacts_handled", "Contacts handled", "count", NEUTRAL,
       "contacts whose after-contact work ended in the month", "cc_contacts_handled_total"),
    _k("tickets_created", "Tickets created", "count", NEUTRAL,
       "tickets created in the month", "cc_tickets_created_total"),
    _k("tickets_solved", "Tickets solved", "count", NEUTRAL,
       "first solves in the month", "cc_tickets_solved_total"),
    _k("open_tickets", "Open cases at month end", "count", LOWER,
       "tickets open (pending and on hold included) at the month's end",
       "cc_tickets_open (gauge at the end)"),
    _k("backlog", "Backlog at month end", "count", LOWER,
       "open tickets older than backlog_age_seconds at the month's end",
       "cc_tickets_backlog (gauge at the end)"),
    _k("service_level", "Service level", "ratio", HIGHER,
       "answered within threshold / (answered + abandoned, not short) under the default "
       "policy; each queue's policy as in contract §3.2, from the month's counters",
       "cc_contacts_answered_within_threshold_total, cc_contacts_answered_total, "
       "cc_contacts_abandoned_total, cc_contacts_flowed_out_total"),
    _k("asa", "Average speed of answer", "seconds", LOWER,
       "Σ wait of answered segments / answered segments (histogram _sum / _count)",
       "cc_contact_wait_seconds{outcome=\"answered\"}"),
    _k("abandon_ratio", "Abandon ratio", "ratio", LOWER,
       "abandoned (not short) / (answered + abandoned + flowed out)",
       "cc_contacts_abandoned_total, cc_contacts_answered_total, cc_contacts_flowed_out_total"),
    _k("blocked_calls", "Blocked calls", "count", LOWER,
       "calls blocked in the month", "cc_calls_blocked_total"),
    _k("blocking_ratio", "Blocking ratio", "ratio", LOWER,
       "blocked / (blocked + voice segments offered)",
       "cc_calls_blocked_total, cc_contacts_offered_total{channel=\"voice\"}"),
    _k("aht", "Average handle time", "seconds", LOWER,
       "Σ (talk + hold + after-contact work) / contacts handled", "cc_contact_handle_seconds"),
    _k("frt", "First response time", "seconds", LOWER,
       "Σ (first public agent reply − created) / first replies, booked at the reply",
       "cc_ticket_first_response_seconds"),
    _k("frt_business", "First response time, business hours", "seconds", LOWER,
       "as first response time, counting business hours only",
       "cc_ticket_first_response_business_seconds"),
    _k("response_time", "Average response time", "seconds", LOWER,
       "Σ (agent reply − the oldest unanswered customer message) / such replies, over the "
       "tickets' public agent replies and the chats' agent messages, booked at the reply",
       "cc_ticket_response_seconds_total, cc_ticket_responses_total, "
       "cc_chat_response_seconds_total, cc_chat_responses_total"),
    _k("resolution_time", "Resolution time", "seconds", LOWER,
       "Σ (first solve − created) / first solves, booked at the solve",
       "cc_ticket_resolution_seconds"),
    _k("resolution_time_business", "Resolution time, business hours", "seconds", LOWER,
       "as resolution time, counting business hours only",
       "cc_ticket_resolution_business_seconds"),
    _k("resolution_ratio", "Resolution ratio (solved / created)", "ratio", HIGHER,
       "first solves in the month / tickets created in the month; over 100 % when the month "
       "solved more than it received (the windowed gauge's share of the window's tickets "
       "solved since has no counter, so it cannot be read for a month)",
       "cc_tickets_solved_total, cc_tickets_created_total"),
    _k("reopened", "Tickets reopened", "count", LOWER,
       "reopens in the month", "cc_tickets_reopened_total"),
    _k("fcr_contacts", "First contact resolution, contacts", "ratio", HIGHER,
       "handled contacts with resolved=true on the last wrap-up and no transfer / contacts "
       "handled", "cc_contacts_resolved_first_contact_total, cc_contacts_handled_total"),
    _k("fcr_tickets", "First contact resolution, tickets", "ratio", HIGHER,
       "first solves with exactly one public agent reply and at most one agent / first solves",
       "cc_tickets_resolved_first_contact_total, cc_tickets_solved_total"),
    _k("replies_per_ticket", "Replies per ticket", "number", LOWER,
       "public agent replies before the first solve / first solves, booked at the solve",
       "cc_ticket_replies_before_solve_total, cc_tickets_solved_total"),
    _k("nps", "NPS", "score", HIGHER,
       "100 × (responses 9–10 − responses 0–6) / NPS responses",
       "cc_survey_responses_total{survey=\"nps\"}"),
    _k("csat", "CSAT", "ratio", HIGHER,
       f"CSAT responses scoring ≥ {CSAT_SCALE - 1} / CSAT responses (scale 1–{CSAT_SCALE})",
       "cc_survey_responses_total{survey=\"csat\"}"),
    _k("ces", "CES", "ratio", HIGHER,
       f"CES responses scoring ≥ {CES_SCALE - 1} / CES responses (scale 1–{CES_SCALE}, "
       "higher = easier)", "cc_survey_responses_total{survey=\"ces\"}"),
    _k("ces_average", "CES, mean score", "number", HIGHER,
       "Σ CES score / CES responses", "cc_survey_responses_total{survey=\"ces\"}"),
    _k("survey_responses", "Survey responses", "count", NEUTRAL,
       "NPS, CSAT and CES responses in the month", "cc_survey_responses_total"),
    _k("qa_reviews", "QA reviews", "count", NEUTRAL,
       "QA reviews in the month", "cc_qa_reviews_total"),
    _k("iqs", "IQS", "ratio", HIGHER,
       "Σ QA review score (each 0–1: the 0–100 score / 100, or its categories' weighted "
       "mean) / QA reviews", "cc_qa_review_score_total, cc_qa_reviews_total"),
    _k("retention", "Customer retention", "ratio", HIGHER,
       "(customers at the end − acquired) / customers at the start",
       "cc_window_customers_{start,end,acquired}{window=\"previous_month\"} at the month's "
       "end in [customers] timezone", centre_only=True),
    _k("churn", "Customer churn", "ratio", LOWER,
       "lost (churned + lapsed) / customers at the start",
       "cc_window_customers_{churned,start}", centre_only=True),
    _k("cac", "Customer acquisition cost", "money", LOWER,
       "marketing spend / customers acquired, per currency",
       "cc_window_marketing_spend, cc_window_customers_acquired", centre_only=True),
    _k("clv", "Customer lifetime value", "money", HIGHER,
       "12 × revenue / ((start + end) / 2) × lifetime − CAC; lifetime = 1 / (12 × churn), at "
       "most 10 years", "cc_window_customer_revenue, cc_window_customers_*",
       centre_only=True),
    _k("referral_ratio", "Referral ratio", "ratio", HIGHER,
       "acquired with referred_by / acquired", "cc_window_customers_{referred,acquired}",
       centre_only=True),
    _k("engagement", "Engagement", "number", HIGHER,
       "interactions / (customers at the start + acquired)",
       "cc_window_customer_interactions, cc_window_customers_{start,acquired}",
       centre_only=True),
)
KPI_BY_KEY = {k.key: k for k in (*KPIS, CHANNEL_REQUESTS)}
#: KPIs of the issue the exposition cannot give for a month (no counter since the start).
NOT_DERIVABLE: tuple[str, ...] = ()


def _div(num: float, den: float, scale: float = 1.0) -> float | None:
    return scale * num / den if den else None


@dataclass
class Period:
    """The differences between two snapshots, optionally for one queue."""

    start: Snapshot
    end: Snapshot
    queue: str | None = None

    def delta(self, name: str, by: tuple[str, ...] = (),
              **where: str) -> dict[tuple[str, ...], float]:
        if self.queue is not None:
            where = {**where, "queue": self.queue}
        before = self.start.total(name, by, **where)
        after = self.end.total(name, by, **where)
        return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after.keys() | before.keys()}

    def n(self, name: str, **where: str) -> float:
        return sum(self.delta(name, **where).values())

    def seen(self, name: str, **where: str) -> bool:
        """The family has a series in scope at the end: its count means something."""
        if self.queue is not None:
            where = {**where, "queue": self.queue}
        return self.end.has(name, **where)

    def count(self, name: str, **where: str) -> float | None:
        return self.n(name, **where) if self.seen(name, **where) else None

    def average(self, histogram: str, **where: str) -> float | None:
        return _div(self.n(histogram + "_sum", **where), self.n(histogram + "_count", **where))


def requests_by_channel(p: Period) -> dict[str, float]:
    out: dict[str, float] = {}
    for (channel,), v in p.delta("cc_contacts_offered_total", ("channel",)).items():
        out[channel] = out.get(channel, 0.0) + v
    blocked = p.n("cc_calls_blocked_total")
    if blocked or p.seen("cc_calls_blocked_total"):
        out["voice"] = out.get("voice", 0.0) + blocked
    for (channel,), v in p.delta("cc_tickets_created_total", ("channel",)).items():
        out[channel] = out.get(channel, 0.0) + v
    return out


def service_level(p: Period, config: Config) -> float | None:
    """Contract §3.2 from the month's counters, per (queue, channel) policy. A part the
    counters do not carry (abandons or flow-outs within T, under a ``positive`` rule) makes it
    not derivable, unless that part is 0 in the month."""
    qc = ("queue", "channel")
    within = p.delta("cc_contacts_answered_within_threshold_total", qc)
    answered = p.delta("cc_contacts_answered_total", qc)
    abandoned = p.delta("cc_contacts_abandoned_total", qc)
    flowed = p.delta("cc_contacts_flowed_out_total", ("queue", "channel", "reason"))
    met = counted = 0.0
    for key in within.keys() | answered.keys() | abandoned.keys() | {k[:2] for k in flowed}:
        policy = config.policy(*key)
        met += within.get(key, 0.0)
        counted += answered.get(key, 0.0)
        b = abandoned.get(key, 0.0)
        if policy.abandons != "ignored":
            counted += b
            if policy.abandons == "positive" and b:
                return None
        rules = policy.flow_outs
        for (q, c, reason), f in flowed.items():
            if (q, c) != key or not f:
                continue
            rule = rules if isinstance(rules, str) else rules.get(reason, "ignored")
            if rule == "positive":
                return None
            if rule == "negative":
                counted += f
    return _div(met, counted)


def _scores(p: Period, survey: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for (score,), v in p.delta("cc_survey_responses_total", ("score",), survey=survey).items():
        if v:
            out[int(score)] = out.get(int(score), 0.0) + v
    return out


def survey_kpis(p: Period) -> dict[str, float | None]:
    nps, csat, ces = _scores(p, "nps"), _scores(p, "csat"), _scores(p, "ces")
    n_nps, n_csat, n_ces = sum(nps.values()), sum(csat.values()), sum(ces.values())
    return {
        "nps": _div(sum(v for s, v in nps.items() if s >= 9) - sum(v for s, v in nps.items()
                                                                   if s <= 6), n_nps, 100.0),
        "csat": _div(sum(v for s, v in csat.items() if s >= CSAT_SCALE - 1), n_csat),
        "ces": _div(sum(v for s, v in ces.items() if s >= CES_SCALE - 1), n_ces),
        "ces_average": _div(sum(s * v for s, v in ces.items()), n_ces),
    }


def contact_kpis(p: Period, config: Config) -> dict[str, float | None]:
    """Every per-queue KPI of the month (customer KPIs aside)."""
    answered = p.n("cc_contacts_answered_total")
    abandoned = p.n("cc_contacts_abandoned_total")
    flowed = p.n("cc_contacts_flowed_out_total")
    blocked = p.n("cc_calls_blocked_total")
    voice = p.n("cc_contacts_offered_total", channel="voice")
    created = p.n("cc_tickets_created_total")
    solved = p.n("cc_tickets_solved_total")
    requests = requests_by_channel(p)
    any_traffic = any(p.seen(n) for n in ("cc_contacts_offered_total", "cc_calls_blocked_total",
                                          "cc_tickets_created_total"))
    out: dict[str, float | None] = {
        "requests_total": sum(requests.values()) if any_traffic else None,
        "contacts_offered": p.count("cc_contacts_offered_total"),
        "contacts_handled": p.count("cc_contacts_handled_total"),
        "tickets_created": p.count("cc_tickets_created_total"),
        "tickets_solved": p.count("cc_tickets_solved_total"),
        "open_tickets": (sum(p.end.total("cc_tickets_open", **_q(p)).values())
                         if p.seen("cc_tickets_open") else None),
        "backlog": (sum(p.end.total("cc_tickets_backlog", **_q(p)).values())
                    if p.seen("cc_tickets_backlog") else None),
        "service_level": service_level(p, config),
        "asa": p.average("cc_contact_wait_seconds", outcome="answered"),
        "abandon_ratio": _div(abandoned, answered + abandoned + flowed),
        "blocked_calls": (blocked if p.seen("cc_calls_blocked_total")
                          or p.seen("cc_contacts_offered_total", channel="voice") else None),
        "blocking_ratio": _div(blocked, blocked + voice),
        "aht": p.average("cc_contact_handle_seconds"),
        "frt": p.average("cc_ticket_first_response_seconds"),
        "frt_business": p.average("cc_ticket_first_response_business_seconds"),
        "resolution_time": p.average("cc_ticket_resolution_seconds"),
        "resolution_time_business": p.average("cc_ticket_resolution_business_seconds"),
        "resolution_ratio": _div(solved, created),
        "response_time": _div(p.n("cc_ticket_response_seconds_total")
                              + p.n("cc_chat_response_seconds_total"),
                              p.n("cc_ticket_responses_total") + p.n("cc_chat_responses_total")),
        "fcr_contacts": _div(p.n("cc_contacts_resolved_first_contact_total"),
                             p.n("cc_contacts_handled_total")),
        "fcr_tickets": _div(p.n("cc_tickets_resolved_first_contact_total"), solved),
        "replies_per_ticket": _div(p.n("cc_ticket_replies_before_solve_total"), solved),
        "iqs": _div(p.n("cc_qa_review_score_total"), p.n("cc_qa_reviews_total")),
        "reopened": p.count("cc_tickets_reopened_total"),
        "survey_responses": p.count("cc_survey_responses_total"),
        "qa_reviews": p.count("cc_qa_reviews_total"),
        **survey_kpis(p),
    }
    for key in NOT_DERIVABLE:
        out[key] = None
    for channel, v in sorted(requests.items()):
        out[f"requests:{channel}"] = v
    return out


def _q(p: Period) -> dict[str, str]:
    return {} if p.queue is None else {"queue": p.queue}


def customer_kpis(end: Snapshot) -> dict[str, float | None]:
    """Contract §3.4 for the month that ended at ``end`` (its ``previous_month`` window):
    the parts summed over the fleet, then the ratios, as ``streams.core.customers`` does."""
    w = {"window": "previous_month"}

    def part(name: str) -> float:
        return sum(end.total(name, **w).values())

    if not end.has("cc_window_customers_start", **w):
        return {k: None for k in ("retention", "churn", "referral_ratio", "engagement",
                                  "customers_start", "customers_end", "acquired", "lost")}
    start, stop = part("cc_window_customers_start"), part("cc_window_customers_end")
    acquired, lost = part("cc_window_customers_acquired"), part("cc_window_customers_churned")
    out: dict[str, float | None] = {
        "retention": _div(stop - acquired, start), "churn": _div(lost, start),
        "referral_ratio": _div(part("cc_window_customers_referred"), acquired),
        "engagement": _div(part("cc_window_customer_interactions"), start + acquired),
        "customers_start": start, "customers_end": stop, "acquired": acquired, "lost": lost,
    }
    revenue = end.total("cc_window_customer_revenue", ("currency",), **w)
    spend = end.total("cc_window_marketing_spend", ("currency",), **w)
    for (cur,) in sorted(revenue.keys() | spend.keys()):
        s, r = spend.get((cur,), 0.0), revenue.get((cur,), 0.0)
        cac = s / acquired if acquired else (0.0 if not s else None)
        out[f"cac:{cur}"] = s / acquired if acquired else None
        out[f"clv:{cur}"] = (12 * r / ((start + stop) / 2) * lifetime_years(int(start), int(lost))
                             - cac if start and cac is not None else None)
    return out


# --- the report -----------------------------------------------------------------------------

@dataclass
class Report:
    """Every value of the report; :meth:`to_json` is ``report.json``."""

    plan: MonthPlan
    source: str
    queues: list[str]
    #: scope ("centre" or a queue) -> "this" / "last" -> row key -> value
    values: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    charts: dict[str, Any] = field(default_factory=dict)

    def rows(self, scope: str) -> list[str]:
        """Row keys of a scope, in overview order (request channels after the total)."""
        keys = self.values[scope]["this"].keys() | self.values[scope]["last"].keys()
        order: list[str] = []
        for kpi in KPIS:
            if kpi.centre_only and scope != "centre":
                continue
            if kpi.key in ("cac", "clv"):
                order += sorted(k for k in keys if k.startswith(kpi.key + ":"))
                continue
            order.append(kpi.key)
            if kpi.key == "requests_total":
                order += sorted(k for k in keys if k.startswith("requests:"))
        return order

    def to_json(self) -> dict[str, Any]:
        scopes = {}
        for scope, by in self.values.items():
            scopes[scope] = [
                {"kpi": key, "name": row_name(key), "this_month": by["this"].get(key),
                 "last_month": by["last"].get(key),
                 "change": change(by["this"].get(key), by["last"].get(key)),
                 "verdict": verdict(key, by["this"].get(key), by["last"].get(key))}
                for key in self.rows(scope)]
        return {
            "month": self.plan.month, "previous_month": self.plan.previous_month,
            "timezone": self.plan.timezone, "customer_timezone": self.plan.customer_timezone,
            "start": format_us(self.plan.start_us), "end": format_us(self.plan.end_us),
            "previous_start": format_us(self.plan.previous_start_us), "source": self.source,
            "queues": self.queues, "scopes": scopes, "charts": self.charts,
            "kpis": [{"kpi": k.key, "name": k.name, "unit": k.unit, "direction": k.direction,
                      "formula": k.formula, "families": k.families,
                      "derivable": k.key not in NOT_DERIVABLE} for k in KPIS],
        }


def kpi_of(key: str) -> Kpi:
    return KPI_BY_KEY[key.split(":")[0]]


def row_name(key: str) -> str:
    variant = key.partition(":")[2]
    kpi = kpi_of(key)
    return f"{kpi.name}: {variant}" if variant else kpi.name


def change(this: float | None, last: float | None) -> float | None:
    return None if this is None or last is None else this - last


def verdict(key: str, this: float | None, last: float | None) -> str | None:
    """``better``, ``worse`` or ``same`` by the KPI's direction; None when not comparable."""
    delta = change(this, last)
    direction = kpi_of(key).direction
    if delta is None or direction == NEUTRAL:
        return None
    if abs(delta) < 1e-12:
        return "same"
    return "better" if (delta > 0) == (direction == HIGHER) else "worse"


def build_report(plan: MonthPlan, snapshots: Mapping[int, Snapshot], config: Config,
                 source: str) -> Report:
    """The report from a snapshot at every instant of ``plan``."""
    s = snapshots
    this = (s[plan.start_us], s[plan.end_us])
    last = (s[plan.previous_start_us], s[plan.start_us])
    queues = sorted({q for (q,) in s[plan.end_us].total("cc_contacts_offered_total", ("queue",))}
                    | {q for (q,) in s[plan.end_us].total("cc_tickets_created_total", ("queue",))}
                    | {q for (q,) in s[plan.end_us].total("cc_tickets_open", ("queue",))})
    report = Report(plan, source, queues)
    cust = plan.customer_ends_us
    for scope in ("centre", *queues):
        q = None if scope == "centre" else scope
        now = contact_kpis(Period(*this, q), config)
        before = contact_kpis(Period(*last, q), config)
        if q is None:
            now.update(customer_kpis(s[cust[-1]]))
            before.update(customer_kpis(s[cust[-2]]))
        report.values[scope] = {"this": now, "last": before}
    report.charts = charts(plan, snapshots)
    return report


def charts(plan: MonthPlan, s: Mapping[int, Snapshot]) -> dict[str, Any]:
    """Charts data for the whole centre: per day of the month, and per month for customers."""
    days = plan.days_us
    tz = ZoneInfo(plan.timezone)
    labels = [datetime.fromtimestamp(d / 1e6, tz).strftime("%Y-%m-%d") for d in days[:-1]]
    periods = [Period(s[a], s[b]) for a, b in itertools.pairwise(days)]
    by_day = [requests_by_channel(p) for p in periods]
    channels = sorted({c for d in by_day for c in d})
    surveys = [survey_kpis(p) for p in periods]
    month = Period(s[plan.start_us], s[plan.end_us])
    categories = {c: v for (c,), v in sorted(
        month.delta("cc_tickets_created_total", ("category",)).items())}
    customer = [customer_kpis(s[t]) for t in plan.customer_ends_us]
    return {
        "days": labels,
        "day_starts": [format_us(d) for d in days[:-1]],
        "requests_by_channel": {c: [d.get(c, 0.0) for d in by_day] for c in channels},
        "tickets_by_category": categories,
        "nps": [x["nps"] for x in surveys], "csat": [x["csat"] for x in surveys],
        "ces": [x["ces"] for x in surveys],
        "frt": [p.average("cc_ticket_first_response_seconds") for p in periods],
        "resolution_time": [p.average("cc_ticket_resolution_seconds") for p in periods],
        "months": plan.customer_months(),
        "retention": [c["retention"] for c in customer],
        "churn": [c["churn"] for c in customer],
    }
