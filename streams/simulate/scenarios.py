"""Ready-made scenarios: a realistic mid-size contact centre, and textbook queues for tests.

The contact centre is sized so that the numbers look like a real operation at the peak:
about 75 erlangs of work for 94 agents (occupancy in the 80s), service levels around 80 %,
a few percent abandons, some flow-outs to an overflow queue and a little trunk blocking when
the morning peak hits. Outside the peak agents log off with the demand.
"""

from __future__ import annotations

from dataclasses import replace

from streams.simulate.model import (
    AgentGroup,
    ContactStream,
    CustomerActivity,
    FeedbackPolicy,
    IntradayProfile,
    Scenario,
    TicketStream,
)

#: Demand by UTC hour: a quiet night, a morning peak, lunch dip, afternoon, evening tail.
WEEKDAY_PROFILE = IntradayProfile((
    (0.0, 0.1), (7.0, 0.5), (8.0, 0.9), (9.0, 1.1), (12.0, 0.9), (14.0, 1.0),
    (17.0, 0.7), (19.0, 0.4), (21.0, 0.2), (23.0, 0.1),
))


def contact_centre() -> Scenario:
    """Sales, support and billing on voice and chat, an overflow queue, tickets, feedback."""
    voice = {"handle_cv": 0.7, "hold_mean_seconds": 45.0}
    chat = {"handle_cv": 0.6, "bot_greeting": True, "message_gap_mean_seconds": 45.0}
    return Scenario(
        name="contact-centre",
        contact_streams=(
            ContactStream("sales", "voice", 110, 280, patience_mean_seconds=240,
                          flow_out_after_seconds=180, flow_out_to="overflow",
                          acw_mean_seconds=30, hold_probability=0.12,
                          transfer_probability=0.03, transfer_to=("support",),
                          resolved_probability=0.85, **voice),
            ContactStream("sales", "chat", 60, 540, patience_mean_seconds=300,
                          acw_mean_seconds=20, transfer_probability=0.02,
                          transfer_to=("support",), resolved_probability=0.8, **chat),
            ContactStream("support", "voice", 180, 400, patience_mean_seconds=200,
                          flow_out_after_seconds=240, flow_out_to="overflow",
                          acw_mean_seconds=45, hold_probability=0.2,
                          transfer_probability=0.05, transfer_to=("billing",),
                          resolved_probability=0.7, **voice),
            ContactStream("support", "chat", 90, 600, patience_mean_seconds=300,
                          flow_out_after_seconds=240, flow_out_to="overflow",
                          acw_mean_seconds=30, transfer_probability=0.03,
                          transfer_to=("billing",), resolved_probability=0.72, **chat),
            ContactStream("billing", "voice", 70, 330, patience_mean_seconds=180,
                          acw_mean_seconds=40, hold_probability=0.15,
                          transfer_probability=0.04, transfer_to=("sales",),
                          resolved_probability=0.8, **voice),
            ContactStream("billing", "chat", 30, 480, patience_mean_seconds=300,
                          acw_mean_seconds=25, resolved_probability=0.8, **chat),
        ),
        agent_groups=(
            AgentGroup("sales", 24, ("sales",), break_probability=0.03),
            AgentGroup("support", 44, ("support",), break_probability=0.03),
            AgentGroup("billing", 14, ("billing",), break_probability=0.03),
            AgentGroup("flex", 12, ("overflow", "support", "sales", "billing"),
                       break_probability=0.03),
        ),
        profile=WEEKDAY_PROFILE,
        trunks=48,
        ticket_streams=(
            TicketStream("support", 30, categories={
                "technical": 0.55, "returns": 0.18, "shipping": 0.17, "warranty": 0.05,
                "account": 0.05}, escalate_to=("billing",)),
            TicketStream("billing", 15, categories={
                "billing": 0.75, "cancellation": 0.18, "returns": 0.04, "invoice copy": 0.03},
                channels={"email": 0.62, "web": 0.25, "phone": 0.08, "other": 0.05},
                escalate_to=("support",)),
            TicketStream("sales", 8, categories={"sales": 0.85, "cancellation": 0.05,
                                                 "other": 0.1},
                         channels={"email": 0.4, "web": 0.35, "social": 0.1, "chat": 0.1,
                                   "phone": 0.05},
                         priorities={"low": 0.3, "normal": 0.55, "high": 0.12, "urgent": 0.03},
                         escalate_to=("support",)),
        ),
        feedback=FeedbackPolicy(),
        customers=CustomerActivity(),
    )


def mmn(agents: int, arrivals_per_second: float, aht_seconds: float,
        patience_seconds: float | None = None, queue: str = "support") -> Scenario:
    """A stationary M/M/N (M/M/N+M with ``patience_seconds``) queue: Erlang C/A's world.

    One voice queue, constant Poisson arrivals, exponential handle time with mean
    ``aht_seconds``, ``agents`` agents always logged in with no breaks, no ACW, no holds, no
    transfers, no flow-outs, no trunk limit, no other traffic.
    """
    return Scenario(
        name=f"mmn-{agents}",
        contact_streams=(
            ContactStream(queue, "voice", arrivals_per_second * 3600.0, aht_seconds,
                          handle_distribution="exponential",
                          patience_mean_seconds=patience_seconds, resolved_probability=1.0),
        ),
        agent_groups=(AgentGroup("mmn", agents, (queue,), follows_profile=False),),
    )


#: Every hour at the weekday peak's level: the demo looks busy at any time of day.
FLAT_PEAK = IntradayProfile(((0.0, 1.0),))


def demo_centre(billing_agents: int = 6, sales_agents: int = 18) -> Scenario:
    """``ccpulse demo``'s traffic: the contact centre at its peak level whatever the hour, with
    billing understaffed (``billing_agents`` of its 14, and the flex agents kept off it).

    Billing's queue builds within minutes, so its oldest wait and service level turn red and
    its abandons climb, while support and sales stay green: a new user sees every colour of
    the wallboard working without waiting for a real peak. The demo draws a new seed each
    run: with 6 billing and 18 sales agents, billing's voice service level today was under
    0.75 after 20 simulated minutes for each of the seeds 1–20, and sales' at least 0.86 on
    voice and chat, today and in the interval, at 10, 20, 40 and 60 minutes (with 12 sales
    agents, 8 of those 20 seeds had sales red at one of those points; with 8 billing agents,
    three of eight seeds left billing green or amber).
    """
    base = contact_centre()
    groups = []
    for group in base.agent_groups:
        if group.name == "billing":
            group = replace(group, count=billing_agents)
        elif group.name == "sales":
            group = replace(group, count=sales_agents)
        elif group.name == "flex":
            group = replace(group, queues=tuple(q for q in group.queues if q != "billing"))
        groups.append(group)
    return replace(base, name="demo", profile=FLAT_PEAK, agent_groups=tuple(groups))


SCENARIOS = {"contact-centre": contact_centre, "demo": demo_centre}
"""Named scenarios the command line can pick."""
