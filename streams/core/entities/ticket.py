"""Tickets: a ticket's record and every ticket KPI computed from it (contract §1.3, §3.1, §3.3,
§3.6).

A ticket is an entity whose record is the list of its events in one deterministic order (event
time, then life-cycle rank at equal times — created first, a reply before the status change it
prompted — then event id). :func:`ticket_contributions` walks that list once, so every value
is a function of the events alone, whatever order they arrived in. Nothing is contributed until
the ticket's ``created`` is known: the creation time, queue and channel are the reference of
every ticket KPI.

Definitions (docs/contract.md §3.3):

* a ticket is **open** from ``created`` until a status ``solved``/``closed``; ``pending`` and
  ``on_hold`` are open; a change from solved/closed back to open/pending/on_hold is a
  **reopen**; the **first solve** is the first change to solved or closed;
* ``created`` counts as the customer's first public message; bot messages count for neither
  side; private notes (``public=false``) are not messages;
* **first response**: created → the first public agent reply, booked at that reply;
  **response**: every public agent reply that follows unanswered customer messages, its time
  − the oldest unanswered one, booked at the reply;
* **resolution**: created → first solve, booked at the solve; **resolution ratio**: booked at
  creation, the ticket counts as solved once its first solve is known;
* **ticket FCR**: a first solve with exactly one public agent reply before it and at most one
  distinct agent (from assignments and agent replies, private notes included) before it;
  **replies per ticket**: public agent replies before the first solve, booked at the solve.

A ticket KPI is booked in the ticket's queue (and priority, category) *at its booking time*:
``ticket.updated`` changes them from its time on. Live gauges use the current values.

Retention (contract §2): a ticket is kept while it is open and for 30 days of stream time after its
last solve (so a reopen is still recognised). A day after its solve it is *settled*: the engine
keeps its record frozen and drops its contributions until it changes again
(:meth:`TicketKind.idle_due_us`).
"""

from __future__ import annotations

import sys
from bisect import insort
from typing import Any, NamedTuple

from streams.core import contributions as F
from streams.core.config import Config
from streams.core.contributions import Booking, Contribution, Count, Observe, TicketNow
from streams.core.entities.event_log import EventLogKind
from streams.core.entities.shared import shared
from streams.core.events import Event
from streams.core.timestamps import DAY_US

UNKNOWN = "unknown"
OTHER_CATEGORY = "other"
DEFAULT_PRIORITY = "normal"
AFTER_SOLVE_US = 30 * DAY_US
#: A ticket solved this long ago is *settled*: the engine keeps its record frozen, to apply a
#: reopen or a late event under the same rules, and not its contributions
#: (TicketKind.idle_due_us).
SETTLED_AFTER_US = DAY_US
SOLVED_STATUSES = frozenset({"solved", "closed"})
#: Counter and histogram metric names of tickets in the ledger.
CREATED, SOLVED, REOPENED = "tickets_created", "tickets_solved", "tickets_reopened"
FIRST_RESPONSE, RESOLUTION = "ticket_first_response", "ticket_resolution"
FIRST_RESPONSE_BUSINESS, RESOLUTION_BUSINESS = (
    "ticket_first_response_business", "ticket_resolution_business")
#: Counters beside the window fields of the same quantity: responses and their summed time in
#: µs (booked at the reply), first solves resolved at first contact and the public agent replies
#: before the first solve (booked at the first solve).
RESPONSES, RESPONSE_US = "ticket_responses", "ticket_response_us"
RESOLVED_FIRST_CONTACT, REPLIES_BEFORE_SOLVE = (
    "tickets_resolved_first_contact", "ticket_replies_before_solve")

#: Order of a ticket's events at the same instant (lower first).
_RANK = {"created": 0, "updated": 1, "assigned": 2, "replied": 3, "status_changed": 4}


class TicketEvent(NamedTuple):
    """A ticket event's fields the KPIs use; a plain tuple comparison orders a ticket's events
    (time, rank, then event id — unique, so later fields never decide)."""

    at_us: int
    rank: int
    event_id: str
    kind: str  # the type without its family: "created", "replied", ...
    queue: str | None
    channel: str | None
    status: str | None
    priority: str | None
    category: str | None
    author: str | None
    public: bool
    agent_id: str | None


def _text(value: Any) -> str | None:
    """A text field, interned: the labels (kind, queue, channel, status, agent...) of a
    ticket's events repeat across thousands of records, so each is held once."""
    return sys.intern(value) if isinstance(value, str) else None


def compact(event: Event) -> TicketEvent:
    body = event.body
    kind = sys.intern(event.type.partition(".")[2])
    return TicketEvent(event.occurred_us, _RANK.get(kind, 5), event.event_id, kind,
                       _text(body.get("queue")), _text(body.get("channel")),
                       _text(body.get("status")), _text(body.get("priority")),
                       _text(body.get("category")), _text(body.get("author")),
                       body.get("public", True) is not False, _text(body.get("agent_id")))


def _interned(event: TicketEvent) -> TicketEvent:
    """A restored event with its labels interned (see :func:`_text`)."""
    return TicketEvent._make((event[0], event[1], event[2], *(
        _text(v) if isinstance(v, str) else v for v in event[3:])))


class TicketKind(EventLogKind):
    """Entity kind of helpdesk tickets: one record per ``ticket_id``."""

    name = "ticket"
    families: tuple[str, ...] = ("ticket",)
    version = 3
    late_after_us = AFTER_SOLVE_US

    def key(self, event: Event) -> str:
        # one string object per key: the engine keeps an event's key beside its id for as
        # long as the id is held (de-duplication), a copy an event without interning
        return sys.intern(f"ticket:{event.body['ticket_id']}")

    def new_record(self, event: Event) -> dict[str, Any]:
        return {"ev": []}

    def add(self, record: dict[str, Any], event: Event) -> None:
        insort(record["ev"], compact(event))

    def _solved_at(self, record: dict[str, Any]) -> int | None:
        """When the ticket was last solved, if its latest status is solved or closed."""
        for ev in reversed(record["ev"]):
            if ev.status is not None:
                return ev.at_us if ev.status in SOLVED_STATUSES else None
        return None

    def expired(self, record: dict[str, Any], stream_us: int) -> bool:
        """Past retention: 30 days after the last solve if solved now. A record that never got
        its ``created`` (events of a ticket dropped earlier, or of one created before the
        stream began) contributes nothing and goes 30 days after its newest event."""
        events = record["ev"]
        solved_at = self._solved_at(record)
        if solved_at is not None:
            return stream_us - solved_at > AFTER_SOLVE_US
        if events and not any(ev.kind == "created" for ev in events):
            return stream_us - events[-1].at_us > AFTER_SOLVE_US
        return False

    def expires_us(self, record: dict[str, Any]) -> int | None:
        """The stream time after which :meth:`expired` holds (``None``: an open ticket, kept
        until it is solved)."""
        solved_at = self._solved_at(record)
        if solved_at is not None:
            return solved_at + AFTER_SOLVE_US
        events = record["ev"]
        if events and not any(ev.kind == "created" for ev in events):
            return events[-1].at_us + AFTER_SOLVE_US  # type: ignore[no-any-return]
        return None

    def idle_due_us(self, record: dict[str, Any]) -> int | None:
        """The stream time after which the ticket is *settled* (solved or closed for more than
        :data:`SETTLED_AFTER_US`; ``None``: not solved): an event for it is then rare, so the
        engine keeps its record frozen (streams.core.frozen) and no contributions (a solved
        ticket has ~30 of them: its bookings, counters and observations) until it next
        changes or retires. Changes no value."""
        solved_at = self._solved_at(record)
        return None if solved_at is None else solved_at + SETTLED_AFTER_US

    def restore(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        if version < 2:  # format 1: (event_id, kind, occurred_ms, queue, channel), no status
            events = [TicketEvent(e[2] * 1000, _RANK.get(e[1], 5), e[0], e[1], e[3], e[4],
                                  None, None, None, None, True, None) for e in record["ev"]]
        elif version < 3:  # format 2: (at_us, event_id, kind, queue, channel, status)
            events = [TicketEvent(e[0], _RANK.get(e[2], 5), e[1], e[2], e[3], e[4], e[5],
                                  None, None, None, True, None) for e in record["ev"]]
        else:
            events = [_interned(TicketEvent(*e)) for e in record["ev"]]
        events.sort()
        return {"ev": events}

    def feedback_queue(self, record: dict[str, Any], at_us: int) -> str | None:
        """The queue a survey or review at ``at_us`` of this ticket belongs to: the ticket's
        queue at that time (docs/contract.md §2: a ticket KPI is booked in the queue at its booking
        time), the queue at creation for one stamped before it."""
        created = next((ev for ev in record["ev"] if ev.kind == "created"), None)
        if created is None:
            return None
        queue = created.queue
        for ev in record["ev"]:
            if ev.at_us > at_us:
                break
            if ev.kind == "updated" and ev.queue is not None and ev.at_us >= created.at_us:
                queue = ev.queue
        return queue

    def contributions(self, record: dict[str, Any], config: Config) -> list[Contribution]:
        return ticket_contributions(record["ev"], config)


def ticket_contributions(events: list[TicketEvent], config: Config) -> list[Contribution]:
    """Every contribution of one ticket, from its time-sorted events (module docstring)."""
    created = next((ev for ev in events if ev.kind == "created"), None)
    if created is None:
        return []
    created_us = created.at_us
    channel = created.channel or UNKNOWN
    queue = created.queue or UNKNOWN
    priority = created.priority or DEFAULT_PRIORITY
    out: list[Contribution] = []
    solved = False  # solved or closed now
    first_solve_us: int | None = None
    first_reply_us: int | None = None
    unanswered_since: int | None = None  # oldest customer message no agent has answered
    public_agent_replies = 0
    agents: set[str] = set()

    def book(at_us: int, field: str, amount: int) -> None:
        out.append(Booking(queue, channel, at_us, field, amount))

    def count(metric: str, amount: int) -> None:
        """A counter since the start, in the queue of the booking beside it; never a 0 (a
        retraction could not tell it from another ticket's)."""
        if amount:  # a sum of times is the ticket's own: not worth sharing
            c = Count(metric, shared((queue, channel)), amount)
            out.append(c if metric == RESPONSE_US else shared(c))

    # Created first; an event stamped before it (clock skew between systems) counts as at
    # creation — except an update, which creation overrides.
    ordered = [created, *(ev for ev in events if ev is not created)]
    for ev in ordered:
        kind = ev.kind
        if ev.at_us < created_us:
            if kind == "updated":
                continue
            ev = ev._replace(at_us=created_us)
        if kind == "created":
            if ev is not created:
                continue  # a second "created" (another event id): the first one counts
            category = _category(ev.category, config)
            out.append(shared(Count(CREATED, (queue, channel, category), 1)))
            book(created_us, F.TICKETS_CREATED, 1)
            book(created_us, F.TICKETS_CREATED_IN + category, 1)
            unanswered_since = created_us
        elif kind == "updated":
            queue = ev.queue or queue
            priority = ev.priority or priority
        elif kind == "assigned":
            if first_solve_us is None and ev.agent_id is not None:
                agents.add(ev.agent_id)
        elif kind == "replied":
            if ev.author == "agent" and ev.agent_id is not None and first_solve_us is None:
                agents.add(ev.agent_id)
            if not ev.public or ev.author == "bot":
                continue
            if ev.author == "customer":
                if unanswered_since is None:
                    unanswered_since = ev.at_us
                continue
            if ev.author != "agent":
                continue
            at = ev.at_us
            if first_solve_us is None:
                public_agent_replies += 1
            if unanswered_since is not None:
                response_us = at - unanswered_since
                book(at, F.TICKET_RESPONSES, 1)
                book(at, F.TICKET_RESPONSE_US, response_us)
                count(RESPONSES, 1)
                count(RESPONSE_US, response_us)
                unanswered_since = None
            if first_reply_us is None:
                first_reply_us = at
                settings = config.queue(queue)
                frt_us = at - created_us
                frt_business_us = settings.business_us(created_us, at)
                book(at, F.TICKET_FIRST_RESPONSES, 1)
                book(at, F.TICKET_FIRST_RESPONSE_US, frt_us)
                book(at, F.TICKET_FIRST_RESPONSE_BUSINESS_US, frt_business_us)
                out.append(Observe(FIRST_RESPONSE, (queue, channel), frt_us))
                out.append(Observe(FIRST_RESPONSE_BUSINESS, (queue, channel), frt_business_us))
                due = settings.first_response_deadline_us(created_us, priority)
                if due is not None:
                    book(at, F.TICKET_FIRST_RESPONSES_WITH_TARGET, 1)
                    if at <= due:
                        book(at, F.TICKET_FIRST_RESPONSES_WITHIN_TARGET, 1)
        elif kind == "status_changed" and ev.status is not None:
            at = ev.at_us
            if ev.status in SOLVED_STATUSES:
                if solved:
                    continue  # solved -> closed is no new solve
                solved = True
                if first_solve_us is None:
                    first_solve_us = at
                    resolution_us = at - created_us
                    resolution_business_us = config.queue(queue).business_us(created_us, at)
                    out.append(shared(Count(SOLVED, (queue, channel), 1)))
                    out.append(Observe(RESOLUTION, (queue, channel), resolution_us))
                    out.append(Observe(RESOLUTION_BUSINESS, (queue, channel),
                                       resolution_business_us))
                    book(at, F.TICKETS_SOLVED, 1)
                    book(at, F.TICKET_RESOLUTION_US, resolution_us)
                    book(at, F.TICKET_RESOLUTION_BUSINESS_US, resolution_business_us)
                    book(at, F.TICKET_REPLIES_BEFORE_SOLVE, public_agent_replies)
                    count(REPLIES_BEFORE_SOLVE, public_agent_replies)
                    if public_agent_replies == 1 and len(agents) <= 1:
                        book(at, F.TICKETS_RESOLVED_FIRST_CONTACT, 1)
                        count(RESOLVED_FIRST_CONTACT, 1)
            elif solved:
                solved = False
                out.append(shared(Count(REOPENED, (queue, channel), 1)))
                book(at, F.TICKETS_REOPENED, 1)
    if first_solve_us is not None:  # booked at creation, in the queue at creation
        out.append(Booking(created.queue or UNKNOWN, channel, created_us,
                           F.TICKETS_CREATED_SOLVED, 1))
    if not solved:
        due = None
        if first_reply_us is None:
            due = config.queue(queue).first_response_deadline_us(created_us, priority)
        out.append(TicketNow(queue, channel, priority, created_us,
                             unanswered_since is not None, due))
    return out


def _category(category: str | None, config: Config) -> str:
    """The label of a ticket category: configured ones as they are, others ``other``, none
    ``unknown`` (docs/contract.md §3.3)."""
    if category is None:
        return UNKNOWN
    return category if category in config.limits.ticket_categories else OTHER_CATEGORY
