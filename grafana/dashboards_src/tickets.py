"""Tickets & customer experience (``ccpulse-tickets``): the back office and what customers say.

Rows: now (open, awaiting reply, backlog, overdue, today's counts and CSAT), open cases (by
queue and priority over time), response and resolution (calendar and business time, target,
resolution ratio, FCR, replies), volume (requests by channel, tickets by category, flow per
hour), customer experience (CSAT, NPS, CES, IQS) and the customer lifecycle (months).

Windowed ratios, averages and scores are the fleet-wide recording rules of
``deploy/prometheus/rules/ccpulse-cx-recording.yml`` (``common.CSAT`` …): one series per queue,
channel and window, summed over the workers, drawn for ``previous_interval`` (a step per
completed interval) and ``today``. A tile over several selected queues divides the sums of the
parts itself (``sum(satisfied) / sum(responses)``), never averages the queues' ratios.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.models import common as viz
from grafana_foundation_sdk.models import dashboard as model

from . import panels
from .common import (
    ACQUISITION_COST,
    AMBER,
    BLUE,
    CES,
    CES_SCORE,
    CSAT,
    CUSTOMER_CHURN,
    CUSTOMER_ENGAGEMENT,
    CUSTOMER_RETENTION,
    GREEN,
    GREY,
    IQS,
    LIFETIME_VALUE,
    NPS,
    QUEUE,
    QUEUE_CHANNEL,
    RED,
    REFERRAL,
    REPLIES_PER_TICKET,
    TICKET_FIRST_CONTACT_RESOLUTION,
    TICKET_FIRST_RESPONSE,
    TICKET_FIRST_RESPONSE_BUSINESS,
    TICKET_RESOLUTION,
    TICKET_RESOLUTION_BUSINESS,
    TICKET_RESOLUTION_RATIO,
    TICKET_RESPONSE,
    TICKET_WITHIN_TARGET,
    finish,
    label_variable,
    quantile,
    query,
    queue_variable,
    row,
    skeleton,
    steps,
)

UID = "ccpulse-tickets"
TITLE = "ccpulse - Tickets & customer experience"

#: Colour of each ticket priority (docs/contract.md §1.3), the same on every panel.
PRIORITY_COLOURS = {"urgent": RED, "high": AMBER, "normal": BLUE, "low": GREY}
#: CSAT colour bands: the CsatDrop alert fires below 70 % (docs/runbooks.md#csatdrop).
CSAT_RED, CSAT_GREEN = 0.7, 0.8
#: The customer-lifecycle windows (calendar months in [customers] timezone).
MONTHS = 'window=~"month|previous_month"'
#: Ticket KPIs move slowly: the rolling percentiles look back an hour, not a minute.
ROLLING = "1h"

TODAY = f'{QUEUE_CHANNEL}, window="today"'


def build() -> model.Dashboard:
    board = (
        skeleton(
            UID,
            TITLE,
            area="tickets",
            description="Open cases, first response and resolution (calendar and business "
            "time), volumes, CSAT / NPS / CES / IQS and the customer lifecycle.",
            refresh="30s",
            time_from="now-24h",
        )
        .with_variable(queue_variable("cc_tickets_created_total"))
        .with_variable(
            label_variable(
                "channel",
                "Channel",
                'label_values({__name__=~"cc_tickets_created_total|cc_survey_responses_total", '
                'queue=~"$queue"}, channel)',
            )
        )
    )
    for title, contents in (
        ("Now", now()),
        ("Open cases", open_cases()),
        ("Response and resolution", response_and_resolution()),
        ("Volume", volume()),
        ("Customer experience", customer_experience()),
        ("Customer lifecycle", lifecycle()),
    ):
        board = board.with_row(row(title))
        for panel in contents:
            board = board.with_panel(panel)
    return finish(board)


def windows(rule: str, matchers: str = QUEUE_CHANNEL, legend: str = "{{queue}} {{channel}}",
            first_ref: str = "A", label: str = "") -> list[Dataquery]:
    """A fleet rule for the completed intervals and for the running day (already one series
    per queue, channel and window: selected as is)."""
    second = chr(ord(first_ref) + 1)
    prefix = f"{label} " if label else ""
    return [
        query(f'{rule}{{{matchers}, window="previous_interval"}}', f"{prefix}{legend} interval",
              first_ref),
        query(f'{rule}{{{matchers}, window="today"}}', f"{prefix}{legend} today", second),
    ]


def tile(title: str, expr: str, *, unit: str = "none", description: str,
         thresholds=None, decimals: int | None = 0) -> stat.Panel:
    return panels.big_stat(title, query(expr, title, instant=True), unit=unit, w=3, h=4,
                           thresholds=thresholds, decimals=decimals, description=description)


def csat_today(matchers: str) -> str:
    """Today's CSAT of every selected queue and channel together: the sums of the parts."""
    return (f'sum(cc_window_csat_satisfied{{{matchers}, window="today"}}) '
            f'/ (sum(cc_window_csat_responses{{{matchers}, window="today"}}) > 0)')


def now() -> list[panels.Panel]:
    return [
        tile("Open tickets", f"sum(cc_tickets_open{{{QUEUE_CHANNEL}}})",
             description="Tickets open now, pending and on hold included."),
        tile("Awaiting reply", f"sum(cc_tickets_awaiting_reply{{{QUEUE_CHANNEL}}})",
             description="Open tickets whose last public message is the customer's."),
        tile("Backlog", f"sum(cc_tickets_backlog{{{QUEUE_CHANNEL}}})",
             description="Open tickets created more than backlog_age_seconds (a day by "
             "default) ago."),
        tile("First responses overdue",
             f"sum(cc_tickets_first_response_overdue{{{QUEUE_CHANNEL}}})",
             thresholds=steps(GREEN, (1, RED)),
             description="Open tickets without a first public agent reply past their "
             "priority's first-response target."),
        tile("Created today", f"sum(cc_window_tickets_created{{{TODAY}}})",
             description="Tickets created since the start of the queue's day."),
        tile("Solved today", f"sum(cc_window_tickets_solved{{{TODAY}}})",
             description="First solves today."),
        tile("Reopened today", f"sum(cc_window_tickets_reopened{{{TODAY}}})",
             thresholds=steps(GREEN, (1, AMBER)),
             description="Solved or closed tickets reopened today."),
        tile("CSAT today", csat_today(QUEUE_CHANNEL), unit="percentunit",
             thresholds=steps(RED, (CSAT_RED, AMBER), (CSAT_GREEN, GREEN)),
             description="Satisfied (top-two score) / CSAT responses today, over the selected "
             "queues and channels and all workers."),
    ]


def by_priority(panel: panels.Panel) -> panels.Panel:
    return panels.coloured_by_name(panel, PRIORITY_COLOURS)


def open_cases() -> list[panels.Panel]:
    return [
        panels.graph(
            "Open tickets by queue",
            query(f"sum by (queue) (cc_tickets_open{{{QUEUE_CHANNEL}}})", "{{queue}}"),
            unit="none", w=8, h=8, stacked=True,
            description="Tickets open now, summed over channels and priorities."),
        by_priority(panels.graph(
            "Open tickets by priority",
            query(f"sum by (priority) (cc_tickets_open{{{QUEUE_CHANNEL}}})", "{{priority}}"),
            unit="none", w=8, h=8, stacked=True,
            description="Tickets open now in the selected queues, by priority.")),
        panels.graph(
            "Awaiting reply and backlog",
            query(f"sum by (queue) (cc_tickets_awaiting_reply{{{QUEUE_CHANNEL}}})",
                  "{{queue}} awaiting reply", "A"),
            query(f"sum by (queue) (cc_tickets_backlog{{{QUEUE_CHANNEL}}})",
                  "{{queue}} backlog", "B"),
            unit="none", w=8, h=8,
            description="Open tickets waiting for an agent's public reply, and open tickets "
            "older than the backlog age."),
        by_priority(panels.graph(
            "First responses overdue by priority",
            query(f"sum by (priority) (cc_tickets_first_response_overdue{{{QUEUE_CHANNEL}}})",
                  "{{priority}}"),
            unit="none", w=12, h=8,
            description="Open tickets past their first-response target (docs/contract.md §3.6; in "
            "business time when the queue has business hours). Urgent and high ones page "
            "(TicketFirstResponseOverdue).")),
        by_priority(panels.bars(
            "Open now by queue and priority",
            query(f"sum by (queue, priority) (cc_tickets_open{{{QUEUE_CHANNEL}}})",
                  "{{queue}} {{priority}}", instant=True),
            unit="none", w=12, h=8,
            description="Tickets open now per queue and priority.")),
    ]


def response_and_resolution() -> list[panels.Panel]:
    first = "cc_ticket_first_response_seconds"
    return [
        panels.step_graph(
            "First response time: calendar and business",
            *windows(TICKET_FIRST_RESPONSE, label="calendar"),
            *windows(TICKET_FIRST_RESPONSE_BUSINESS, first_ref="C", label="business"),
            unit="s", w=12, h=8,
            description="Average created -> first public agent reply, in calendar time and in "
            "the queue's business hours only: completed intervals and the running day."),
        panels.step_graph(
            "Resolution time: calendar and business",
            *windows(TICKET_RESOLUTION, label="calendar"),
            *windows(TICKET_RESOLUTION_BUSINESS, first_ref="C", label="business"),
            unit="s", w=12, h=8,
            description="Average created -> first solve, in calendar and in business time."),
        panels.step_graph(
            "First responses within target",
            *windows(TICKET_WITHIN_TARGET), unit="percentunit", max_value=1, w=8, h=8,
            description="First responses that met their priority's target / first responses "
            "with a target."),
        panels.step_graph(
            "Average response time",
            *windows(TICKET_RESPONSE), unit="s", w=8, h=8,
            description="Every public agent reply to waiting customer messages: its time - "
            "the oldest unanswered customer message."),
        panels.graph(
            "First response percentiles (last hour)",
            query(quantile(0.5, first, QUEUE_CHANNEL).replace("$__rate_interval", ROLLING),
                  "p50", "A"),
            query(quantile(0.9, first, QUEUE_CHANNEL).replace("$__rate_interval", ROLLING),
                  "p90", "B"),
            unit="s", w=8, h=8,
            description="From the cc_ticket_first_response_seconds histogram over the last "
            "hour (calendar time)."),
        panels.step_graph(
            "Resolution ratio",
            *windows(TICKET_RESOLUTION_RATIO), unit="percentunit", max_value=1, w=8, h=8,
            description="Of the tickets created in the window, the share solved since: it "
            "rises as the window's tickets get solved."),
        panels.step_graph(
            "First contact resolution (tickets)",
            *windows(TICKET_FIRST_CONTACT_RESOLUTION), unit="percentunit", max_value=1,
            w=8, h=8,
            description="First solves with exactly one public agent reply and at most one "
            "agent / first solves."),
        panels.step_graph(
            "Replies per ticket",
            *windows(REPLIES_PER_TICKET), unit="none", w=8, h=8,
            description="Public agent replies before the first solve / first solves."),
    ]


def volume() -> list[panels.Panel]:
    per_hour = "[$__rate_interval]"
    return [
        panels.bars(
            "Requests by channel today",
            query('sum by (channel) (cc_window_requests{channel=~"$channel", '
                  'window="today"})', "{{channel}}", instant=True),
            unit="none", w=8, h=8,
            description="Offered contacts + blocked calls + created tickets per channel, "
            "every queue (the family has no queue label)."),
        panels.step_graph(
            "Requests by channel per interval",
            query('sum by (channel) (cc_window_requests{channel=~"$channel", '
                  'window="previous_interval"})', "{{channel}}"),
            unit="none", w=8, h=8,
            description="Requests of each completed interval, per channel."),
        panels.bars(
            "Tickets created today by category",
            query(f"sum by (category) (cc_window_tickets_created{{{TODAY}}})", "{{category}}",
                  instant=True),
            unit="none", w=8, h=8,
            description="Categories outside the configured list are counted as other."),
        panels.graph(
            "Tickets per hour: created, solved, reopened",
            query(f"3600 * sum(rate(cc_tickets_created_total{{{QUEUE_CHANNEL}}}{per_hour}))",
                  "created", "A"),
            query(f"3600 * sum(rate(cc_tickets_solved_total{{{QUEUE_CHANNEL}}}{per_hour}))",
                  "solved", "B"),
            query(f"3600 * sum(rate(cc_tickets_reopened_total{{{QUEUE_CHANNEL}}}{per_hour}))",
                  "reopened", "C"),
            unit="none", w=12, h=8,
            description="From the counters. Created above solved for long: the open cases "
            "grow."),
        panels.step_graph(
            "Tickets created by category per interval",
            query(f"sum by (category) (cc_window_tickets_created{{{QUEUE_CHANNEL}, "
                  f'window="previous_interval"}})', "{{category}}"),
            unit="none", w=12, h=8,
            description="Tickets created in each completed interval, by category."),
    ]


def customer_experience() -> list[panels.Panel]:
    return [
        panels.step_graph(
            "CSAT", *windows(CSAT), unit="percentunit", max_value=1, w=8, h=8,
            description="Responses scoring scale_max - 1 or more / responses."),
        panels.graph(
            "NPS", *windows(NPS, QUEUE, "{{queue}}"), unit="none", min_value=-100,
            max_value=100, w=8, h=8,
            description="100 x (promoters 9-10 - detractors 0-6) / responses, per queue "
            "(-100 to 100).").line_interpolation(viz.LineInterpolation.STEP_AFTER),
        panels.graph(
            "Survey responses per hour",
            query(f"3600 * sum by (survey) (rate(cc_survey_responses_total{{{QUEUE_CHANNEL}}}"
                  f"[{ROLLING}]))", "{{survey}}"),
            unit="none", w=8, h=8,
            description="Responses per hour over the last hour, by survey (nps, csat, ces)."),
        panels.step_graph(
            "CES (easy)", *windows(CES), unit="percentunit", max_value=1, w=8, h=8,
            description="CES responses scoring scale_max - 1 or more / responses."),
        panels.step_graph(
            "CES mean score", *windows(CES_SCORE), unit="none", w=8, h=8,
            description="Mean CES score (1 to scale_max, higher is easier)."),
        panels.step_graph(
            "IQS", *windows(IQS), unit="percentunit", max_value=1, w=8, h=8,
            description="Internal quality score: mean QA review score, 0-100 %."),
    ]


def month_tile(title: str, rule: str, unit: str, description: str,
               decimals: int | None = 1) -> stat.Panel:
    return panels.big_stat(
        title, query(f"{rule}{{{MONTHS}}}", "{{window}}", instant=True), unit=unit,
        decimals=decimals, names=True, w=6, h=5, thresholds=steps(BLUE),
        description=description)


def lifecycle() -> list[panels.Panel]:
    money = '{{currency}} {{window}}'
    return [
        month_tile("Retention", CUSTOMER_RETENTION, "percentunit",
                   "(customers at the end - acquired) / customers at the start; the month so "
                   "far and the previous month."),
        month_tile("Churn", CUSTOMER_CHURN, "percentunit",
                   "Customers churned in the month / customers at its start."),
        month_tile("Referral", REFERRAL, "percentunit",
                   "Customers acquired with a referral / customers acquired."),
        month_tile("Engagement", CUSTOMER_ENGAGEMENT, "none",
                   "Interactions per active customer (at the start + acquired).", decimals=2),
        panels.bars(
            "Customer acquisition cost",
            query(f"{ACQUISITION_COST}{{{MONTHS}}}", money, instant=True),
            unit="none", w=12, h=6,
            description="Marketing spend / customers acquired, per currency."),
        panels.bars(
            "Customer lifetime value",
            query(f"{LIFETIME_VALUE}{{{MONTHS}}}", money, instant=True),
            unit="none", w=12, h=6,
            description="Revenue per customer per year x average lifetime in years (capped "
            "at 10) - CAC, per currency."),
    ]
