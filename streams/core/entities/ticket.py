"""Tickets: a ticket's record and what this release computes from it — its share of
*requests by channel* (SPEC §3.3).

A ticket is an entity with a record of its events, so de-duplication, any arrival order and
restarts work exactly as for contacts. The ticket KPIs of SPEC §3.1/§3.3 (open tickets,
backlog, response and resolution times, ...) plug in here as more contributions.

Retention (SPEC §2): a ticket is kept while it is open and for 30 days of stream time after
its last solve (so a reopen is still recognised).
"""

from __future__ import annotations

from bisect import insort
from typing import Any, NamedTuple

from streams.core.config import Config
from streams.core.contributions import TICKETS_CREATED, Booking, Contribution
from streams.core.entities.event_log import EventLogKind
from streams.core.events import Event
from streams.core.timestamps import DAY_US

UNKNOWN = "unknown"
AFTER_SOLVE_US = 30 * DAY_US
SOLVED_STATUSES = frozenset({"solved", "closed"})


class TicketEvent(NamedTuple):
    """A ticket event's fields the KPIs use; a plain tuple comparison orders a ticket's events
    (time, then event id)."""

    at_us: int
    event_id: str
    kind: str  # the type without its family: "created", "status_changed", ...
    queue: str | None
    channel: str | None
    status: str | None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class TicketKind(EventLogKind):
    """Entity kind of helpdesk tickets: one record per ``ticket_id``."""

    name = "ticket"
    families = ("ticket",)
    version = 2
    late_after_us = AFTER_SOLVE_US

    def key(self, event: Event) -> str:
        return f"ticket:{event.body['ticket_id']}"

    def new_record(self, event: Event) -> dict[str, Any]:
        return {"ev": []}

    def add(self, record: dict[str, Any], event: Event) -> None:
        body = event.body
        item = TicketEvent(event.occurred_us, event.event_id, event.type.partition(".")[2],
                           _text(body.get("queue")), _text(body.get("channel")),
                           _text(body.get("status")))
        insort(record["ev"], item)

    def _solved_at(self, record: dict[str, Any]) -> int | None:
        """When the ticket was last solved, if its latest status is solved or closed."""
        for ev in reversed(record["ev"]):
            if ev.status is not None:
                return ev.at_us if ev.status in SOLVED_STATUSES else None
        return None

    def expired(self, record: dict[str, Any], stream_us: int) -> bool:
        solved_at = self._solved_at(record)
        return solved_at is not None and stream_us - solved_at > AFTER_SOLVE_US

    def restore(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        if version < 2:  # format 1: (event_id, kind, occurred_ms, queue, channel), no status
            events = [TicketEvent(e[2] * 1000, e[0], e[1], e[3], e[4], None)
                      for e in record["ev"]]
        else:
            events = [TicketEvent(*e) for e in record["ev"]]
        events.sort()
        return {"ev": events}

    def contributions(self, record: dict[str, Any], config: Config) -> list[Contribution]:
        """A created ticket is one request of its channel, booked at creation in its queue."""
        for ev in record["ev"]:
            if ev.kind == "created":
                return [Booking(ev.queue or UNKNOWN, ev.channel or UNKNOWN, ev.at_us,
                                TICKETS_CREATED, 1)]
        return []
