"""Queue detail (``ccpulse-queue``): what happened in a queue, interval by interval.

Rows: now (today's counts), volume, service (SL / ASA / abandons over time), the wait
distribution from the ``cc_contact_wait_seconds`` histogram, and handling (AHT, FCR).

Windowed gauges are drawn for ``previous_interval`` (a step per completed interval: the
interval report) and ``today`` (the running day); rates come from the counters. Windowed ratios
and averages are the fleet-wide recording rules (``common.SERVICE_LEVEL`` …: sum over the
workers of numerator and denominator), one series per queue, channel and window.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, stat
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.models import dashboard as model

from . import panels
from .common import (
    ABANDON_RATIO,
    AMBER,
    AVERAGE_HANDLE_TIME,
    AVERAGE_SPEED_OF_ANSWER,
    FIRST_CONTACT_RESOLUTION,
    GREEN,
    QUEUE,
    QUEUE_CHANNEL,
    RED,
    SERVICE_LEVEL,
    SERVICE_LEVEL_TARGET,
    channel_variable,
    finish,
    label_variable,
    quantile,
    query,
    queue_variable,
    row,
    skeleton,
    steps,
)

UID = "ccpulse-queue"

WAIT = "cc_contact_wait_seconds"
RATE = "[$__rate_interval]"


def build() -> model.Dashboard:
    board = (
        skeleton(
            UID,
            "ccpulse - Queue detail",
            area="contacts",
            description="Volumes, service level, waits and handling of the selected queues.",
            refresh="30s",
            time_from="now-6h",
        )
        .with_variable(queue_variable())
        .with_variable(channel_variable())
        .with_variable(threshold_variable())
    )
    for title, contents in (
        ("Today", today()),
        ("Volume", volume()),
        ("Service", service()),
        ("Wait distribution", waits()),
        ("Handling", handling()),
    ):
        board = board.with_row(row(title))
        for panel in contents:
            board = board.with_panel(panel)
    return finish(board)


def threshold_variable() -> dashboard.QueryVariable:
    """The wait histogram's bucket bounds, exactly as exported (``20.0``), default 20 s.

    The buckets include every configured SL threshold (docs/contract.md §4), so each queue's own
    threshold is on the list.
    """
    return (
        label_variable(
            "threshold",
            "Answer threshold (s)",
            f"label_values({WAIT}_bucket{{{QUEUE_CHANNEL}}}, le)",
            include_all=False,
            default="20.0",
        )
        .regex(r"/^[0-9.]+$/")
        .sort(model.VariableSort.NUMERICAL_ASC)
        .allow_custom_value(False)
    )


def window_pair(rule: str, matchers: str = QUEUE_CHANNEL) -> list[Dataquery]:
    """A fleet-wide windowed rule for the completed intervals and for the running day.

    The rule has one series per queue, channel and window already (summed over the workers),
    so it is selected as is: no aggregation over workers here.
    """
    legend = "{{queue}} {{channel}}"
    return [
        query(f'{rule}{{{matchers}, window="previous_interval"}}', f"{legend} interval", "A"),
        query(f'{rule}{{{matchers}, window="today"}}', f"{legend} today", "B"),
    ]


def count_today(title: str, metric: str, matchers: str = QUEUE_CHANNEL) -> stat.Panel:
    return panels.big_stat(
        title,
        query(f'sum({metric}{{{matchers}, window="today"}})', title, instant=True),
        unit="none",
        w=3,
        h=4,
        description=f"sum({metric}) for the running day in each queue's time zone.",
    )


def today() -> list[panels.Panel]:
    return [
        panels.big_stat(
            "Waiting now",
            query(f"sum(cc_queue_contacts_waiting{{{QUEUE_CHANNEL}}})", "waiting", instant=True),
            unit="none",
            w=3,
            h=4,
            description="Contacts queued now without an outcome.",
        ),
        panels.big_stat(
            "Oldest wait now",
            query(f"max(cc_queue_oldest_wait_seconds{{{QUEUE_CHANNEL}}})", "oldest", instant=True),
            unit="s",
            decimals=0,
            thresholds=steps(GREEN, (20, AMBER), (60, RED)),
            w=3,
            h=4,
            description="How long the longest-waiting contact has been queued.",
        ),
        count_today("Offered", "cc_window_contacts_offered"),
        count_today("Answered", "cc_window_contacts_answered"),
        count_today("Abandoned", "cc_window_contacts_abandoned"),
        count_today("Handled", "cc_window_contacts_handled"),
        count_today("Blocked calls", "cc_window_calls_blocked", QUEUE),
        panels.big_stat(
            "Stale dropped",
            query(
                f"sum(increase(cc_contacts_stale_total{{{QUEUE_CHANNEL}}}[$__range]))",
                "stale",
                instant=True,
            ),
            unit="none",
            decimals=0,
            thresholds=steps(GREEN, (1, AMBER)),
            w=3,
            h=4,
            description="Waiting contacts dropped as stale (no outcome after stale_after_seconds) "
            "in the time range: a sign of lost events.",
        ),
    ]


def per_minute(metric: str, legend: str, ref_id: str, by: str = "") -> Dataquery:
    grouping = f" by ({by}) " if by else ""
    return query(f"60 * sum{grouping}(rate({metric}{RATE}))", legend, ref_id)


def volume() -> list[panels.Panel]:
    return [
        panels.graph(
            "Contacts per minute",
            per_minute(f"cc_contacts_offered_total{{{QUEUE_CHANNEL}}}", "offered", "A"),
            per_minute(f"cc_contacts_answered_total{{{QUEUE_CHANNEL}}}", "answered", "B"),
            per_minute(f"cc_contacts_abandoned_total{{{QUEUE_CHANNEL}}}", "abandoned", "C"),
            per_minute(
                f"cc_contacts_short_abandoned_total{{{QUEUE_CHANNEL}}}", "short abandoned", "D"
            ),
            unit="none",
            w=12,
            h=8,
            description="Segment outcomes per minute, from the counters. Abandoned excludes "
            "short abandons.",
        ),
        panels.graph(
            "Flow-outs and blocked calls per minute",
            per_minute(
                f"cc_contacts_flowed_out_total{{{QUEUE_CHANNEL}}}",
                "flowed out: {{reason}}",
                "A",
                by="reason",
            ),
            per_minute(
                f"cc_calls_blocked_total{{{QUEUE}}}", "blocked: {{reason}}", "B", by="reason"
            ),
            unit="none",
            w=12,
            h=8,
            description="Contacts that left unanswered by routing, and calls that could not be "
            "served at all, by reason.",
        ),
    ]


def service() -> list[panels.Panel]:
    sl = panels.step_graph(
        "Service level",
        *window_pair(SERVICE_LEVEL),
        query(
            f'{SERVICE_LEVEL_TARGET}{{{QUEUE_CHANNEL}, window="today"}}',
            "{{queue}} {{channel}} target",
            "C",
        ),
        unit="percentunit",
        max_value=1,
        w=12,
        h=8,
        description="Service level per the queue's policy (docs/contract.md §3.2), fleet-wide: "
        "completed intervals (steps) and the running day, against the target (dashed).",
    )
    answered = (
        f'sum by (channel) (rate({WAIT}_bucket{{{QUEUE_CHANNEL}, outcome="answered", '
        f'le="$threshold"}}{RATE}))'
    )
    all_answered = (
        f'sum by (channel) (rate({WAIT}_count{{{QUEUE_CHANNEL}, outcome="answered"}}{RATE}))'
    )
    return [
        panels.dashed(sl, "target$"),
        panels.graph(
            "Answered within threshold (rolling)",
            query(f"{answered} / {all_answered}", "{{channel}}"),
            unit="percentunit",
            max_value=1,
            w=12,
            h=8,
            description="Share of answered contacts that waited at most $threshold s, over a "
            "sliding window, from the wait histogram. Abandons are not in it: compare with the "
            "service level to see their effect.",
        ),
        panels.step_graph(
            "Average speed of answer",
            *window_pair(AVERAGE_SPEED_OF_ANSWER),
            unit="s",
            w=12,
            h=8,
            description="Mean wait of answered contacts: completed intervals and the running day.",
        ),
        panels.step_graph(
            "Abandon ratio",
            *window_pair(ABANDON_RATIO),
            unit="percentunit",
            w=12,
            h=8,
            description="Abandoned (not short) / (answered + abandoned + flowed out).",
        ),
    ]


def wait_buckets(outcome: str, range_: str, instant: bool) -> Dataquery:
    expr = (
        f"sum by (le) ({'increase' if instant else 'rate'}({WAIT}_bucket{{{QUEUE_CHANNEL}, "
        f'outcome="{outcome}"}}[{range_}]))'
    )
    return query(expr, "{{le}}", instant=instant, heatmap=True)


def waits() -> list[panels.Panel]:
    answered = f'{QUEUE_CHANNEL}, outcome="answered"'
    abandoned = f'{QUEUE_CHANNEL}, outcome="abandoned"'
    return [
        panels.bucket_heatmap(
            "Answered waits over time",
            wait_buckets("answered", "$__rate_interval", instant=False),
            unit="s",
            w=12,
            h=9,
            description="Answers per second in each wait bucket (upper bound in seconds).",
        ),
        panels.graph(
            "Wait percentiles (rolling)",
            query(quantile(0.5, WAIT, answered, "channel"), "p50 answered {{channel}}", "A"),
            query(quantile(0.9, WAIT, answered, "channel"), "p90 answered {{channel}}", "B"),
            query(quantile(0.5, WAIT, abandoned, "channel"), "p50 abandoned {{channel}}", "C"),
            unit="s",
            w=12,
            h=9,
            description="Interpolated from the histogram buckets. The abandoned median is the "
            "callers' patience.",
        ),
        panels.bars(
            "Answered: wait distribution (time range)",
            wait_buckets("answered", "$__range", instant=True),
            unit="none",
            w=12,
            h=9,
            description="Contacts answered in the time range per wait bucket: the bar named 20.0 "
            "counts waits in (previous bound, 20 s].",
        ),
        panels.bars(
            "Abandoned: wait distribution (time range)",
            wait_buckets("abandoned", "$__range", instant=True),
            unit="none",
            w=12,
            h=9,
            description="Abandons in the time range by how long the customer had waited.",
        ),
    ]


def handling() -> list[panels.Panel]:
    handle = "cc_contact_handle_seconds"
    return [
        panels.step_graph(
            "Average handle time",
            *window_pair(AVERAGE_HANDLE_TIME),
            unit="s",
            w=8,
            h=8,
            description="Talk + hold + after-contact work per handled contact.",
        ),
        panels.graph(
            "Handle time percentiles (rolling)",
            query(quantile(0.5, handle, QUEUE_CHANNEL, "channel"), "p50 {{channel}}", "A"),
            query(quantile(0.9, handle, QUEUE_CHANNEL, "channel"), "p90 {{channel}}", "B"),
            unit="s",
            w=8,
            h=8,
            description="From the cc_contact_handle_seconds histogram.",
        ),
        panels.step_graph(
            "First contact resolution",
            *window_pair(FIRST_CONTACT_RESOLUTION),
            unit="percentunit",
            max_value=1,
            w=8,
            h=8,
            description="Handled with resolved=true and no transfer / handled.",
        ),
    ]
