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


@dataclass(frozen=True)
class TicketStream:
    """Tickets (email, web forms, social…) created in one queue, with their life-cycle times."""

    queue: str
    arrivals_per_hour: float
    channels: Mapping[str, float] = field(default_factory=lambda: {"email": 0.6, "web": 0.3,
                                                                   "social": 0.1})
    categories: Mapping[str, float] = field(default_factory=lambda: {"technical": 1.0})
    priorities: Mapping[str, float] = field(default_factory=lambda: {
        "low": 0.2, "normal": 0.6, "high": 0.15, "urgent": 0.05})
    bot_ack_probability: float = 0.5
    assign_mean_seconds: float = 600.0
    reply_mean_seconds: float = 1800.0
    customer_reply_mean_seconds: float = 2400.0
    solve_probability_after_reply: float = 0.6
    reopen_probability: float = 0.05
    close_after_seconds: float = 4 * 3600.0
    update_probability: float = 0.05


@dataclass(frozen=True)
class FeedbackPolicy:
    """Surveys after handled contacts and solved tickets, and QA reviews of handled contacts."""

    survey_probability: float = 0.2
    survey_delay_mean_seconds: float = 300.0
    survey_mix: Mapping[str, float] = field(default_factory=lambda: {"csat": 0.5, "nps": 0.3,
                                                                     "ces": 0.2})
    qa_reviews_per_hour: float = 12.0


@dataclass(frozen=True)
class CustomerActivity:
    """Customer-lifecycle traffic (SPEC §1.6) over an existing customer base."""

    population: int = 50_000
    interactions_per_hour: float = 240.0
    acquired_per_hour: float = 6.0
    referred_share: float = 0.15
    churned_per_hour: float = 2.0
    revenue_per_hour: float = 60.0
    revenue_mean: float = 45.0
    marketing_spend_per_hour: float = 250.0
    currency: str = "EUR"


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
            if ticket.queue not in served:
                raise ValueError(f"scenario {self.name!r}: no agent group serves tickets of "
                                 f"{ticket.queue!r}")
