"""Every event of an entity gets the same key object (``sys.intern`` in each kind's ``key``):
the engine keeps an event's key beside its id for as long as it holds the id for
de-duplication, so without it each event held its own copy of the key. Interning changes no
value: the KPIs are compared by the engine-invariant and customer-compaction tests; these pin
that the keys of two events of one entity are one object, and equal to what they were."""

from __future__ import annotations

import pytest

from streams.core.entities.agent import AgentKind
from streams.core.entities.contact import ContactKind
from streams.core.entities.customer import CustomerKind
from streams.core.entities.ticket import TicketKind
from streams.core.events import Event
from streams.core.timestamps import parse_us

AT_US = parse_us("2027-01-05T10:00:00Z")


def _event(eid: str, type_: str, **body: str) -> Event:
    # a fresh string for every id, as each decoded event brings its own
    body = {k: "".join(v) for k, v in body.items()}
    return Event(eid, type_, AT_US, {"event_id": eid, "type": type_, **body})


@pytest.mark.parametrize(("kind", "type_", "field", "key"), [
    (TicketKind(), "ticket.created", "ticket_id", "ticket:t-17"),
    (CustomerKind(), "customer.revenue", "customer_id", "customer:t-17"),
    (ContactKind(), "call.queued", "call_id", "call:t-17"),
    (ContactKind(), "chat.queued", "chat_id", "chat:t-17"),
    (AgentKind(), "agent.state_changed", "agent_id", "agent:t-17"),
], ids=["ticket", "customer", "call", "chat", "agent"])
def test_two_events_of_one_entity_have_one_key_object(kind, type_, field, key):
    first = kind.key(_event("e1", type_, **{field: "t-" + "17"}))
    second = kind.key(_event("e2", type_, **{field: "t-1" + "7"}))
    assert first == second == key
    assert first is second
