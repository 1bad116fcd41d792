"""The slower traffic beside live contacts, wired together: tickets, feedback, customers.

* :mod:`streams.simulate.tickets` — helpdesk tickets worked by the agents of their queue;
* :mod:`streams.simulate.feedback` — surveys after handled contacts and solved tickets, QA
  reviews of a sample of both;
* :mod:`streams.simulate.customers` — the customer base whose ids contacts and tickets carry,
  and its acquisitions, churn, invoices, interactions and marketing spend.
"""

from __future__ import annotations

from streams.simulate.contacts import ContactCentre
from streams.simulate.customers import CustomerBase
from streams.simulate.feedback import Feedback
from streams.simulate.model import Scenario
from streams.simulate.tickets import TicketDesk
from streams.simulate.world import World


class BackOffice:
    """Tickets, feedback and customer activity of one scenario."""

    def __init__(self, world: World, scenario: Scenario, centre: ContactCentre,
                 customers: CustomerBase) -> None:
        self._scenario = scenario
        self._customers = customers
        self.desk = TicketDesk(world, scenario.ticket_streams, centre.floor, customers.pick)
        self.feedback = None if scenario.feedback is None else Feedback(world, scenario.feedback)
        if self.feedback is not None:
            centre.on_handled(self.feedback.after_contact)
            self.desk.on_solved(self.feedback.after_solve)

    def start(self) -> None:
        """Open the ticket streams, feedback and customer activity the scenario asks for."""
        self.desk.start()
        if self.feedback is not None:
            self.feedback.start()
        if self._scenario.customers is not None:
            self._customers.start()
