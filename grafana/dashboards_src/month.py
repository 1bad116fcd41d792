"""Month (``ccpulse-month``): the monthly report's overview in Grafana, this month beside the last.

The same numbers as ``ccpulse report`` (streams/core/report.py, docs/history.md), read from the
same series: a count is a counter at the end of the dashboard's time range minus the same
counter at its start, never ``increase()``'s extrapolation; an average is a difference of a
histogram's ``_sum`` over that of its ``_count``; a ratio a difference over a difference; open
cases and the backlog are the live gauges at the range's end; the customer KPIs are the
``month`` window's parts at the range's end (the month that holds it, in ``[customers]
timezone``).

Every panel is one instant query, which Grafana evaluates at the end of the panel's range:

    sum(X) - (sum(X offset ${__range_s}s) or sum(X) * 0)

``${__range_s}`` is the range's length, so the offset lands on its start; the ``or … * 0``
gives a series that did not exist yet at the start its start value 0 (a counter is born at 0).

The dashboard opens on "This month so far" (``now/M`` → ``now``). Every panel has a twin, on
the right, with a panel time shift of ``1M``: Grafana moves both ends of the range back one
calendar month, so this month so far stands beside the same days of the previous month, and
the "Previous month" quick range shows the complete previous month beside the month before it
(up to the same day of the month: see grafana/README.md).

Only raw ccpulse series, no recording rule: the Prometheus that ``ccpulse report
--prometheus`` reads (scraped, or backfilled with ``ccpulse backfill``, where recording rules
do not run) gives both the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders import prometheus, table
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from . import panels
from .common import (
    BLUE,
    DATASOURCE,
    GREEN,
    QUEUE,
    RED,
    finish,
    label_variable,
    query,
    row,
    skeleton,
    steps,
)

UID = "ccpulse-month"
TITLE = "ccpulse - Month"

#: The panel time shift of the right-hand twins: one calendar month earlier.
EARLIER = "1M"
#: Appended to the title of a right-hand twin.
EARLIER_SUFFIX = " (1 month earlier)"
#: The start of the panel's range, as an offset from its end (where the instant query runs).
AT_START = " offset ${__range_s}s"
#: The customer month that holds the range's end (contract §3.4).
MONTH = 'window="month"'
VOICE = 'channel="voice"'
ANSWERED = 'outcome="answered"'

#: Survey scores counted as satisfied / easy / promoter / detractor, as the report reads the
#: ``score`` label (CSAT on 1-5: 4 or more; CES on 1-7: 6 or more; NPS 0-10).
CSAT_TOP = "[4-9]|[1-9][0-9]+"
CES_TOP = "[6-9]|[1-9][0-9]+"
PROMOTERS = "9|[1-9][0-9]+"
DETRACTORS = "[0-6]"

TILE_W, TILE_H = 3, 4
HALF = 12
TABLE_H = 9


# --------------------------------------------------------------------------- PromQL helpers

def selector(metrics: str | Sequence[str], matchers: str) -> str:
    """One metric, or several summed together (``{__name__=~"a|b"}``: no vector matching, so
    a queue that has only some of them still counts)."""
    if isinstance(metrics, str):
        return f"{metrics}{{{matchers}}}"
    return f'{{__name__=~"{"|".join(metrics)}", {matchers}}}'


def total(sel: str, by: str) -> str:
    return f"sum by ({by}) ({sel})" if by else f"sum({sel})"


def delta(metrics: str | Sequence[str], matchers: str, by: str = "") -> str:
    """The counter (or the sum of counters) at the range's end minus at its start; 0 at the
    start for a series that did not exist yet."""
    sel = selector(metrics, matchers)
    end = total(sel, by)
    return f"({end} - ({total(sel + AT_START, by)} or {end} * 0))"


def ratio(numerator: str, denominator: str) -> str:
    """A difference over a difference; no value when the denominator did not move (no data,
    never 0). A numerator without a series counts 0."""
    return f"({numerator} or {denominator} * 0) / ({denominator} > 0)"


def average(histogram: str, matchers: str, by: str = "") -> str:
    """A histogram's mean in the range: the difference of its _sum over that of its _count."""
    count = delta(histogram + "_count", matchers, by)
    return f"{delta(histogram + '_sum', matchers, by)} / ({count} > 0)"


def with_queue(extra: str, matchers: str) -> str:
    return f"{matchers}, {extra}" if matchers else extra


# --------------------------------------------------------------------------- the KPIs

Expr = Callable[[str, str], str]


@dataclass(frozen=True)
class Kpi:
    """One tile: its query for given matchers and grouping, unit and description."""

    title: str
    expr: Expr
    unit: str
    description: str
    decimals: int | None = 0
    legend: str = ""
    is_ratio: bool = False
    thresholds: tuple[tuple[float, str], ...] = ()
    base_colour: str = BLUE
    mappings: list[model.ValueMapping] = field(default_factory=list)


def count(metric: str | Sequence[str]) -> Expr:
    return lambda m, by: delta(metric, m, by)


def history() -> list[Kpi]:
    none = model.ValueMap(options={
        "0": model.ValueMappingResult(text="none", color=RED, index=0)})
    return [
        Kpi("Workers at the start",
            lambda m, by: f"count(cc_build_info{AT_START}) or vector(0)", "none",
            "Workers Prometheus holds a sample of at the range's start (its 5-minute "
            "lookback). none (red): it holds nothing there - it is younger than the range, "
            "its retention (--storage.tsdb.retention.time, 15 days by default) is shorter, or "
            "a backfill's step is 5 minutes or more - so every count on this side runs from "
            "the stream's beginning, not from the range's start. Keep more than two months.",
            base_colour=RED, thresholds=((1, GREEN),), mappings=[none]),
    ]


def response_time(m: str, by: str) -> str:
    """Tickets and chats together: the sums of both counters over the sums of both counts."""
    seconds = delta(("cc_ticket_response_seconds_total", "cc_chat_response_seconds_total"), m, by)
    responses = delta(("cc_ticket_responses_total", "cc_chat_responses_total"), m, by)
    return f"{seconds} / ({responses} > 0)"


def contacts() -> list[Kpi]:
    answered = "cc_contacts_answered_total"
    abandoned = "cc_contacts_abandoned_total"
    flowed = "cc_contacts_flowed_out_total"
    return [
        Kpi("Requests", count(("cc_contacts_offered_total", "cc_calls_blocked_total",
                               "cc_tickets_created_total")), "none",
            "Contacts offered + calls blocked + tickets created in the range, every channel."),
        Kpi("Offered", count("cc_contacts_offered_total"), "none",
            "Contact segments that started waiting in a queue in the range "
            "(cc_contacts_offered_total at its end - at its start)."),
        Kpi("Answered", count(answered), "none", "Segments answered by an agent."),
        Kpi("Handled", count("cc_contacts_handled_total"), "none",
            "Contacts whose after-contact work ended in the range."),
        Kpi("Blocked calls",
            lambda m, by: (f"{delta('cc_calls_blocked_total', m, by)} or "
                           f"{delta('cc_contacts_offered_total', with_queue(VOICE, m), by)} * 0"),
            "none", "Calls that could not be served at all (0 when voice contacts were "
            "offered and none was blocked)."),
        Kpi("Service level",
            lambda m, by: ratio(delta("cc_contacts_answered_within_threshold_total", m, by),
                                delta((answered, abandoned), m, by)),
            "percentunit",
            "Answered within the threshold / (answered + abandoned, short abandons left out): "
            "the default policy (abandons negative, flow-outs ignored). A queue configured "
            "otherwise: read the report, which applies each queue's policy.",
            decimals=1, is_ratio=True),
        Kpi("Average speed of answer",
            lambda m, by: average("cc_contact_wait_seconds", with_queue(ANSWERED, m), by),
            "s", "Σ wait of the answered segments / answered segments (the wait histogram's "
            "_sum and _count).", decimals=1),
        Kpi("Abandon ratio",
            lambda m, by: ratio(delta(abandoned, m, by),
                                delta((answered, abandoned, flowed), m, by)),
            "percentunit",
            "Abandoned (not short) / (answered + abandoned + flowed out).", decimals=1,
            is_ratio=True),
        Kpi("Average handle time",
            lambda m, by: average("cc_contact_handle_seconds", m, by), "s",
            "Σ (talk + hold + after-contact work) / contacts handled.", decimals=1),
        Kpi("First contact resolution",
            lambda m, by: ratio(delta("cc_contacts_resolved_first_contact_total", m, by),
                                delta("cc_contacts_handled_total", m, by)),
            "percentunit", "Handled contacts resolved at first contact (resolved=true on the "
            "last wrap-up, no transfer) / contacts handled.", decimals=1, is_ratio=True),
        Kpi("Average response time",
            response_time,
            "s", "Σ (agent reply - the oldest unanswered customer message) / such replies, over "
            "the tickets' public agent replies and the chats' agent messages together.",
            decimals=1),
    ]


def tickets() -> list[Kpi]:
    return [
        Kpi("Tickets created", count("cc_tickets_created_total"), "none",
            "Tickets created in the range."),
        Kpi("Tickets solved", count("cc_tickets_solved_total"), "none",
            "First solves in the range."),
        Kpi("Open at the end", lambda m, by: total(selector("cc_tickets_open", m), by), "none",
            "Tickets open (pending and on hold included) at the range's end: at the month's "
            "end for a whole month."),
        Kpi("Backlog at the end", lambda m, by: total(selector("cc_tickets_backlog", m), by),
            "none", "Open tickets older than backlog_age_seconds at the range's end."),
        Kpi("First response time",
            lambda m, by: average("cc_ticket_first_response_seconds", m, by), "s",
            "Σ (first public agent reply - created) / first replies, booked at the reply.",
            decimals=1),
        Kpi("Resolution time",
            lambda m, by: average("cc_ticket_resolution_seconds", m, by), "s",
            "Σ (first solve - created) / first solves, booked at the solve.", decimals=1),
        Kpi("Resolution ratio",
            lambda m, by: ratio(delta("cc_tickets_solved_total", m, by),
                                delta("cc_tickets_created_total", m, by)),
            "percentunit", "First solves / tickets created in the range; over 100 % when it "
            "solved more than it received.", decimals=1),
        Kpi("Tickets reopened", count("cc_tickets_reopened_total"), "none",
            "Reopens in the range."),
        Kpi("First response, business hours",
            lambda m, by: average("cc_ticket_first_response_business_seconds", m, by), "s",
            "As the first response time, counting the queue's business hours only.",
            decimals=1),
        Kpi("Resolution, business hours",
            lambda m, by: average("cc_ticket_resolution_business_seconds", m, by), "s",
            "As the resolution time, counting business hours only.", decimals=1),
        Kpi("Ticket first contact resolution",
            lambda m, by: ratio(delta("cc_tickets_resolved_first_contact_total", m, by),
                                delta("cc_tickets_solved_total", m, by)),
            "percentunit", "First solves with exactly one public agent reply and at most one "
            "agent / first solves.", decimals=1, is_ratio=True),
        Kpi("Replies per ticket",
            lambda m, by: ratio(delta("cc_ticket_replies_before_solve_total", m, by),
                                delta("cc_tickets_solved_total", m, by)),
            "none", "Public agent replies before the first solve / first solves, booked at "
            "the solve.", decimals=2),
    ]


def survey(kind: str, scores: str | None = None) -> Expr:
    def expr(m: str, by: str) -> str:
        matchers = with_queue(f'survey="{kind}"', m)
        if scores is not None:
            matchers += f', score=~"{scores}"'
        return delta("cc_survey_responses_total", matchers, by)
    return expr


def nps(m: str, by: str) -> str:
    responses = survey("nps")(m, by)
    promoters = f"({survey('nps', PROMOTERS)(m, by)} or {responses} * 0)"
    detractors = f"({survey('nps', DETRACTORS)(m, by)} or {responses} * 0)"
    return f"100 * ({promoters} - {detractors}) / ({responses} > 0)"


def customer_experience() -> list[Kpi]:
    return [
        Kpi("CSAT", lambda m, by: ratio(survey("csat", CSAT_TOP)(m, by), survey("csat")(m, by)),
            "percentunit", "CSAT responses scoring 4 or more / CSAT responses (scale 1-5, as "
            "the report reads it).", decimals=1, is_ratio=True),
        Kpi("NPS", nps, "none", "100 x (responses 9-10 - responses 0-6) / NPS responses "
            "(-100 to 100)."),
        Kpi("CES", lambda m, by: ratio(survey("ces", CES_TOP)(m, by), survey("ces")(m, by)),
            "percentunit", "CES responses scoring 6 or more / CES responses (scale 1-7, higher "
            "is easier).", decimals=1, is_ratio=True),
        Kpi("Survey responses", count("cc_survey_responses_total"), "none",
            "NPS, CSAT and CES responses in the range."),
        Kpi("QA reviews", count("cc_qa_reviews_total"), "none", "QA reviews in the range."),
        Kpi("IQS", lambda m, by: ratio(delta("cc_qa_review_score_total", m, by),
                                       delta("cc_qa_reviews_total", m, by)),
            "percentunit", "Internal quality score: Σ QA review score (each 0-1) / QA "
            "reviews.", decimals=1, is_ratio=True),
    ]


def part(name: str) -> str:
    return f"sum({name}{{{MONTH}}})"


def customers() -> list[Kpi]:
    start, end = part("cc_window_customers_start"), part("cc_window_customers_end")
    acquired = part("cc_window_customers_acquired")
    churned = part("cc_window_customers_churned")
    return [
        Kpi("Customers at the start", lambda m, by: start, "none",
            "Customers at the start of the customer month that holds the range's end."),
        Kpi("Customers acquired", lambda m, by: acquired, "none",
            "Customers acquired in that month up to the range's end."),
        Kpi("Customers lost", lambda m, by: churned, "none",
            "Customers churned or lapsed in that month up to the range's end."),
        Kpi("Customers at the end", lambda m, by: end, "none",
            "start + acquired - lost, at the range's end."),
        Kpi("Retention", lambda m, by: f"({end} - {acquired}) / ({start} > 0)", "percentunit",
            "(customers at the end - acquired) / customers at the start.", decimals=1,
            is_ratio=True),
        Kpi("Churn", lambda m, by: f"{churned} / ({start} > 0)", "percentunit",
            "Customers lost / customers at the start.", decimals=1, is_ratio=True),
        Kpi("Referral", lambda m, by: f"{part('cc_window_customers_referred')} / ({acquired} > 0)",
            "percentunit", "Customers acquired with referred_by / customers acquired.",
            decimals=1, is_ratio=True),
        Kpi("Engagement",
            lambda m, by: (f"{part('cc_window_customer_interactions')} / "
                           f"(({start} + {acquired}) > 0)"),
            "none", "Interactions / (customers at the start + acquired).", decimals=2),
        Kpi("Acquisition cost",
            lambda m, by: (f"sum by (currency) (cc_window_marketing_spend{{{MONTH}}}) "
                           f"/ on () group_left () ({acquired} > 0)"),
            "none", "Marketing spend / customers acquired, per currency.", decimals=2,
            legend="{{currency}}"),
    ]


#: Columns of the per-queue tables: the main per-queue KPIs (the tiles have them all).
PER_QUEUE = ("Offered", "Answered", "Service level", "Average speed of answer",
             "Abandon ratio", "Average handle time", "Blocked calls", "Tickets created",
             "Tickets solved", "Open at the end", "Backlog at the end", "First response time",
             "Resolution time", "CSAT", "NPS", "CES")

SECTIONS: tuple[tuple[str, Callable[[], list[Kpi]]], ...] = (
    ("History", history),
    ("Contacts", contacts),
    ("Tickets", tickets),
    ("Customer experience", customer_experience),
    ("Customers (the whole centre, the month in [customers] timezone)", customers),
)

#: Tiles whose value is a share in 0-1 (both twins); the live test checks them as ratios.
RATIO_TITLES = frozenset(
    kpi.title + suffix
    for _, kpis in SECTIONS for kpi in kpis() if kpi.is_ratio
    for suffix in ("", EARLIER_SUFFIX)
)


# --------------------------------------------------------------------------- panels

def tile(kpi: Kpi, earlier: bool) -> panels.Panel:
    title = kpi.title + (EARLIER_SUFFIX if earlier else "")
    target = query(kpi.expr(QUEUE, ""), kpi.legend or kpi.title, instant=True)
    panel = panels.big_stat(
        title, target, unit=kpi.unit, decimals=kpi.decimals, names=bool(kpi.legend),
        thresholds=steps(kpi.base_colour, *kpi.thresholds), mappings=kpi.mappings,
        w=TILE_W, h=TILE_H,
        description=kpi.description + (" One calendar month before the selected range "
                                       "(panel time shift 1M)." if earlier else ""))
    return panel.time_shift(EARLIER) if earlier else panel


def table_target(expr: str, ref_id: str) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .datasource(DATASOURCE)
        .expr(expr)
        .legend_format("__auto")
        .ref_id(ref_id)
        .format(PromQueryFormat.TABLE)
        .instant()
    )


def per_queue(earlier: bool) -> table.Panel:
    """One row per selected queue, one column per KPI (instant tables merged on ``queue``)."""
    by_title = {kpi.title: kpi for _, kpis in SECTIONS for kpi in kpis()}
    kpis = [by_title[name] for name in PER_QUEUE]
    refs = [chr(ord("A") + i) for i in range(len(kpis))]
    rename = {f"Value #{ref}": kpi.title for ref, kpi in zip(refs, kpis, strict=True)}
    panel = (
        table.Panel()
        .title("Per queue" + (EARLIER_SUFFIX if earlier else ""))
        .description("Each selected queue's month values, as the tiles compute them for the "
                     "selected queues together." + (" One calendar month before the selected "
                                                    "range." if earlier else ""))
        .datasource(DATASOURCE)
        .targets([table_target(kpi.expr(QUEUE, "queue"), ref)
                  for ref, kpi in zip(refs, kpis, strict=True)])
        .transformations([
            model.DataTransformerConfig(id_val="merge", options={}),
            model.DataTransformerConfig(id_val="organize", options={
                "excludeByName": {"Time": True},
                "renameByName": rename,
                "indexByName": {"queue": 0, **{f"Value #{ref}": i + 1
                                               for i, ref in enumerate(refs)}},
            }),
        ])
        .unit("none")
        .decimals(0)
        .no_value(panels.NO_VALUE)
        .span(24)
        .height(TABLE_H)
    )
    for kpi in kpis:
        if kpi.unit != "none" or kpi.decimals:
            properties = [model.DynamicConfigValue(id_val="unit", value=kpi.unit),
                          model.DynamicConfigValue(id_val="decimals", value=kpi.decimals)]
            panel = panel.override_by_name(kpi.title, properties)
    return panel.time_shift(EARLIER) if earlier else panel


# --------------------------------------------------------------------------- the dashboard

def build() -> model.Dashboard:
    board = (
        skeleton(
            UID, TITLE, area="month",
            description="The monthly report's overview: each KPI for the selected range "
            "(default this month so far) beside the same days one calendar month earlier, "
            "from counter differences (exact, no increase()).",
            refresh="5m", time_from="now/M",
        )
        .with_variable(label_variable(
            "queue", "Queue",
            'label_values({__name__=~"cc_contacts_offered_total|cc_tickets_created_total"}, '
            "queue)"))
    )
    layout: list[model.GridPos] = []
    y = 0
    for title, kpis in SECTIONS:
        board = board.with_row(row(title))
        layout.append(model.GridPos(x=0, y=y, w=24, h=1))
        y += 1
        items = kpis()
        for start in range(0, len(items), HALF // TILE_W):
            line = items[start:start + HALF // TILE_W]
            for earlier in (False, True):
                for column, kpi in enumerate(line):
                    board = board.with_panel(tile(kpi, earlier))
                    layout.append(model.GridPos(x=HALF * earlier + TILE_W * column, y=y,
                                                w=TILE_W, h=TILE_H))
            y += TILE_H
    board = board.with_row(row("Per queue"))
    layout.append(model.GridPos(x=0, y=y, w=24, h=1))
    y += 1
    for earlier in (False, True):
        board = board.with_panel(per_queue(earlier))
        layout.append(model.GridPos(x=0, y=y, w=24, h=TABLE_H))
        y += TABLE_H
    built = finish(board)
    for panel, position in zip(built.panels or [], layout, strict=True):
        panel.grid_pos = position
    return built
