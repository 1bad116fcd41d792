"""Contributions: what one entity (a contact, an agent, a ticket) adds to the KPIs.

The engine never increments a KPI directly. An entity kind maps the entity's record (its
events so far) to a list of contributions with a pure function; when the record changes, the
engine retracts the old contributions and adds the new ones. Hence every aggregate is, by
construction, the sum of the current contributions of all entities, which makes the KPIs
independent of arrival order and of redelivery (a duplicate changes no record, so it changes
no contribution), and lets a restarted worker rebuild every aggregate from the records alone.

Every contribution is a small named tuple (hashable, cheap to compare). Times and durations
are integer microseconds (``_us``), so sums are exact in any order. Two contributions of
different types never compare equal in the engine: it keys them by ``(type, value)``.
"""

from __future__ import annotations

from typing import NamedTuple


class Count(NamedTuple):
    """One counter sample "since the start": ``Count("offered", ("sales", "voice"), 1)``."""

    metric: str
    labels: tuple[str, ...]
    amount: int


class Observe(NamedTuple):
    """One histogram observation of ``metric`` (``wait``, ``handle``) in microseconds."""

    metric: str
    labels: tuple[str, ...]
    value_us: int


class Booking(NamedTuple):
    """``amount`` of window ``field`` booked in the interval and day containing ``at_us``."""

    queue: str
    channel: str
    at_us: int
    field: str
    amount: int


class Span(NamedTuple):
    """Time an agent spent in ``state`` for ``queue``, split over the windows it crosses."""

    queue: str
    state: str
    start_us: int
    end_us: int


class Waiting(NamedTuple):
    """A segment waiting now (live state, not windowed)."""

    queue: str
    channel: str
    queued_us: int


class AgentNow(NamedTuple):
    """An agent's current state and the queues it serves (live state)."""

    state: str
    queues: tuple[str, ...]
    since_us: int


class TicketNow(NamedTuple):
    """An open ticket (live state): its current queue and priority, when it was created,
    whether its last public message is the customer's, and when its first response falls
    due (``None``: answered already, or no target for its priority)."""

    queue: str
    channel: str
    priority: str
    created_us: int
    awaiting_reply: bool
    first_response_due_us: int | None


class AgentBooking(NamedTuple):
    """``amount`` of per-agent field ``field`` (``handled``, ``handle_us``, ``fcr``) booked for
    ``agent`` in the per-agent day containing ``at_us`` (``streams.core.agent_ledger``). Only
    with ``[limits] per_agent``."""

    agent: str
    at_us: int
    field: str
    amount: int


class AgentSpan(NamedTuple):
    """Time the agent entity contributing it spent in ``state`` (every state but offline),
    split over the per-agent days it crosses; the agent is the one the entity's key names.
    Only with ``[limits] per_agent``."""

    state: str
    start_us: int
    end_us: int


Contribution = (Count | Observe | Booking | Span | Waiting | AgentNow | TicketNow | AgentBooking
                | AgentSpan)

# Window fields of contacts, booked per (queue, channel).
OFFERED = "offered"
ANSWERED = "answered"
ANSWERED_WITHIN = "answered_within"
WAIT_ANSWERED_US = "wait_answered_us"
#: Total wait of the segments that left the queue unanswered: every abandon (short ones too)
#: and every flow-out, booked at the outcome. With ``WAIT_ANSWERED_US`` they are the exposure
#: of the patience estimate (docs/contract.md §3.5, ``streams.core.staffing``).
WAIT_ABANDONED_US = "wait_abandoned_us"
WAIT_FLOWED_OUT_US = "wait_flowed_out_us"
ABANDONED = "abandoned"
ABANDONED_WITHIN = "abandoned_within"
SHORT_ABANDONED = "short_abandoned"
FLOWED_OUT = "flowed_out"
FLOWED_OUT_WITHIN = "flowed_out_within"
#: + the flow-out reason: the same two per reason (``flowed_out:timeout``), for a service-level
#: policy that counts each reason its own way; read by nothing else, so no metric of its own.
FLOWED_OUT_FOR = "flowed_out:"
FLOWED_OUT_WITHIN_FOR = "flowed_out_within:"
HANDLED = "handled"
HANDLE_US = "handle_us"
RESOLVED_FIRST_CONTACT = "fcr"
BLOCKED = "blocked"
CHAT_RESPONSE_US = "chat_response_us"
CHAT_RESPONSES = "chat_responses"
# Tickets, booked per (queue, ticket channel) in the ticket's queue at booking time.
TICKETS_CREATED = "tickets_created"  # every category (also a request of its channel)
TICKETS_CREATED_IN = "tickets_created:"  # + category label: created per category
TICKETS_CREATED_SOLVED = "tickets_created_solved"  # booked at creation, once first solved
TICKETS_SOLVED = "tickets_solved"  # first solves
TICKETS_REOPENED = "tickets_reopened"
TICKET_FIRST_RESPONSES = "ticket_first_responses"
TICKET_FIRST_RESPONSE_US = "ticket_first_response_us"
TICKET_FIRST_RESPONSE_BUSINESS_US = "ticket_first_response_business_us"
TICKET_FIRST_RESPONSES_WITH_TARGET = "ticket_first_responses_with_target"
TICKET_FIRST_RESPONSES_WITHIN_TARGET = "ticket_first_responses_within_target"
TICKET_RESPONSES = "ticket_responses"
TICKET_RESPONSE_US = "ticket_response_us"
TICKET_RESOLUTION_US = "ticket_resolution_us"
TICKET_RESOLUTION_BUSINESS_US = "ticket_resolution_business_us"
TICKETS_RESOLVED_FIRST_CONTACT = "tickets_fcr"
TICKET_REPLIES_BEFORE_SOLVE = "ticket_replies_before_solve"
# Surveys and QA reviews, booked per (queue, channel) at the response or review.
NPS_RESPONSES = "nps_responses"
NPS_PROMOTERS = "nps_promoters"
NPS_DETRACTORS = "nps_detractors"
CSAT_RESPONSES = "csat_responses"
CSAT_SATISFIED = "csat_satisfied"
CES_RESPONSES = "ces_responses"
CES_EASY = "ces_easy"
CES_SCORE_SUM = "ces_score_sum"
QA_REVIEWS = "qa_reviews"
IQS_PPM = "iqs_ppm"  # review scores, 0-1 in millionths (integer sums are exact in any order)

#: Counter metric of waiting segments whose outcome came after ``stale_after_seconds``.
STALE = "stale"

#: Channels of calls and chats (contacts); tickets have their own channels.
CONTACT_CHANNELS = ("voice", "chat")

#: Agent states, and those that count for occupancy.
AGENT_STATES = ("offline", "available", "on_contact", "after_contact_work", "not_ready")
OCCUPANCY_STATES = ("available", "on_contact", "after_contact_work")
