"""The metric value type and the catalogue of every family ccpulse exports (SPEC §4).

One place names every family: its type, help text and labels. The KPI layer builds its
:class:`Family` values from here (:func:`new_family`), the exporter and the wallboard read
them, and ``docs/metrics.md`` is generated from :data:`CATALOGUE` (``python -m
streams.docgen``), so the documentation cannot drift from what ``/metrics`` serves.

:data:`RATIO_PARTS` names, for every windowed ratio or average, the windowed gauges of its
numerator and denominator: a ratio cannot be summed over workers, its parts can, so the
shipped recording rules compute fleet-wide values as ``sum(numerator) / sum(denominator)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class FamilySpec(NamedTuple):
    """What a family is: ``kind`` is ``counter``, ``gauge`` or ``histogram``."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    group: str


@dataclass
class Family:
    """One metric family with its samples. ``samples`` maps label values to a value; for a
    histogram the value is ``(bounds, counts, sum)`` with non-cumulative counts (the last
    count is the +Inf bucket) and bounds and sum in seconds."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    samples: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def add(self, labels: tuple[str, ...], value: float) -> None:
        self.samples[labels] = self.samples.get(labels, 0) + value


QC = ("queue", "channel")
QCW = ("queue", "channel", "window")
QW = ("queue", "window")

_C, _G, _H = "counter", "gauge", "histogram"
_COUNTERS, _HISTOGRAMS, _LIVE = "Counters", "Histograms", "Live gauges"
_WINDOW, _PARTS, _PIPE = "Windowed KPIs", "Windowed parts of ratios", "Pipeline health"

CATALOGUE: tuple[FamilySpec, ...] = (
    # --- counters since the start of the stream
    FamilySpec("cc_contacts_offered_total", _C,
               "Contact segments that started waiting in a queue.", QC, _COUNTERS),
    FamilySpec("cc_contacts_answered_total", _C, "Segments answered by an agent.", QC, _COUNTERS),
    FamilySpec("cc_contacts_abandoned_total", _C,
               "Segments abandoned by the customer while waiting (short abandons excluded).",
               QC, _COUNTERS),
    FamilySpec("cc_contacts_short_abandoned_total", _C,
               "Abandons with a wait below the policy's short_abandon_seconds.", QC, _COUNTERS),
    FamilySpec("cc_contacts_flowed_out_total", _C,
               "Segments that left the queue unanswered by routing.",
               ("queue", "channel", "reason"), _COUNTERS),
    FamilySpec("cc_contacts_answered_within_threshold_total", _C,
               "Segments answered within the service-level threshold.", QC, _COUNTERS),
    FamilySpec("cc_contacts_handled_total", _C, "Contacts handled (after-contact work over).",
               QC, _COUNTERS),
    FamilySpec("cc_calls_blocked_total", _C, "Calls that could not be served at all.",
               ("queue", "reason"), _COUNTERS),
    FamilySpec("cc_contacts_stale_total", _C,
               "Waiting segments dropped from the live gauges as stale (no outcome within "
               "stale_after_seconds of queueing).", QC, _COUNTERS),
    # --- histograms
    FamilySpec("cc_contact_wait_seconds", _H,
               "Wait of answered and abandoned segments (short abandons included).",
               ("queue", "channel", "outcome"), _HISTOGRAMS),
    FamilySpec("cc_contact_handle_seconds", _H,
               "Handle time (talk + hold + after-contact work).", QC, _HISTOGRAMS),
    # --- live gauges
    FamilySpec("cc_queue_contacts_waiting", _G,
               "Segments waiting in the queue now (stale ones excluded).", QC, _LIVE),
    FamilySpec("cc_queue_oldest_wait_seconds", _G,
               "How long the oldest waiting segment has waited (0 when none).", QC, _LIVE),
    FamilySpec("cc_agents", _G, "Agents by their current state, per queue they serve.",
               ("queue", "state"), _LIVE),
    FamilySpec("cc_erlang_required_agents", _G,
               "Erlang C agents needed to meet the SL target at the trailing-30-minute arrival "
               "rate and AHT.", QC, _LIVE),
    FamilySpec("cc_erlang_predicted_service_level_ratio", _G,
               "Erlang C service level predicted with the agents staffed now.", QC, _LIVE),
    # --- windowed KPIs (per worker; fleet-wide values come from the recording rules)
    FamilySpec("cc_window_contacts_offered", _G,
               "Segments that started waiting in the window.", QCW, _WINDOW),
    FamilySpec("cc_window_contacts_answered", _G, "Segments answered in the window.", QCW,
               _WINDOW),
    FamilySpec("cc_window_contacts_abandoned", _G,
               "Segments abandoned (not short) in the window.", QCW, _WINDOW),
    FamilySpec("cc_window_contacts_handled", _G, "Contacts handled in the window.", QCW,
               _WINDOW),
    FamilySpec("cc_window_calls_blocked", _G, "Calls blocked in the window.", QW, _WINDOW),
    FamilySpec("cc_window_requests", _G,
               "Requests by channel: offered contacts, blocked calls, new tickets.",
               ("channel", "window"), _WINDOW),
    FamilySpec("cc_service_level_ratio", _G,
               "Service level of the window per the queue's policy (docs/configuration.md).",
               QCW, _WINDOW),
    FamilySpec("cc_service_level_target_ratio", _G,
               "The service-level target of the queue and channel.", QCW, _WINDOW),
    FamilySpec("cc_average_speed_of_answer_seconds", _G, "Average wait of answered segments.",
               QCW, _WINDOW),
    FamilySpec("cc_abandon_ratio", _G,
               "Abandoned (not short) / (answered + abandoned + flowed out).", QCW, _WINDOW),
    FamilySpec("cc_blocking_ratio", _G, "Blocked / (blocked + offered voice).", QW, _WINDOW),
    FamilySpec("cc_average_handle_time_seconds", _G,
               "Average handle time of contacts handled in the window.", QCW, _WINDOW),
    FamilySpec("cc_first_contact_resolution_ratio", _G,
               "Handled contacts resolved without transfer / handled.", QCW, _WINDOW),
    FamilySpec("cc_chat_response_average_seconds", _G,
               "Average agent response time to waiting chat customers.", QW, _WINDOW),
    FamilySpec("cc_occupancy_ratio", _G,
               "Time on contact + after-contact work / time available + on contact + ACW.",
               QW, _WINDOW),
    # --- numerators and denominators of the windowed ratios (sum them over workers)
    FamilySpec("cc_window_contacts_answered_within_threshold", _G,
               "Segments answered within the service-level threshold (A≤T).", QCW, _PARTS),
    FamilySpec("cc_window_contacts_flowed_out", _G, "Segments flowed out in the window.", QCW,
               _PARTS),
    FamilySpec("cc_window_contacts_short_abandoned", _G,
               "Short abandons in the window (left out of every ratio).", QCW, _PARTS),
    FamilySpec("cc_window_contacts_service_level_met", _G,
               "Service-level numerator under the queue's policy: A≤T (+ B≤T when abandons "
               "are positive, + F≤T when flow-outs are positive).", QCW, _PARTS),
    FamilySpec("cc_window_contacts_service_level_counted", _G,
               "Service-level denominator under the queue's policy: A (+ B unless abandons are "
               "ignored) (+ F unless flow-outs are ignored).", QCW, _PARTS),
    FamilySpec("cc_window_contact_wait_seconds_sum", _G,
               "Sum of the waits of segments answered in the window (ASA numerator).", QCW,
               _PARTS),
    FamilySpec("cc_window_contacts_left_queue", _G,
               "Answered + abandoned (not short) + flowed out (abandon-ratio denominator).",
               QCW, _PARTS),
    FamilySpec("cc_window_contact_handle_seconds_sum", _G,
               "Sum of the handle times of contacts handled in the window (AHT numerator).",
               QCW, _PARTS),
    FamilySpec("cc_window_contacts_resolved_first_contact", _G,
               "Handled contacts resolved without transfer (FCR numerator).", QCW, _PARTS),
    FamilySpec("cc_window_calls_attempted", _G,
               "Blocked + offered voice calls (blocking-ratio denominator).", QW, _PARTS),
    FamilySpec("cc_window_chat_response_seconds_sum", _G,
               "Sum of agent response times to waiting chat customers.", QW, _PARTS),
    FamilySpec("cc_window_chat_responses", _G,
               "Agent responses to waiting chat customers.", QW, _PARTS),
    FamilySpec("cc_window_agent_busy_seconds", _G,
               "Agent time on contact + after-contact work (occupancy numerator).", QW, _PARTS),
    FamilySpec("cc_window_agent_staffed_seconds", _G,
               "Agent time available + on contact + after-contact work (occupancy "
               "denominator).", QW, _PARTS),
    # --- pipeline health (per process; not part of the replay = worker equality)
    FamilySpec("cc_events_total", _C, "Valid events processed.", ("topic", "type"), _PIPE),
    FamilySpec("cc_events_invalid_total", _C, "Invalid events sent to the dead-letter topic.",
               ("topic", "reason"), _PIPE),
    FamilySpec("cc_events_duplicate_total", _C,
               "Events dropped because their event_id was seen before.", ("topic",), _PIPE),
    FamilySpec("cc_events_late_total", _C,
               "Events older than their entity's retention behind stream time: not applied.",
               ("topic",), _PIPE),
    FamilySpec("cc_last_event_timestamp_seconds", _G,
               "Event time of the newest event per topic (freshness).", ("topic",), _PIPE),
    FamilySpec("cc_event_lag_seconds", _H, "Processing time minus event time.", ("topic",),
               _PIPE),
    FamilySpec("cc_consumer_lag_messages", _G,
               "Messages in the partition not yet processed by this worker.",
               ("topic", "partition"), _PIPE),
    FamilySpec("cc_build_info", _G, "ccpulse build; the value is always 1.", ("version",),
               _PIPE),
)

SPECS: dict[str, FamilySpec] = {spec.name: spec for spec in CATALOGUE}

#: Windowed ratio or average -> (numerator family, denominator family).
RATIO_PARTS: dict[str, tuple[str, str]] = {
    "cc_service_level_ratio": ("cc_window_contacts_service_level_met",
                               "cc_window_contacts_service_level_counted"),
    "cc_average_speed_of_answer_seconds": ("cc_window_contact_wait_seconds_sum",
                                           "cc_window_contacts_answered"),
    "cc_abandon_ratio": ("cc_window_contacts_abandoned", "cc_window_contacts_left_queue"),
    "cc_blocking_ratio": ("cc_window_calls_blocked", "cc_window_calls_attempted"),
    "cc_average_handle_time_seconds": ("cc_window_contact_handle_seconds_sum",
                                       "cc_window_contacts_handled"),
    "cc_first_contact_resolution_ratio": ("cc_window_contacts_resolved_first_contact",
                                          "cc_window_contacts_handled"),
    "cc_chat_response_average_seconds": ("cc_window_chat_response_seconds_sum",
                                         "cc_window_chat_responses"),
    "cc_occupancy_ratio": ("cc_window_agent_busy_seconds", "cc_window_agent_staffed_seconds"),
}


def new_family(name: str) -> Family:
    """An empty :class:`Family` for catalogue entry ``name`` (``KeyError`` if not catalogued)."""
    spec = SPECS[name]
    return Family(spec.name, spec.kind, spec.help, spec.labels)
