"""Surveys and QA reviews (contract §1.5) about the contacts and tickets the simulation handled.

Survey scores come from a *mood* in [0, 1]: high for a resolved contact answered at once, lower
after a long wait, a transfer or an unresolved outcome (for tickets: a slow first response for
the priority, reopens, many back-and-forths). A respondent's answer is the mood plus noise,
cut into the survey's scale — so CSAT, NPS and CES move with service level and resolution as
they do in real centres.

Where a survey comes from decides what it carries (:class:`FeedbackPolicy`): the post-call IVR
knows the queue and agent; in-chat ratings and e-mail surveys (hours later) carry only the
``contact_id`` or ``ticket_id``, and the engine looks the rest up. QA reviewers score a sample
of recent contacts and solved tickets against a weighted form with one critical category;
each agent has their own quality level.
"""

from __future__ import annotations

import collections
from typing import Any

from streams.simulate.model import FeedbackPolicy
from streams.simulate.routing import Agent, Contact
from streams.simulate.tickets import Ticket
from streams.simulate.world import World

SURVEY_SCALES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
"""Default scales (docs/contract.md §1.5): (lowest score, scale_max)."""
MOOD_NOISE = 0.2
#: A wait this long costs the most mood a wait can (0.3); a handle time past the long one
#: costs a little more.
LONG_WAIT_SECONDS = 300.0
LONG_HANDLE_SECONDS = 1200.0
#: First-response time per priority that a customer finds acceptable (half the mood penalty).
FIRST_REPLY_EXPECTED_SECONDS = {"urgent": 3600.0, "high": 4 * 3600.0, "normal": 86_400.0,
                                "low": 2 * 86_400.0}
IVR_DELAY_SECONDS = (5.0, 40.0)
IN_CHAT_DELAY_SECONDS = (5.0, 120.0)
EMAIL_MIN_DELAY_SECONDS = 600.0
QA_FORM = (  # name, min, max, weight, critical
    ("greeting", 1, 5, 1, False),
    ("verification", 0, 1, 2, True),
    ("accuracy", 0, 10, 3, False),
    ("resolution", 0, 10, 3, False),
    ("empathy", 1, 5, 1, False),
)
QA_NOISE = 0.12
#: An agent of quality q fails the critical category with probability (1 − q) × this.
CRITICAL_FAIL_FACTOR = 0.2
#: Share of QA reviews that carry the queue and channel (the rest are looked up).
QA_QUEUE_SHARE = 0.4
AGENT_QUALITY = (0.6, 0.95)
MEMORY = 500
"""Reviewers pick among the most recent handled contacts and solved tickets."""

Subject = tuple[str, str, str, str, str, bool]
"""(id field, id, queue, channel, agent id, resolved) of something a reviewer may score."""


def contact_mood(wait_s: float, handle_s: float, resolved: bool, transferred: bool) -> float:
    """How pleased a customer is after a call or chat, before the noise of their answer."""
    mood = 0.85 if resolved else 0.45
    mood -= 0.3 * min(1.0, wait_s / LONG_WAIT_SECONDS)
    if handle_s > LONG_HANDLE_SECONDS:
        mood -= 0.05
    if transferred:
        mood -= 0.08
    return mood


def ticket_mood(first_reply_s: float, priority: str, reopens: int, agent_replies: int) -> float:
    """How pleased a customer is when their ticket is solved."""
    expected = FIRST_REPLY_EXPECTED_SECONDS[priority]
    mood = 0.85 - 0.3 * min(1.0, first_reply_s / (2 * expected))
    return mood - 0.2 * min(reopens, 2) - 0.04 * max(0, agent_replies - 2)


class Feedback:
    """Surveys after handled contacts and solved tickets; QA reviews of a sample of them."""

    def __init__(self, world: World, policy: FeedbackPolicy) -> None:
        self._world = world
        self._policy = policy
        self._contacts: collections.deque[Subject] = collections.deque(maxlen=MEMORY)
        self._tickets: collections.deque[Subject] = collections.deque(maxlen=MEMORY)
        self._quality: dict[str, float] = {}

    def start(self) -> None:
        self._world.poisson(self._policy.qa_reviews_per_hour, self._qa_review)

    # -- surveys ------------------------------------------------------------------------------

    def after_contact(self, contact: Contact, agent: Agent, resolved: bool) -> None:
        """A call or chat was wrapped up: remember it for QA, maybe survey the customer."""
        world, policy = self._world, self._policy
        channel = contact.stream.channel
        self._contacts.append(("contact_id", contact.id, contact.queue, channel, agent.id,
                               resolved))
        if not world.chance(policy.survey_probability):
            return
        mood = contact_mood(contact.first_answered - contact.arrived,
                            world.now - contact.last_answered, resolved, contact.transferred)
        if channel == "voice" and world.chance(policy.ivr_share):
            world.after(world.rng.uniform(*IVR_DELAY_SECONDS), world.emit, "survey.responded", {
                "survey": "csat", "score": self._score(mood, 1, 5), "scale_max": 5,
                "queue": contact.queue, "channel": channel, "agent_id": agent.id,
                "contact_id": contact.id})
        elif channel == "chat" and world.chance(policy.in_chat_share):
            world.after(world.rng.uniform(*IN_CHAT_DELAY_SECONDS), world.emit,
                        "survey.responded", {"survey": "csat", "score": self._score(mood, 1, 5),
                                             "contact_id": contact.id})
        else:
            self._email_survey("contact_id", contact.id, mood)

    def after_solve(self, ticket: Ticket) -> None:
        """A ticket was solved: remember it for QA; survey the customer after the first solve."""
        world = self._world
        self._tickets.append(("ticket_id", ticket.id, ticket.queue, ticket.channel,
                              ticket.agent_id, True))
        if ticket.solves == 1 and world.chance(self._policy.survey_probability):
            self._email_survey("ticket_id", ticket.id, ticket_mood(
                ticket.first_reply - ticket.created, ticket.priority, ticket.reopens,
                ticket.agent_replies))

    def _email_survey(self, subject_field: str, subject_id: str, mood: float) -> None:
        world, policy = self._world, self._policy
        survey = world.pick(policy.survey_mix)
        low, high = SURVEY_SCALES[survey]
        fields: dict[str, Any] = {"survey": survey}
        if survey == "csat" and world.chance(policy.csat_ten_point_share):
            high = 10                              # a survey tool that asks CSAT on 1-10
        fields["score"] = self._score(mood, low, high)
        if high != SURVEY_SCALES[survey][1] or world.chance(policy.scale_max_share):
            fields["scale_max"] = high
        fields[subject_field] = subject_id
        delay = EMAIL_MIN_DELAY_SECONDS + world.lognormal(policy.email_delay_mean_seconds, 1.0)
        world.after(delay, world.emit, "survey.responded", fields)

    def _score(self, mood: float, low: int, high: int) -> int:
        """The mood plus the respondent's noise, cut into ``high − low + 1`` equal bins."""
        x = mood + self._world.rng.gauss(0.0, MOOD_NOISE)
        return low + min(high - low, max(0, int(x * (high - low + 1))))

    # -- QA -----------------------------------------------------------------------------------

    def _qa_review(self) -> None:
        world, policy = self._world, self._policy
        pool = self._tickets if world.chance(policy.qa_ticket_share) else self._contacts
        if not pool:
            return
        subject_field, subject_id, queue, channel, agent_id, resolved = world.rng.choice(pool)
        quality = self._quality.get(agent_id)
        if quality is None:
            quality = self._quality[agent_id] = world.rng.uniform(*AGENT_QUALITY)
        fields: dict[str, Any] = {"agent_id": agent_id, subject_field: subject_id}
        if world.chance(QA_QUEUE_SHARE):
            fields["queue"], fields["channel"] = queue, channel
        critical_failed = world.chance((1.0 - quality) * CRITICAL_FAIL_FACTOR)
        if world.chance(policy.qa_plain_score_share):
            fields["score"] = 0.0 if critical_failed else round(
                100.0 * _clamp(quality + world.rng.gauss(0.0, QA_NOISE)), 1)
        else:
            fields["categories"] = [
                self._category(name, low, high, weight, critical, quality, resolved,
                               critical_failed)
                for name, low, high, weight, critical in QA_FORM]
        world.emit("qa.reviewed", fields)

    def _category(self, name: str, low: int, high: int, weight: int, critical: bool,
                  quality: float, resolved: bool, critical_failed: bool) -> dict[str, Any]:
        if critical:
            score = low if critical_failed else high
        else:
            level = quality + self._world.rng.gauss(0.0, QA_NOISE)
            if name == "resolution" and not resolved:
                level -= 0.3
            score = low + round(_clamp(level) * (high - low))
        category: dict[str, Any] = {"name": name, "score": score, "min": low, "max": high}
        if weight != 1:
            category["weight"] = weight
        if critical:
            category["critical"] = True
        return category


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))
