"""Samples: what one entity (a contact, an agent) contributes to the KPIs.

The engine never increments a KPI directly. Each entity's record (its events so far) is mapped
by a pure function to a list of samples; when the record changes, the engine retracts the old
samples and adds the new ones. Hence every aggregate is, by construction, the sum of the
current contributions of all entities, which makes the KPIs independent of arrival order and
of redelivery (a duplicate changes no record, so it changes no sample), and lets a restarted
worker rebuild every aggregate from the records alone.

Sample shapes (plain tuples, hashable, cheap to compare):

``(COUNTER, metric, labels, amount)``
    a counter family sample, e.g. ``(COUNTER, "offered", ("sales", "voice"), 1)``.
``(OBSERVE, metric, labels, milliseconds)``
    one histogram observation (integer milliseconds: sums stay exact in any order).
``(WINDOW, queue, channel, booking_ms, field, amount)``
    an amount booked in the interval and day windows containing ``booking_ms``.
``(SPAN, queue, state, start_ms, end_ms)``
    time an agent spent in ``state`` for ``queue``, split over the windows it crosses.
``(WAITING, queue, channel, queued_ms)``
    a segment waiting now (live state, not windowed).
``(AGENT, state, queues, since_ms)``
    an agent's current state (live state).
"""

from __future__ import annotations

from typing import Any

COUNTER = "c"
OBSERVE = "h"
WINDOW = "w"
SPAN = "s"
WAITING = "q"
AGENT = "a"

Sample = tuple[Any, ...]

#: Window fields of contacts, booked per (queue, channel).
OFFERED = "offered"
ANSWERED = "answered"
ANSWERED_WITHIN = "answered_within"
WAIT_ANSWERED_MS = "wait_answered_ms"
ABANDONED = "abandoned"
ABANDONED_WITHIN = "abandoned_within"
SHORT_ABANDONED = "short_abandoned"
FLOWED_OUT = "flowed_out"
HANDLED = "handled"
HANDLE_MS = "handle_ms"
RESOLVED_FIRST_CONTACT = "fcr"
BLOCKED = "blocked"
CHAT_RESPONSE_MS = "chat_response_ms"
CHAT_RESPONSES = "chat_responses"
#: Tickets, booked per (queue, ticket channel).
TICKETS_CREATED = "tickets_created"

#: Channels of calls and chats (contacts); tickets have their own channels.
CONTACT_CHANNELS = ("voice", "chat")

#: Agent states that count for occupancy, and every state.
AGENT_STATES = ("offline", "available", "on_contact", "after_contact_work", "not_ready")
OCCUPANCY_STATES = ("available", "on_contact", "after_contact_work")
