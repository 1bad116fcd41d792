"""Agents: from an agent's state timeline to its samples (SPEC §1.4, §3.1, occupancy in §3.3).

The record is the agent's state changes sorted by time: ``(occurred_ms, state, queues,
event_id)`` where ``queues`` is the list the event carried, or ``None`` when it carried none
(the agent keeps serving the queues it had). Each state lasts until the next change; closed
spans in the occupancy states become :data:`SPAN` samples, the last state becomes one
:data:`AGENT` sample that the KPI layer extends to "now".
"""

from __future__ import annotations

from streams.core.samples import AGENT, OCCUPANCY_STATES, SPAN, Sample

UNKNOWN_QUEUE = "unknown"

StateChange = tuple[int, str, tuple[str, ...] | None, str]


def _queues_in_effect(timeline: list[StateChange]) -> list[tuple[str, ...]]:
    current: tuple[str, ...] = (UNKNOWN_QUEUE,)
    out = []
    for change in timeline:
        if change[2] is not None:
            current = change[2] or (UNKNOWN_QUEUE,)
        out.append(current)
    return out


def span_samples(start: StateChange, end_ms: int, queues: tuple[str, ...]) -> list[Sample]:
    """Samples of one closed state span (none outside the occupancy states)."""
    state = start[1]
    if state not in OCCUPANCY_STATES or end_ms <= start[0]:
        return []
    return [(SPAN, q, state, start[0], end_ms) for q in queues]


def agent_samples(timeline: list[StateChange]) -> list[Sample]:
    """Every sample of an agent, from its whole (time-sorted) timeline."""
    if not timeline:
        return []
    queues = _queues_in_effect(timeline)
    out: list[Sample] = []
    for i in range(len(timeline) - 1):
        out.extend(span_samples(timeline[i], timeline[i + 1][0], queues[i]))
    last = timeline[-1]
    out.append((AGENT, last[1], queues[-1], last[0]))
    return out


def appended_samples(
    timeline: list[StateChange], previous: list[Sample]
) -> tuple[list[Sample], list[Sample]] | None:
    """Fast path when the newest change was appended at the end: ``(removed, added)``.

    Only the previously open state closes and a new open state starts, so the work is
    constant instead of proportional to the timeline. ``None`` means "recompute".
    """
    if len(timeline) < 2 or not previous or previous[-1][0] != AGENT:
        return None
    before, new = timeline[-2], timeline[-1]
    old_live = previous[-1]
    if old_live[3] != before[0] or old_live[1] != before[1]:
        return None
    queues = old_live[2] if new[2] is None else (new[2] or (UNKNOWN_QUEUE,))
    closed = span_samples(before, new[0], old_live[2])
    return [old_live], [*closed, (AGENT, new[1], queues, new[0])]
