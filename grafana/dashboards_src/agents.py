"""Agents (``ccpulse-agents``): agents by state, occupancy and staffing, one row per queue.

``cc_agents`` counts an agent in every queue they serve (contract §3.1), so the rows are per
queue and nothing here adds queues together: a multi-skilled agent would count twice.
Occupancy and the actual service level and blocking are the fleet-wide recording rules (sum over
the workers of numerator and denominator), one series per queue (and channel) and window. The
Erlang C, A and B predictions are per worker (each worker predicts for the queues of its
partitions).
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from . import panels
from .common import (
    AMBER,
    BLOCKING_RATIO,
    BLUE,
    GREEN,
    OCCUPANCY,
    QUEUE,
    RED,
    SERVICE_LEVEL,
    STATE_COLOURS,
    finish,
    query,
    queue_variable,
    row,
    skeleton,
    steps,
)

UID = "ccpulse-agents"

# Occupancy bands: under 60 % the floor is over-staffed, over 85 % agents burn out.
OCCUPANCY_LOW, OCCUPANCY_AMBER, OCCUPANCY_RED = 0.60, 0.85, 0.92
STAFFED = 'state=~"available|on_contact|after_contact_work"'


def build() -> model.Dashboard:
    board = skeleton(
        UID,
        "ccpulse - Agents",
        area="agents",
        description="Agents by state, occupancy and Erlang C, A and B staffing per queue.",
        refresh="30s",
        time_from="now-6h",
    ).with_variable(queue_variable("cc_agents"))
    board = board.with_row(row("$queue", repeat="queue"))
    for panel in queue_panels():
        board = board.with_panel(panel)
    return finish(board)


def queue_panels() -> list[panels.Panel]:
    by_state = query(f"sum by (state) (cc_agents{{{QUEUE}}})", "{{state}}", instant=True)
    occupancy = panels.big_stat(
        "Occupancy",
        query(f"{OCCUPANCY}{{{QUEUE}}}", "{{window}}", instant=True),
        unit="percentunit",
        decimals=0,
        names=True,
        thresholds=steps(
            BLUE, (OCCUPANCY_LOW, GREEN), (OCCUPANCY_AMBER, AMBER), (OCCUPANCY_RED, RED)
        ),
        w=6,
        h=6,
        description="(on contact + after-contact work) / (available + on contact + after-contact "
        "work), per window. Blue: under-used; amber and red: over-loaded.",
    )
    return [
        panels.coloured_by_name(
            panels.big_stat(
                "Agents by state",
                by_state,
                unit="none",
                names=True,
                side_by_side=True,
                w=10,
                h=6,
                description="Agents whose last state is each state, among those serving this "
                "queue.",
            ),
            STATE_COLOURS,
        ),
        occupancy,
        panels.coloured_by_name(
            panels.graph(
                "Agents by state over time",
                query(f"sum by (state) (cc_agents{{{QUEUE}}})", "{{state}}"),
                unit="none",
                stacked=True,
                w=8,
                h=6,
                description="Stacked: the total is the agents logged on or off for this queue.",
            ),
            STATE_COLOURS,
        ),
        panels.graph(
            "Staffing: waiting, free, staffed, required",
            query(f"sum(cc_queue_contacts_waiting{{{QUEUE}}})", "contacts waiting", "A"),
            query(f'sum(cc_agents{{{QUEUE}, state="available"}})', "agents free", "B"),
            query(f"sum(cc_agents{{{QUEUE}, {STAFFED}}})", "agents staffed", "C"),
            query(
                f"sum by (channel) (cc_erlang_required_agents{{{QUEUE}}})",
                "required {{channel}} (Erlang C)",
                "D",
            ),
            query(
                f"sum by (channel) (cc_erlang_a_required_agents{{{QUEUE}}})",
                "required {{channel}} (Erlang A)",
                "E",
            ),
            unit="none",
            w=8,
            h=8,
            description="Staffed = available + on contact + after-contact work. Required: agents "
            "Erlang C needs to meet the SL target at the last 30 minutes' load; Erlang A, with "
            "the patience callers showed in those minutes (only where some abandoned). "
            "What-if tables: /staffing on the worker.",
        ),
        panels.step_graph(
            "Occupancy over time",
            query(f'{OCCUPANCY}{{{QUEUE}, window="previous_interval"}}', "interval", "A"),
            query(f'{OCCUPANCY}{{{QUEUE}, window="today"}}', "today", "B"),
            unit="percentunit",
            max_value=1,
            w=8,
            h=8,
            description="Completed intervals (steps) and the running day.",
        ),
        panels.graph(
            "Predicted service level, abandons and blocking",
            query(
                f"max by (channel) (cc_erlang_predicted_service_level_ratio{{{QUEUE}}})",
                "predicted {{channel}}",
                "A",
            ),
            query(
                f'{SERVICE_LEVEL}{{{QUEUE}, window="interval"}}',
                "actual {{channel}} (interval)",
                "B",
            ),
            query(
                f"max by (channel) (cc_erlang_a_predicted_service_level_ratio{{{QUEUE}}})",
                "predicted {{channel}} (Erlang A)",
                "C",
            ),
            query(
                f"max by (channel) (cc_erlang_a_predicted_abandon_ratio{{{QUEUE}}})",
                "predicted abandons {{channel}} (Erlang A)",
                "D",
            ),
            query(
                f"max(cc_erlang_b_predicted_blocking_ratio{{{QUEUE}}})",
                "predicted blocking (Erlang B)",
                "E",
            ),
            query(
                f'{BLOCKING_RATIO}{{{QUEUE}, window="interval"}}',
                "actual blocking (interval)",
                "F",
            ),
            unit="percentunit",
            max_value=1,
            w=8,
            h=8,
            description="With the agents staffed now: the service level Erlang C predicts "
            "(nobody abandons) and Erlang A's (callers abandon with the patience they showed in "
            "the last 30 minutes; answered in time / offered), beside the interval's actual one; "
            "the share Erlang A predicts will abandon; and the blocking Erlang B predicts for "
            "the queue's trunks setting at the last 30 minutes' load, beside the interval's "
            "actual blocking.",
        ),
    ]
