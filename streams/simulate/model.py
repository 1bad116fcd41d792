"""What a simulated contact centre is made of: plain, frozen descriptions, no behaviour.

A :class:`Scenario` says which demand arrives (contact streams per queue and channel, ticket
streams, customer activity), who serves it (agent groups and the queues they are skilled for)
and how demand varies through the day (:class:`IntradayProfile`). The generator turns one into
events; scenario factories live in :mod:`streams.simulate.scenarios`.

Rates are per hour (how planners talk), durations in seconds; every "mean" is the mean of the
distribution named beside it.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Channel = Literal["voice", "chat"]
HandleDistribution = Literal["lognormal", "exponential"]

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class IntradayProfile:
    """Piecewise-constant multipliers of every base rate by UTC time of day.

    ``steps`` are ``(hour, multiplier)`` pairs; each multiplier holds from its hour until the
    next step's hour (and the last one until midnight). The first step must start at hour 0.
    """

    steps: tuple[tuple[float, float], ...] = ((0.0, 1.0),)

    def __post_init__(self) -> None:
        hours = [hour for hour, _ in self.steps]
        if not hours or hours[0] != 0.0 or hours != sorted(set(hours)) or hours[-1] >= 24:
            raise ValueError(f"profile steps must start at hour 0 and increase below 24: "
                             f"{self.steps!r}")
        if any(multiplier < 0 for _, multiplier in self.steps):
            raise ValueError(f"profile multipliers must be ≥ 0: {self.steps!r}")

    @property
    def flat(self) -> bool:
        """True when the rate never changes (the generator then skips thinning)."""
        return len({multiplier for _, multiplier in self.steps}) == 1

    @property
    def mean(self) -> float:
        """The multiplier averaged over the day (turns daily volumes into base rates)."""
        starts = [hour for hour, _ in self.steps] + [24.0]
        return sum((end - start) * multiplier for (start, multiplier), end
                   in zip(self.steps, starts[1:], strict=True)) / 24.0

    @property
    def peak(self) -> float:
        """The largest multiplier (the thinning envelope)."""
        return max(multiplier for _, multiplier in self.steps)

    def multiplier_at(self, second_of_day: float) -> float:
        """The multiplier in force at ``second_of_day`` (0 ≤ s < 86 400)."""
        index = bisect.bisect_right(self._starts, second_of_day) - 1
        return self.steps[index][1]

    def seconds_to_next_step(self, second_of_day: float) -> float:
        """Seconds from ``second_of_day`` until the next multiplier starts (> 0)."""
        index = bisect.bisect_right(self._starts, second_of_day)
        following = self._starts[index] if index < len(self._starts) else SECONDS_PER_DAY
        return following - second_of_day

    @functools.cached_property
    def _starts(self) -> list[float]:
        return [hour * 3600.0 for hour, _ in self.steps]


@dataclass(frozen=True)
class ContactStream:
    """Calls or chats arriving in one queue: a Poisson stream and what happens to each contact.

    ``patience_mean_seconds`` is the mean of the caller's exponential patience (``None``: they
    never abandon). A segment still waiting after ``flow_out_after_seconds`` in this queue
    flows out (reason ``timeout``) to ``flow_out_to``. ``transfer_to`` lists the queues a
    transferred contact may be sent to.
    """

    queue: str
    channel: Channel
    arrivals_per_hour: float
    handle_mean_seconds: float
    handle_distribution: HandleDistribution = "lognormal"
    #: Coefficient of variation of a log-normal handle time (σ/mean).
    handle_cv: float = 0.8
    patience_mean_seconds: float | None = None
    flow_out_after_seconds: float | None = None
    flow_out_to: str | None = None
    acw_mean_seconds: float = 0.0
    hold_probability: float = 0.0
    hold_mean_seconds: float = 40.0
    transfer_probability: float = 0.0
    transfer_to: tuple[str, ...] = ()
    resolved_probability: float = 0.8
    #: Mean gap between chat messages during the conversation (chats only).
    message_gap_mean_seconds: float = 40.0
    #: A bot greets each chat as it starts waiting (chats only).
    bot_greeting: bool = False

    def __post_init__(self) -> None:
        if self.arrivals_per_hour < 0 or self.handle_mean_seconds <= 0:
            raise ValueError(f"{self.queue}/{self.channel}: arrivals must be ≥ 0 and the "
                             "handle mean > 0")
        if (self.flow_out_after_seconds is None) != (self.flow_out_to is None):
            raise ValueError(f"{self.queue}/{self.channel}: give both flow_out_after_seconds "
                             "and flow_out_to, or neither")
        if self.transfer_probability > 0 and not self.transfer_to:
            raise ValueError(f"{self.queue}/{self.channel}: transfers need transfer_to queues")


@dataclass(frozen=True)
class AgentGroup:
    """``count`` interchangeable agents skilled for ``queues`` (blended: voice and chat).

    With ``follows_profile`` the number logged in tracks the intraday profile (shifts), at
    least ``min_logged_in``; otherwise all of them stay logged in. After each contact an agent
    takes a break (``not_ready``) with ``break_probability``.
    """

    name: str
    count: int
    queues: tuple[str, ...]
    follows_profile: bool = True
    min_logged_in: int = 1
    break_probability: float = 0.0
    break_mean_seconds: float = 600.0

    def agent_ids(self) -> list[str]:
        """Stable agent ids: the same agents appear in every run."""
        return [f"agent-{self.name}-{index:03d}" for index in range(1, self.count + 1)]


#: Ticket priorities from lowest to highest: an escalation moves one step up.
PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class TicketStream:
    """Tickets (email, web forms, social…) created in one queue, with their life-cycle times.

    Back-office agents work tickets only while the floor is staffed: when the intraday
    multiplier is at least ``staffed_share`` of the peak (with a flat profile, always). Work
    that falls due outside those hours waits for the next opening. Agent reply times are
    log-normal (long-tailed) with means per priority; customers answer a ``pending`` ticket with
    ``customer_reply_probability``, else it is solved after ``pending_timeout_seconds``.
    """

    queue: str
    arrivals_per_hour: float
    channels: Mapping[str, float] = field(default_factory=lambda: {
        "email": 0.52, "web": 0.22, "social": 0.08, "phone": 0.08, "chat": 0.06, "other": 0.04})
    categories: Mapping[str, float] = field(default_factory=lambda: {
        "technical": 0.3, "billing": 0.2, "shipping": 0.15, "returns": 0.12, "sales": 0.08,
        "cancellation": 0.07, "account": 0.05, "warranty": 0.03})
    priorities: Mapping[str, float] = field(default_factory=lambda: {
        "low": 0.2, "normal": 0.6, "high": 0.15, "urgent": 0.05})
    #: Share of ``normal`` tickets created without a ``priority`` (the contract's default applies).
    priority_omitted_share: float = 0.1
    #: An auto-responder acknowledges the ticket (a public ``author=bot`` reply) seconds later.
    bot_ack_probability: float = 0.5
    assign_mean_seconds: float = 1200.0
    #: Mean time from creation to the first public agent reply, per priority.
    first_reply_mean_seconds: Mapping[str, float] = field(default_factory=lambda: {
        "urgent": 1800.0, "high": 5400.0, "normal": 4 * 3600.0, "low": 8 * 3600.0})
    #: Mean agent reply time after the customer wrote again (normal priority; scaled like the
    #: first reply for the others).
    reply_mean_seconds: float = 3 * 3600.0
    #: Coefficient of variation of every log-normal delay of the ticket (the long tail).
    delay_cv: float = 1.4
    staffed_share: float = 0.5
    private_note_probability: float = 0.15
    #: Probability that an agent's public reply solves the ticket (first, then +0.15 a round).
    solve_probability_after_reply: float = 0.5
    max_agent_replies: int = 5
    on_hold_probability: float = 0.05
    on_hold_mean_seconds: float = 6 * 3600.0
    customer_reply_probability: float = 0.85
    customer_reply_mean_seconds: float = 4 * 3600.0
    pending_timeout_seconds: float = 2 * 86_400.0
    reopen_probability: float = 0.07
    reopen_mean_seconds: float = 10 * 3600.0
    #: Solved tickets close automatically this long after the solve, unless reopened …
    close_after_seconds: float = 3 * 86_400.0
    #: … except this share, which the customer confirms (or an agent closes) within hours.
    closed_soon_share: float = 0.3
    closed_soon_mean_seconds: float = 3 * 3600.0
    #: Another agent takes the ticket over before a reply (breaks ticket FCR).
    reassign_probability: float = 0.08
    #: Escalation: priority one step up and, with ``escalate_to``, a move to one of those queues.
    escalation_probability: float = 0.06
    escalate_to: tuple[str, ...] = ()
    #: Triage corrects the category soon after creation.
    recategorise_probability: float = 0.04

    def __post_init__(self) -> None:
        if self.arrivals_per_hour < 0:
            raise ValueError(f"tickets of {self.queue}: arrivals must be ≥ 0")
        unknown = set(self.priorities) - set(PRIORITIES)
        if unknown or set(self.first_reply_mean_seconds) != set(PRIORITIES):
            raise ValueError(f"tickets of {self.queue}: priorities are {PRIORITIES}, got "
                             f"{sorted(self.priorities)} and first-reply means for "
                             f"{sorted(self.first_reply_mean_seconds)}")


@dataclass(frozen=True)
class FeedbackPolicy:
    """Surveys after handled contacts and solved tickets, and QA reviews of both.

    A respondent (``survey_probability`` of handled contacts and first solves) answers one of
    three survey sources: the post-call IVR (voice only, ``ivr_share``: CSAT right after the
    call, carrying queue, channel and agent), the in-chat rating (chats, ``in_chat_share``: a
    CSAT minutes later), or an e-mail survey hours later (``survey_mix``; CSAT on 1–10 for
    ``csat_ten_point_share`` of them). Only the IVR knows the queue: the others reference the
    contact or ticket alone, and the engine resolves the rest.
    """

    survey_probability: float = 0.2
    survey_mix: Mapping[str, float] = field(default_factory=lambda: {"csat": 0.5, "nps": 0.3,
                                                                     "ces": 0.2})
    ivr_share: float = 0.35
    in_chat_share: float = 0.5
    email_delay_mean_seconds: float = 3 * 3600.0
    csat_ten_point_share: float = 0.2
    #: Share of e-mail surveys that state ``scale_max`` (the rest rely on the default).
    scale_max_share: float = 0.5
    qa_reviews_per_hour: float = 12.0
    #: Share of QA reviews about a solved ticket rather than a call or chat.
    qa_ticket_share: float = 0.2
    #: Share of QA reviews sent as one overall ``score`` instead of categories.
    qa_plain_score_share: float = 0.3


@dataclass(frozen=True)
class CustomerActivity:
    """Customer-lifecycle traffic (docs/contract.md §1.6) over an existing customer base.

    ``population`` customers exist before the run (ids ``cust-000001`` …); new ones are
    acquired and others churn at monthly shares of it. Every active customer is invoiced once a
    month (``usd_share`` of them in USD, the rest in ``currency``); each marketing campaign books
    the previous day's spend once a day.
    """

    population: int = 50_000
    interactions_per_hour: float = 240.0
    acquired_per_month: float = 0.03
    referred_share: float = 0.15
    churned_per_month: float = 0.025
    usd_share: float = 0.12
    currency: str = "EUR"
    campaign_daily_budgets: Mapping[str, float] = field(default_factory=lambda: {
        "search": 3200.0, "social": 1800.0, "display": 1100.0, "affiliate": 700.0})

    def __post_init__(self) -> None:
        if self.population < 1:
            raise ValueError(f"a customer base needs at least one customer, got "
                             f"{self.population}")


@dataclass(frozen=True)
class Scenario:
    """A whole contact centre to simulate."""

    name: str
    contact_streams: tuple[ContactStream, ...]
    agent_groups: tuple[AgentGroup, ...]
    profile: IntradayProfile = field(default_factory=IntradayProfile)
    #: Concurrent voice calls the trunks carry (waiting or talking); ``None`` = unlimited.
    trunks: int | None = None
    ticket_streams: tuple[TicketStream, ...] = ()
    feedback: FeedbackPolicy | None = None
    customers: CustomerActivity | None = None
    source: str = "ccpulse-simulator"

    def __post_init__(self) -> None:
        served = {queue for group in self.agent_groups for queue in group.queues}
        for stream in self.contact_streams:
            targets = (stream.queue, *stream.transfer_to,
                       *((stream.flow_out_to,) if stream.flow_out_to else ()))
            missing = [queue for queue in targets if queue not in served]
            if missing:
                raise ValueError(f"scenario {self.name!r}: no agent group serves {missing}")
        for ticket in self.ticket_streams:
            missing = [q for q in (ticket.queue, *ticket.escalate_to) if q not in served]
            if missing:
                raise ValueError(f"scenario {self.name!r}: no agent group serves tickets of "
                                 f"{missing}")
