"""A seeded contact-centre traffic generator (``ccpulse simulate``) and the tests' data factory.

The generator is pure: :func:`generate` turns a :class:`Scenario`, a seed and a start time into
contract §1 events, deterministically and in time order. Pacing against a real clock and the
file/Kafka sinks sit beside it.
"""

from streams.simulate.generator import generate, timed_events
from streams.simulate.model import (
    AgentGroup,
    ContactStream,
    CustomerActivity,
    FeedbackPolicy,
    IntradayProfile,
    Scenario,
    TicketStream,
)
from streams.simulate.scenarios import contact_centre, mmn

__all__ = [
    "AgentGroup",
    "ContactStream",
    "CustomerActivity",
    "FeedbackPolicy",
    "IntradayProfile",
    "Scenario",
    "TicketStream",
    "contact_centre",
    "generate",
    "mmn",
    "timed_events",
]
