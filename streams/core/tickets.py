"""Tickets: what this release computes from them — their share of *requests by channel*.

A ticket is one more entity kind with a record of its events, so de-duplication, any arrival
order and restarts work exactly as for contacts. The ticket KPIs of SPEC §3.1/§3.3 (open
tickets, backlog, response and resolution times, ...) plug in here as more samples.
"""

from __future__ import annotations

from typing import Any

from streams.core.samples import TICKETS_CREATED, WINDOW, Sample

UNKNOWN = "unknown"

TicketEvent = tuple[str, str, int, str | None, Any]


def ticket_compact(kind: str, event_id: str, occurred_ms: int,
                   body: dict[str, Any]) -> TicketEvent:
    """``(event_id, kind, occurred_ms, queue, channel)`` of a ticket event."""
    queue = body.get("queue")
    channel = body.get("channel")
    return (event_id, kind, occurred_ms, queue if isinstance(queue, str) else None,
            channel if isinstance(channel, str) else None)


def ticket_samples(events: list[TicketEvent]) -> list[Sample]:
    """A created ticket is one request of its channel, booked at its creation in its queue."""
    for ev in events:
        if ev[1] == "created":
            return [(WINDOW, ev[3] or UNKNOWN, ev[4] or UNKNOWN, ev[2], TICKETS_CREATED, 1)]
    return []
