"""What every ccpulse dashboard shares: the data source, queries, colours, variables, skeleton.

PromQL conventions used by all dashboards (see grafana/README.md):

- Variables are always matched with ``=~`` (``queue=~"$queue"``), so "All" (``.*``), a
  multi-value selection and a repeated row's single value all work.
- Several workers each export only the partitions they own (docs/contract.md §4), so every query
  aggregates away the scrape labels: counts with ``sum by``, live ages with ``max by``.
- Windowed ratios and averages (service level, ASA, abandon ratio, AHT, FCR, blocking, chat
  response, occupancy) come from the fleet-wide recording rules below, never from the workers'
  own ratio gauges (``cc_service_level_ratio`` …, which cover one worker's partitions only):
  a ratio cannot be summed, and ``max``/``avg`` of the workers' ratios is not the queue's. The
  rules divide the sums of numerator and denominator over the workers
  (``deploy/prometheus/rules/ccpulse-recording.yml``), so the Prometheus behind the dashboards
  must load those rules (the shipped configurations do).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, prometheus
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="prometheus")

#: Every ccpulse dashboard carries this tag; the header links list the dashboards by it.
TAG = "ccpulse"

QUEUE = 'queue=~"$queue"'
CHANNEL = 'channel=~"$channel"'
QUEUE_CHANNEL = f"{QUEUE}, {CHANNEL}"
TOPIC = 'topic=~"$topic"'

# Fleet-wide windowed ratios and averages, recorded by deploy/prometheus/rules/ccpulse-recording.yml
# as sum(numerator) / sum(denominator) over the workers: one series per {queue, channel, window}
# (or {queue, window}), none while the denominator is 0.
SERVICE_LEVEL = "queue_channel_window:cc_service_level:ratio"
SERVICE_LEVEL_TARGET = "queue_channel_window:cc_service_level_target:ratio"
AVERAGE_SPEED_OF_ANSWER = "queue_channel_window:cc_average_speed_of_answer:seconds"
ABANDON_RATIO = "queue_channel_window:cc_abandon:ratio"
AVERAGE_HANDLE_TIME = "queue_channel_window:cc_average_handle_time:seconds"
FIRST_CONTACT_RESOLUTION = "queue_channel_window:cc_first_contact_resolution:ratio"
BLOCKING_RATIO = "queue_window:cc_blocking:ratio"
CHAT_RESPONSE_AVERAGE = "queue_window:cc_chat_response_average:seconds"
OCCUPANCY = "queue_window:cc_occupancy:ratio"

# Tickets, feedback and customers, recorded by deploy/prometheus/rules/ccpulse-cx-recording.yml
# the same way (sum of the parts over the workers).
TICKET_FIRST_RESPONSE = "queue_channel_window:cc_ticket_first_response_average:seconds"
TICKET_FIRST_RESPONSE_BUSINESS = (
    "queue_channel_window:cc_ticket_first_response_business_average:seconds"
)
TICKET_WITHIN_TARGET = "queue_channel_window:cc_ticket_first_response_within_target:ratio"
TICKET_RESPONSE = "queue_channel_window:cc_ticket_response_average:seconds"
TICKET_RESOLUTION = "queue_channel_window:cc_ticket_resolution_average:seconds"
TICKET_RESOLUTION_BUSINESS = "queue_channel_window:cc_ticket_resolution_business_average:seconds"
TICKET_RESOLUTION_RATIO = "queue_channel_window:cc_ticket_resolution:ratio"
TICKET_FIRST_CONTACT_RESOLUTION = "queue_channel_window:cc_ticket_first_contact_resolution:ratio"
REPLIES_PER_TICKET = "queue_channel_window:cc_replies_per_ticket:mean"
CSAT = "queue_channel_window:cc_csat:ratio"
CES = "queue_channel_window:cc_ces:ratio"
CES_SCORE = "queue_channel_window:cc_ces_average:score"
IQS = "queue_channel_window:cc_iqs:ratio"
NPS = "queue_window:cc_nps:score"
CUSTOMER_RETENTION = "window:cc_customer_retention:ratio"
CUSTOMER_CHURN = "window:cc_customer_churn:ratio"
REFERRAL = "window:cc_referral:ratio"
CUSTOMER_ENGAGEMENT = "window:cc_customer_interactions_per_customer:mean"
ACQUISITION_COST = "currency_window:cc_customer_acquisition_cost:mean"
LIFETIME_VALUE = "currency_window:cc_customer_lifetime_value:mean"

GREEN, AMBER, RED, BLUE, PURPLE, GREY = "green", "orange", "red", "blue", "purple", "text"

#: Colour of each agent state (docs/contract.md §1.4), the same on every dashboard.
STATE_COLOURS = {
    "available": GREEN,
    "on_contact": BLUE,
    "after_contact_work": PURPLE,
    "not_ready": AMBER,
    "offline": GREY,
}


def query(
    expr: str,
    legend: str = "__auto",
    ref_id: str = "A",
    *,
    instant: bool = False,
    heatmap: bool = False,
) -> prometheus.Dataquery:
    """One PromQL target on the ccpulse data source (instant for stat panels)."""
    target = (
        prometheus.Dataquery()
        .datasource(DATASOURCE)
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
        .format(PromQueryFormat.HEATMAP if heatmap else PromQueryFormat.TIME_SERIES)
    )
    return target.instant() if instant else target.range()


def steps(base: str, *levels: tuple[float, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first level, then each (value, colour)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps(
            [model.Threshold(value=None, color=base)]
            + [model.Threshold(value=value, color=colour) for value, colour in levels]
        )
    )


def fixed_colour(colour: str) -> list[model.DynamicConfigValue]:
    """Override properties that paint a field in one colour."""
    return [
        model.DynamicConfigValue(
            id_val="color", value={"mode": model.FieldColorModeId.FIXED, "fixedColor": colour}
        )
    ]


def label_variable(
    name: str, label: str, promql: str, *, include_all: bool = True, default: str = "$__all"
) -> dashboard.QueryVariable:
    """A variable listing the values of a label, re-read whenever the time range moves."""
    variable = (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(promql)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.NATURAL_ASC)
        .multi(include_all)
        .include_all(include_all)
    )
    if include_all:
        variable = variable.all_value(".*").current(
            model.VariableOption(text=["All"], value=[default])
        )
    else:
        variable = variable.current(model.VariableOption(text=default, value=default))
    return variable


def queue_variable(metric: str = "cc_contacts_offered_total") -> dashboard.QueryVariable:
    return label_variable("queue", "Queue", f"label_values({metric}, queue)")


def channel_variable(metric: str = "cc_contacts_offered_total") -> dashboard.QueryVariable:
    return label_variable("channel", "Channel", f"label_values({metric}{{{QUEUE}}}, channel)")


def row(title: str, *, repeat: str | None = None) -> dashboard.Row:
    """An expanded row; its panels follow it on the dashboard (Grafana's layout for open rows)."""
    built = dashboard.Row(title).collapsed(False)
    return built.repeat(repeat) if repeat else built


def skeleton(
    uid: str, title: str, *, area: str, description: str, refresh: str, time_from: str
) -> dashboard.Dashboard:
    """A dashboard with the settings all ccpulse dashboards share.

    ``area`` is the second tag (``contacts``, ``agents``, ``pipeline``; next ``tickets``,
    ``cx``): the header links list every dashboard tagged ``ccpulse``.
    """
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG, area])
        .timezone("browser")
        .readonly()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time(time_from, "now")
        .refresh(refresh)
        .timepicker(
            dashboard.TimePicker().refresh_intervals(["5s", "10s", "30s", "1m", "5m", "15m"])
        )
        .link(
            dashboard.DashboardLink("ccpulse")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def finish(builder: dashboard.Dashboard) -> model.Dashboard:
    """Build the dashboard and number its panels 1, 2, … in layout order.

    Grafana keys panels by id; the SDK leaves them unset, so without this every panel would
    share one id.
    """
    built = builder.build()
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    return built


def quantile(q: float, histogram: str, matchers: str, by: str = "") -> str:
    """PromQL for the ``q`` quantile of a classic histogram over a sliding window."""
    grouping = f"le, {by}" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({grouping}) "
        f"(rate({histogram}_bucket{{{matchers}}}[$__rate_interval])))"
    )
