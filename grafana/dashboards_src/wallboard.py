"""Floor wallboard (``ccpulse-wallboard``): big coloured tiles per queue, for TVs in kiosk mode.

A header line for the selected queues (data age first, so a frozen pipeline shows), a second
with the back office (open tickets, first responses overdue, today's CSAT), then one row per
queue, repeated by the ``queue`` variable. Every tile is an instant query; values per
channel are stacked and named (``voice`` / ``chat``). No descriptions, legends or sparklines.

Open it as ``/d/ccpulse-wallboard?kiosk&theme=dark`` (``&var-queue=sales`` to pick queues).

Service level, ASA and abandon ratio are the fleet-wide recording rules (sum over the workers
of numerator and denominator, ``common.SERVICE_LEVEL`` …): one series per queue, channel and
window. A queue row holds one queue, so ``max by (channel)`` over a rule only drops the
``queue`` and ``window`` labels; it never picks between workers.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, stat
from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.models import dashboard as model

from . import panels
from .common import (
    ABANDON_RATIO,
    AMBER,
    AVERAGE_SPEED_OF_ANSWER,
    BLUE,
    GREEN,
    QUEUE,
    QUEUE_CHANNEL,
    RED,
    SERVICE_LEVEL,
    SERVICE_LEVEL_TARGET,
    channel_variable,
    finish,
    fixed_colour,
    query,
    queue_variable,
    row,
    skeleton,
    steps,
)

UID = "ccpulse-wallboard"
REFRESH = "10s"

# Colour bands of the tiles. The service level is coloured against each queue's own exported
# target (cc_service_level_target_ratio, read through the rule SERVICE_LEVEL_TARGET); the rest
# have no target in the metrics, so these are floor defaults: change them here and regenerate.
SL_AMBER_BAND = 0.05  # SL below target but within 5 points: amber; further below: red
WAITING_AMBER, WAITING_RED = 5, 10  # contacts
OLDEST_WAIT_AMBER_S, OLDEST_WAIT_RED_S = 20, 60
ASA_AMBER_S, ASA_RED_S = 15, 30
ABANDON_AMBER, ABANDON_RED = 0.05, 0.10
BLOCKED_AMBER, BLOCKED_RED = 1, 5  # calls
DATA_AGE_AMBER_S, DATA_AGE_RED_S = 60, 180
OVERDUE_AMBER, OVERDUE_RED = 1, 5  # open tickets past their first-response target
CSAT_RED, CSAT_GREEN = 0.7, 0.8  # below 70 %: red (the CsatDrop alert); 80 % and up: green

HEADER_H, TILE_H = 4, 5

#: Title of the data-freshness tile (the tests look for it).
FRESHNESS_TITLE = "Data age"


def build() -> model.Dashboard:
    board = (
        skeleton(
            UID,
            "ccpulse - Floor wallboard",
            area="contacts",
            description="Live queue tiles for the contact-centre floor. Kiosk: "
            "/d/ccpulse-wallboard?kiosk&theme=dark",
            refresh=REFRESH,
            time_from="now-15m",
        )
        .with_variable(queue_variable())
        .with_variable(channel_variable())
    )
    for panel in header() + ticket_header():
        board = board.with_panel(panel)
    board = board.with_row(row("$queue", repeat="queue"))
    for panel in queue_tiles():
        board = board.with_panel(panel)
    return finish(board)


def header() -> list[panels.Panel]:
    return [
        data_age(),
        panels.big_stat(
            "Waiting now",
            query(f"sum(cc_queue_contacts_waiting{{{QUEUE_CHANNEL}}})", "waiting", instant=True),
            unit="none",
            thresholds=steps(GREEN, (WAITING_AMBER, AMBER), (WAITING_RED, RED)),
            w=6,
            h=HEADER_H,
        ),
        panels.big_stat(
            "Longest wait now",
            query(f"max(cc_queue_oldest_wait_seconds{{{QUEUE_CHANNEL}}})", "oldest", instant=True),
            unit="s",
            decimals=0,
            thresholds=steps(GREEN, (OLDEST_WAIT_AMBER_S, AMBER), (OLDEST_WAIT_RED_S, RED)),
            w=6,
            h=HEADER_H,
        ),
        panels.big_stat(
            "Blocked calls today",
            query(
                f'sum(cc_window_calls_blocked{{{QUEUE}, window="today"}})', "blocked", instant=True
            ),
            unit="none",
            thresholds=steps(GREEN, (BLOCKED_AMBER, AMBER), (BLOCKED_RED, RED)),
            w=6,
            h=HEADER_H,
        ),
    ]


def ticket_header() -> list[panels.Panel]:
    """Back-office tiles for the selected queues, every ticket channel (the wallboard's
    channel variable lists the contact channels, so it does not filter these)."""
    today = f'{QUEUE}, window="today"'
    return [
        panels.big_stat(
            "Open tickets",
            query(f"sum(cc_tickets_open{{{QUEUE}}})", "open", instant=True),
            unit="none",
            thresholds=steps(BLUE),
            w=8,
            h=HEADER_H,
        ),
        panels.big_stat(
            "First responses overdue",
            query(f"sum(cc_tickets_first_response_overdue{{{QUEUE}}})", "overdue", instant=True),
            unit="none",
            thresholds=steps(GREEN, (OVERDUE_AMBER, AMBER), (OVERDUE_RED, RED)),
            w=8,
            h=HEADER_H,
        ),
        panels.big_stat(
            "CSAT today",
            query(
                f"sum(cc_window_csat_satisfied{{{today}}}) "
                f"/ (sum(cc_window_csat_responses{{{today}}}) > 0)",
                "csat",
                instant=True,
            ),
            unit="percentunit",
            decimals=0,
            thresholds=steps(RED, (CSAT_RED, AMBER), (CSAT_GREEN, GREEN)),
            w=8,
            h=HEADER_H,
        ),
    ]


def data_age() -> stat.Panel:
    """Seconds since the event time of the newest event the pipeline processed.

    A stuck worker makes it grow; a dead exporter (no series at all) shows NO DATA in red
    (``or vector(NaN)`` turns "no series" into a value a mapping can paint).
    """
    no_data = model.SpecialValueMap(
        options=model.DashboardSpecialValueMapOptions(
            match=model.SpecialValueMatch.NA_N,
            result=model.ValueMappingResult(text="NO DATA", color=RED, index=0),
        )
    )
    return panels.big_stat(
        FRESHNESS_TITLE,
        query(
            "clamp_min(time() - max(cc_last_event_timestamp_seconds), 0) or vector(NaN)",
            "age",
            instant=True,
        ),
        unit="s",
        decimals=0,
        thresholds=steps(GREEN, (DATA_AGE_AMBER_S, AMBER), (DATA_AGE_RED_S, RED)),
        mappings=[no_data],
        w=6,
        h=HEADER_H,
    ).reduce_options(common.ReduceDataOptions().calcs(["last"]).values(False))


def per_channel(
    title: str, promql: str, unit: str, thresholds: ThresholdsConfig, decimals: int | None = None
) -> stat.Panel:
    """A 3-column queue tile with one named value per channel (``voice 3`` / ``chat 1``)."""
    return panels.big_stat(
        title,
        query(promql, "{{channel}}", instant=True),
        unit=unit,
        thresholds=thresholds,
        decimals=decimals,
        names=True,
        w=3,
        h=TILE_H,
    )


def queue_tiles() -> list[panels.Panel]:
    """The tiles of one queue row (24 columns wide)."""
    interval = f'{QUEUE_CHANNEL}, window="interval"'
    return [
        per_channel(
            "Waiting",
            f"sum by (channel) (cc_queue_contacts_waiting{{{QUEUE_CHANNEL}}})",
            "none",
            steps(GREEN, (WAITING_AMBER, AMBER), (WAITING_RED, RED)),
        ),
        per_channel(
            "Oldest wait",
            f"max by (channel) (cc_queue_oldest_wait_seconds{{{QUEUE_CHANNEL}}})",
            "s",
            steps(GREEN, (OLDEST_WAIT_AMBER_S, AMBER), (OLDEST_WAIT_RED_S, RED)),
            decimals=0,
        ),
        service_level("SL this interval", "interval"),
        service_level("SL today", "today"),
        per_channel(
            "ASA (interval)",
            f"max by (channel) ({AVERAGE_SPEED_OF_ANSWER}{{{interval}}})",
            "s",
            steps(GREEN, (ASA_AMBER_S, AMBER), (ASA_RED_S, RED)),
            decimals=0,
        ),
        per_channel(
            "Abandoned (interval)",
            f"max by (channel) ({ABANDON_RATIO}{{{interval}}})",
            "percentunit",
            steps(GREEN, (ABANDON_AMBER, AMBER), (ABANDON_RED, RED)),
            decimals=1,
        ),
        panels.big_stat(
            "Agents free",
            query(f'sum(cc_agents{{{QUEUE}, state="available"}})', "available", instant=True),
            unit="none",
            thresholds=steps(AMBER, (1, GREEN)),
            w=2,
            h=TILE_H,
        ),
        panels.big_stat(
            "Blocked",
            query(
                f'sum(cc_window_calls_blocked{{{QUEUE}, window="interval"}})',
                "blocked",
                instant=True,
            ),
            unit="none",
            thresholds=steps(GREEN, (BLOCKED_AMBER, AMBER), (BLOCKED_RED, RED)),
            w=2,
            h=TILE_H,
        ),
    ]


def service_level(title: str, window: str) -> stat.Panel:
    """The service level per channel, coloured against that queue and channel's own target.

    Grafana thresholds are static numbers, but targets differ per queue and channel. So the
    panel asks four queries that each return the service level only in one band: on target
    (A, green), within ``SL_AMBER_BAND`` below it (B, amber), further below (C, red), no
    target exported (D, blue). Exactly one of them answers for each channel; each query's
    colour is fixed by an override, and the number shown is always the service level itself.
    Both are the fleet-wide rules: the service level summed over the workers, the target (the
    same on every worker) taken once.
    """
    matchers = f'{QUEUE_CHANNEL}, window="{window}"'
    sl = f"max by (channel) ({SERVICE_LEVEL}{{{matchers}}})"
    target = f"max by (channel) ({SERVICE_LEVEL_TARGET}{{{matchers}}})"
    gap = f"({sl} - {target})"
    bands = [
        ("A", f"{sl} and ({gap} >= 0)", GREEN),
        ("B", f"{sl} and ({gap} < 0) and ({gap} >= -{SL_AMBER_BAND})", AMBER),
        ("C", f"{sl} and ({gap} < -{SL_AMBER_BAND})", RED),
        ("D", f"{sl} unless {target}", BLUE),
    ]
    panel = panels.big_stat(
        title,
        *(query(expr, "{{channel}}", ref_id, instant=True) for ref_id, expr, _ in bands),
        unit="percentunit",
        decimals=0,
        names=True,
        w=4,
        h=TILE_H,
    )
    for ref_id, _, colour in bands:
        panel = panel.override_by_query(ref_id, fixed_colour(colour))
    return panel
