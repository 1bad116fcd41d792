"""The one event representation the core works on.

Producers send JSON (contract §1). The shell (``streams.validation``) decodes and validates the
bytes once and hands the core an :class:`Event`: the envelope fields the engine needs on every
event, with the event time already converted to integer epoch microseconds (the core's only
time unit, see ``streams.core.timestamps``), plus the decoded body for the type-specific fields.
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: Topic (default name, before any prefix) that carries each event family.
TOPIC_OF_FAMILY: dict[str, str] = {
    "call": "cc.calls",
    "chat": "cc.chats",
    "ticket": "cc.tickets",
    "agent": "cc.agents",
    "survey": "cc.feedback",
    "qa": "cc.feedback",
    "customer": "cc.customers",
    "marketing": "cc.customers",
}

DEADLETTER_TOPIC = "cc.deadletter"

#: Every event type of docs/contract.md §1, in the order the contract lists them.
EVENT_TYPES: tuple[str, ...] = (
    "call.queued", "call.answered", "call.abandoned", "call.flowed_out", "call.blocked",
    "call.hold_started", "call.hold_ended", "call.transferred", "call.ended",
    "call.wrapup_ended",
    "chat.queued", "chat.answered", "chat.abandoned", "chat.flowed_out", "chat.transferred",
    "chat.message", "chat.ended", "chat.wrapup_ended",
    "ticket.created", "ticket.assigned", "ticket.replied", "ticket.status_changed",
    "ticket.updated",
    "agent.state_changed",
    "survey.responded", "qa.reviewed",
    "customer.acquired", "customer.churned", "customer.revenue", "customer.interaction",
    "marketing.spend",
)


class Event(NamedTuple):
    """A validated event.

    ``occurred_us`` is ``occurred_at`` as integer microseconds since the Unix epoch (UTC),
    every digit the producer sent kept.
    ``body`` is the whole decoded JSON object, unknown fields included.
    """

    event_id: str
    type: str
    occurred_us: int
    body: dict[str, Any]

    @property
    def family(self) -> str:
        """``call`` for ``call.queued``: the part of the type before the dot."""
        return self.type.partition(".")[0]


def topic_for_type(event_type: str) -> str | None:
    """Default topic name for an event type, or ``None`` for an unknown type."""
    return TOPIC_OF_FAMILY.get(event_type.partition(".")[0])


#: The body field that keys each family's events on its topic (contract §1). Feedback is keyed by
#: the contact or ticket it is about, else by its own event id; marketing by its event id.
KEY_FIELDS_OF_FAMILY: dict[str, tuple[str, ...]] = {
    "call": ("call_id",),
    "chat": ("chat_id",),
    "ticket": ("ticket_id",),
    "agent": ("agent_id",),
    "survey": ("contact_id", "ticket_id", "event_id"),
    "qa": ("contact_id", "ticket_id", "event_id"),
    "customer": ("customer_id",),
    "marketing": ("event_id",),
}


def entity_key(event_type: str, body: dict[str, Any]) -> str:
    """The id that keys the event on its topic (docs/contract.md §1): the first of its family's key
    fields that the body has (``""`` if none)."""
    for field in KEY_FIELDS_OF_FAMILY.get(event_type.partition(".")[0], ("event_id",)):
        value = body.get(field)
        if value:
            return str(value)
    return ""
