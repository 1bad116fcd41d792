"""The slower traffic beside live contacts: tickets, surveys, QA reviews, customer lifecycle.

Ticket life (SPEC §1.3)::

    ticket.created ─ [bot ack] ─ ticket.assigned ─ agent reply ─┬─ solved ─┬─ closed
                                                 ▲              │          └─ customer writes
                                                 │              └─ pending    again: reopen
                                                 └── customer reply: open ◄──┘

Scores are drawn per survey type from distributions that favour resolved contacts, so CSAT,
NPS and CES move with first-contact resolution as they do in real centres.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass

from streams.simulate.contacts import ContactCentre
from streams.simulate.model import CustomerActivity, FeedbackPolicy, Scenario, TicketStream
from streams.simulate.routing import Agent, Contact
from streams.simulate.world import World

#: Survey scales (SPEC §1.5) and score weights for resolved / unresolved contacts.
SURVEY_SCALES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
SCORE_WEIGHTS = {
    ("csat", True): (3, 4, 10, 33, 50),
    ("csat", False): (25, 20, 25, 18, 12),
    ("nps", True): (2, 1, 1, 2, 2, 5, 5, 12, 20, 25, 25),
    ("nps", False): (10, 6, 7, 8, 9, 12, 10, 12, 10, 8, 8),
    ("ces", True): (2, 3, 5, 10, 20, 30, 30),
    ("ces", False): (15, 15, 20, 20, 15, 10, 5),
}
QA_CATEGORIES = (  # name, max score, weight, critical
    ("greeting", 5, 1, False),
    ("compliance", 1, 2, True),
    ("resolution", 10, 3, False),
    ("empathy", 5, 1, False),
)
INTERACTION_KINDS = {"web_visit": 0.6, "email_open": 0.3, "social": 0.1}
ACQUISITION_CHANNELS = {"web": 0.5, "phone": 0.2, "partner": 0.15, "social": 0.15}
CHURN_REASONS = {"price": 0.4, "service": 0.3, "moved": 0.2, "other": 0.1}
CAMPAIGNS = ("search", "social", "display")
HANDLED_MEMORY = 500
"""QA reviewers pick among the most recent handled contacts."""


@dataclass(slots=True, eq=False)
class Ticket:
    id: str
    stream: TicketStream
    channel: str
    agent_id: str = ""
    replies: int = 0


class BackOffice:
    """Tickets, feedback and customer activity of one scenario."""

    def __init__(self, world: World, scenario: Scenario, centre: ContactCentre) -> None:
        self._world = world
        self._scenario = scenario
        self._centre = centre
        self._customers = scenario.customers or CustomerActivity()
        self._tickets = itertools.count(1)
        self._acquired = itertools.count(1)
        self._handled: collections.deque[tuple[str, str, str, str]] = collections.deque(
            maxlen=HANDLED_MEMORY)

    def start(self) -> None:
        """Open the ticket streams, feedback and customer activity the scenario asks for."""
        world = self._world
        for stream in self._scenario.ticket_streams:
            world.poisson(stream.arrivals_per_hour, lambda s=stream: self._create(s))
        feedback = self._scenario.feedback
        if feedback is not None:
            self._centre.on_handled(self._after_contact)
            world.poisson(feedback.qa_reviews_per_hour, self._qa_review)
        if self._scenario.customers is not None:
            self._start_customers(self._scenario.customers)

    # -- tickets ------------------------------------------------------------------------------

    def _create(self, stream: TicketStream) -> None:
        world = self._world
        ticket = Ticket(f"ticket-{world.stamper.run_tag}-{next(self._tickets):07d}", stream,
                        world.pick(stream.channels))
        world.emit("ticket.created", {
            "ticket_id": ticket.id, "queue": stream.queue, "channel": ticket.channel,
            "priority": world.pick(stream.priorities), "category": world.pick(stream.categories),
            "customer_id": self._customer()})
        if world.chance(stream.bot_ack_probability):
            world.after(world.rng.uniform(1, 10), self._reply, ticket, "bot")
        world.after(world.exponential(stream.assign_mean_seconds), self._assign, ticket)
        if world.chance(stream.update_probability):
            world.after(world.exponential(stream.assign_mean_seconds * 2), self._escalate, ticket)

    def _assign(self, ticket: Ticket) -> None:
        world = self._world
        ticket.agent_id = world.rng.choice(self._centre.floor.agent_ids_for(ticket.stream.queue))
        world.emit("ticket.assigned", {"ticket_id": ticket.id, "agent_id": ticket.agent_id})
        world.after(world.exponential(ticket.stream.reply_mean_seconds), self._agent_reply,
                    ticket)

    def _escalate(self, ticket: Ticket) -> None:
        self._world.emit("ticket.updated", {"ticket_id": ticket.id, "priority": "high"})

    def _reply(self, ticket: Ticket, author: str, public: bool = True) -> None:
        fields: dict[str, object] = {"ticket_id": ticket.id, "author": author, "public": public}
        if author == "agent":
            fields["agent_id"] = ticket.agent_id
        self._world.emit("ticket.replied", fields)

    def _status(self, ticket: Ticket, status: str) -> None:
        self._world.emit("ticket.status_changed", {"ticket_id": ticket.id, "status": status})

    def _agent_reply(self, ticket: Ticket) -> None:
        world, stream = self._world, ticket.stream
        if world.chance(0.1):
            self._reply(ticket, "agent", public=False)       # an internal note first
        self._reply(ticket, "agent")
        ticket.replies += 1
        if ticket.replies >= 3 or world.chance(stream.solve_probability_after_reply):
            self._solve(ticket)
        else:
            self._status(ticket, "pending")
            world.after(world.exponential(stream.customer_reply_mean_seconds),
                        self._customer_reply, ticket)

    def _customer_reply(self, ticket: Ticket) -> None:
        self._reply(ticket, "customer")
        self._status(ticket, "open")
        self._world.after(self._world.exponential(ticket.stream.reply_mean_seconds),
                          self._agent_reply, ticket)

    def _solve(self, ticket: Ticket) -> None:
        world, stream = self._world, ticket.stream
        self._status(ticket, "solved")
        self._maybe_survey(ticket.id, "ticket_id", stream.queue, ticket.channel,
                           ticket.agent_id, resolved=True)
        if world.chance(stream.reopen_probability):
            world.after(world.exponential(stream.customer_reply_mean_seconds),
                        self._customer_reply, ticket)
        else:
            world.after(stream.close_after_seconds, self._close, ticket)

    def _close(self, ticket: Ticket) -> None:
        self._status(ticket, "closed")

    # -- feedback -----------------------------------------------------------------------------

    def _after_contact(self, contact: Contact, agent: Agent, resolved: bool) -> None:
        self._handled.append((contact.id, contact.queue, contact.stream.channel, agent.id))
        self._maybe_survey(contact.id, "contact_id", contact.queue, contact.stream.channel,
                           agent.id, resolved)

    def _maybe_survey(self, subject_id: str, subject_field: str, queue: str, channel: str,
                      agent_id: str, resolved: bool) -> None:
        feedback: FeedbackPolicy | None = self._scenario.feedback
        world = self._world
        if feedback is None or not world.chance(feedback.survey_probability):
            return
        survey = world.pick(feedback.survey_mix)
        low, high = SURVEY_SCALES[survey]
        score = world.rng.choices(range(low, high + 1), SCORE_WEIGHTS[survey, resolved])[0]
        fields = {"survey": survey, "score": score, "scale_max": high, "queue": queue,
                  "channel": channel, "agent_id": agent_id, subject_field: subject_id}
        world.after(world.exponential(feedback.survey_delay_mean_seconds), world.emit,
                    "survey.responded", fields)

    def _qa_review(self) -> None:
        world = self._world
        if not self._handled:
            return
        contact_id, queue, channel, agent_id = world.rng.choice(self._handled)
        fields: dict[str, object] = {"queue": queue, "channel": channel, "agent_id": agent_id,
                                     "contact_id": contact_id}
        if world.chance(0.3):
            fields["score"] = round(world.rng.triangular(40, 100, 85), 1)
        else:
            fields["categories"] = [
                {"name": name, "score": _category_score(world, top, critical), "min": 0,
                 "max": top, "weight": weight, "critical": critical}
                for name, top, weight, critical in QA_CATEGORIES]
        world.emit("qa.reviewed", fields)

    # -- customers ----------------------------------------------------------------------------

    def _customer(self) -> str:
        return f"cust-{self._world.rng.randrange(self._customers.population) + 1:06d}"

    def _start_customers(self, activity: CustomerActivity) -> None:
        world = self._world
        world.poisson(activity.interactions_per_hour, lambda: world.emit(
            "customer.interaction", {"customer_id": self._customer(),
                                     "kind": world.pick(INTERACTION_KINDS)}))
        world.poisson(activity.acquired_per_hour, self._acquire)
        world.poisson(activity.churned_per_hour, lambda: world.emit(
            "customer.churned", {"customer_id": self._customer(),
                                 "reason": world.pick(CHURN_REASONS)}))
        world.poisson(activity.revenue_per_hour, lambda: world.emit(
            "customer.revenue", {"customer_id": self._customer(), "currency": activity.currency,
                                 "amount": round(world.lognormal(activity.revenue_mean, 1.0), 2)}))
        if activity.marketing_spend_per_hour > 0:
            world.after(3600.0 - world.second_of_day() % 3600.0, self._spend, activity)

    def _acquire(self) -> None:
        world = self._world
        fields = {"customer_id": f"cust-{world.stamper.run_tag}-{next(self._acquired):05d}",
                  "acquisition_channel": world.pick(ACQUISITION_CHANNELS)}
        if world.chance(self._customers.referred_share):
            fields["referred_by"] = self._customer()
        world.emit("customer.acquired", fields)

    def _spend(self, activity: CustomerActivity) -> None:
        """Marketing books its spend once an hour, on the hour."""
        world = self._world
        world.emit("marketing.spend", {
            "amount": round(activity.marketing_spend_per_hour * world.rng.uniform(0.8, 1.2), 2),
            "currency": activity.currency, "campaign": world.rng.choice(CAMPAIGNS)})
        world.after(3600.0, self._spend, activity)


def _category_score(world: World, top: int, critical: bool) -> int:
    if critical:
        return 1 if world.chance(0.95) else 0
    return min(top, max(0, round(world.rng.triangular(top * 0.3, top, top * 0.85))))
