"""Per agent (``ccpulse-agent-detail``): today's handled, AHT, FCR, occupancy and state time of
each agent — only for team leads, and only when the workers run with
``[limits] per_agent = true`` (off by default; without it every panel shows no data).

A dashboard of its own, not a section of ``ccpulse-agents``: Grafana grants access per
dashboard and folder, so this one can be restricted to the team leads while the aggregated
agents dashboard and the wallboard stay open (docs/security.md "Personal data"). Like every
ccpulse dashboard it is in the header links (tag ``ccpulse``), which list only the dashboards
a viewer may open; the wallboard reads no per-agent family (a unit test checks).

One agent's numbers are spread over partitions (its state events, the contacts it wraps up),
so the ratios are the fleet recording rules of ``ccpulse-agent-recording.yml`` and the counts
are ``sum by (agent)`` over the workers. ``agent="other"`` sums the agents past
``[limits] max_agents``.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from . import panels
from .common import (
    AMBER,
    BLUE,
    GREEN,
    RED,
    STATE_COLOURS,
    finish,
    label_variable,
    query,
    skeleton,
    steps,
)

UID = "ccpulse-agent-detail"

# Fleet-wide per-agent ratios, recorded by deploy/prometheus/rules/ccpulse-agent-recording.yml.
AGENT_AHT = "agent_window:cc_per_agent_average_handle_time:seconds"
AGENT_FCR = "agent_window:cc_per_agent_first_contact_resolution:ratio"
AGENT_OCCUPANCY = "agent_window:cc_per_agent_occupancy:ratio"

AGENT = 'agent=~"$agent"'
TODAY = f'{AGENT}, window="today"'
# The same bands as the aggregated agents dashboard: under 60 % idle, over 85 % overloaded.
OCCUPANCY_BANDS = steps(BLUE, (0.60, GREEN), (0.85, AMBER), (0.92, RED))


def build() -> model.Dashboard:
    board = skeleton(
        UID,
        "ccpulse - Per agent (restricted)",
        area="agents",
        description="Per-agent handled, AHT, FCR, occupancy and state time today. Personal "
        "data: for team leads only, never on a TV (docs/security.md). Needs [limits] "
        "per_agent = true on the workers.",
        refresh="1m",
        time_from="now-12h",
    ).with_variable(
        label_variable("agent", "Agent", "label_values(cc_window_per_agent_state_seconds, agent)")
    )
    for panel in agent_panels():
        board = board.with_panel(panel)
    return finish(board)


def agent_panels() -> list[panels.Panel]:
    return [
        panels.bars(
            "Occupancy today",
            query(f"{AGENT_OCCUPANCY}{{{TODAY}}}", "{{agent}}", instant=True),
            unit="percentunit",
            w=8,
            h=10,
            description="(on contact + after-contact work) / (available + on contact + "
            "after-contact work) since the day's start, per agent.",
        ).thresholds(OCCUPANCY_BANDS).max(1),
        panels.bars(
            "Handled today",
            query(
                f"sum by (agent) (cc_window_per_agent_contacts_handled{{{TODAY}}})",
                "{{agent}}",
                instant=True,
            ),
            unit="none",
            w=8,
            h=10,
            description="Contacts whose last wrap-up the agent ended today (a transferred "
            "contact counts for the agent who wrapped it up).",
        ),
        panels.bars(
            "Average handle time today",
            query(f"{AGENT_AHT}{{{TODAY}}}", "{{agent}}", instant=True),
            unit="s",
            w=8,
            h=10,
            description="Talk + hold + after-contact work of those contacts, averaged. No bar: "
            "nothing handled yet.",
        ),
        panels.bars(
            "First-contact resolution today",
            query(f"{AGENT_FCR}{{{TODAY}}}", "{{agent}}", instant=True),
            unit="percentunit",
            w=8,
            h=10,
            description="Handled contacts wrapped up as resolved and never transferred / handled.",
        ).max(1),
        panels.bars(
            "Not ready today",
            query(
                f'sum by (agent) (cc_window_per_agent_state_seconds{{{TODAY}, state="not_ready"}})',
                "{{agent}}",
                instant=True,
            ),
            unit="s",
            w=8,
            h=10,
            description="Time in not_ready (breaks, training, ...) since the day's start.",
        ),
        panels.coloured_by_name(
            panels.graph(
                "State time today",
                query(
                    f"sum by (state) (cc_window_per_agent_state_seconds{{{TODAY}}})",
                    "{{state}}",
                ),
                unit="s",
                stacked=True,
                w=8,
                h=10,
                description="Seconds in each state since the day's start, summed over the "
                "selected agents (pick one agent in the variable to see theirs). Offline time "
                "is not counted.",
            ),
            STATE_COLOURS,
        ),
        panels.step_graph(
            "Occupancy over the day",
            query(f"{AGENT_OCCUPANCY}{{{TODAY}}}", "{{agent}}"),
            unit="percentunit",
            max_value=1,
            w=24,
            h=9,
            description="Each agent's occupancy since the day's start, as the day goes on.",
        ),
    ]
