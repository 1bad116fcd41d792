"""Calls and chats from arrival to wrap-up, as the events of docs/contract.md §1.2.

One contact's life::

    (voice, trunks full) call.blocked reason=no_capacity                                  end
    *.queued ─┬─ agent idle ────────────────────────────────┐
              ├─ patience runs out ─ *.abandoned            │                             end
              ├─ waited flow_out_after ─ *.flowed_out(to_queue) ─ *.queued in to_queue …
              └─ an agent frees up ─────────────────────────┤
                                                            *.answered
       [call.hold_started … call.hold_ended]  [chat.message customer/agent alternating]
          ├─ *.transferred(to_queue) ─ *.queued in to_queue …
          └─ *.ended ─ (ACW) ─ *.wrapup_ended(resolved)                                   end

A voice call holds a trunk from ``queued`` until it ends, abandons or is transferred away and
ends elsewhere. Patience is the customer's: it keeps running across a flow-out and is drawn
afresh after a transfer (they were just talking to someone).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from streams.simulate.floor import AgentFloor
from streams.simulate.model import ContactStream, Scenario
from streams.simulate.routing import Agent, Contact, Router
from streams.simulate.world import World

HandledHook = Callable[[Contact, Agent, bool], None]
"""Called at each wrap-up with the contact, its last agent and whether it was resolved; the
contact carries its arrival and answer times (for survey scores)."""


class ContactCentre:
    """Runs the contact streams of a scenario against its agents."""

    def __init__(self, world: World, scenario: Scenario, customer: Callable[[], str]) -> None:
        self._world = world
        self._scenario = scenario
        queues = {queue for group in scenario.agent_groups for queue in group.queues}
        self.router = Router(queues)
        self.floor = AgentFloor(world, scenario, self.router, self._find_work)
        self._customer = customer
        self._numbers = {"call": itertools.count(1), "chat": itertools.count(1)}
        self._order = itertools.count()
        self._voice_in_system = 0
        self._on_handled: list[HandledHook] = []

    def on_handled(self, hook: HandledHook) -> None:
        """Register ``hook`` to run at every wrap-up (surveys, QA reviews)."""
        self._on_handled.append(hook)

    def start(self) -> None:
        """Staff the floor and open every contact stream."""
        self.floor.start()
        for stream in self._scenario.contact_streams:
            self._world.poisson(stream.arrivals_per_hour, lambda s=stream: self._arrive(s))

    # -- arrival and waiting ------------------------------------------------------------------

    def _arrive(self, stream: ContactStream) -> None:
        world = self._world
        family = "call" if stream.channel == "voice" else "chat"
        contact_id = f"{family}-{world.stamper.run_tag}-{next(self._numbers[family]):07d}"
        if family == "call":
            trunks = self._scenario.trunks
            if trunks is not None and self._voice_in_system >= trunks:
                world.emit("call.blocked", {"call_id": contact_id, "reason": "no_capacity",
                                            "queue": stream.queue})
                return
            self._voice_in_system += 1
        contact = Contact(
            id=contact_id, family=family, key=f"{family}_id", stream=stream,
            customer_id=self._customer(),
            arrived=world.now, order=next(self._order))
        if stream.patience_mean_seconds is not None:
            contact.patience_deadline = world.now + world.exponential(stream.patience_mean_seconds)
        self._enqueue(contact, stream.queue, first=True)

    def _enqueue(self, contact: Contact, queue: str, first: bool = False) -> None:
        world = self._world
        contact.segment += 1
        contact.queue = queue
        world.emit(f"{contact.family}.queued", {contact.key: contact.id, "queue": queue,
                                                "customer_id": contact.customer_id})
        if first and contact.family == "chat":
            self._message(contact, "customer")
            if contact.stream.bot_greeting:
                self._message(contact, "bot")
        agent = self.router.longest_idle(queue)
        if agent is not None:
            self._answer(contact, agent)
            return
        self.router.wait(contact)
        if contact.patience_deadline < math.inf:
            world.at(contact.patience_deadline, self._abandon, contact, contact.segment)
        stream = contact.stream
        if first and stream.flow_out_after_seconds is not None:
            world.after(stream.flow_out_after_seconds, self._flow_out, contact, contact.segment)

    def _still_waiting(self, contact: Contact, segment: int) -> bool:
        return contact.waiting and contact.segment == segment

    def _abandon(self, contact: Contact, segment: int) -> None:
        if not self._still_waiting(contact, segment):
            return
        contact.waiting = False
        self._world.emit(f"{contact.family}.abandoned", {contact.key: contact.id,
                                                         "queue": contact.queue})
        self._leave(contact)

    def _flow_out(self, contact: Contact, segment: int) -> None:
        if not self._still_waiting(contact, segment):
            return
        contact.waiting = False
        to_queue = contact.stream.flow_out_to
        assert to_queue is not None  # only scheduled for streams that flow out
        self._world.emit(f"{contact.family}.flowed_out", {
            contact.key: contact.id, "queue": contact.queue, "reason": "timeout",
            "to_queue": to_queue})
        self._enqueue(contact, to_queue)

    def _leave(self, contact: Contact) -> None:
        if contact.family == "call":
            self._voice_in_system -= 1

    # -- conversation -------------------------------------------------------------------------

    def _find_work(self, agent: Agent) -> bool:
        contact = self.router.take_oldest(agent.queues)
        if contact is None:
            return False
        self._answer(contact, agent)
        return True

    def _answer(self, contact: Contact, agent: Agent) -> None:
        world, stream = self._world, contact.stream
        self.router.set_busy(agent)
        contact.waiting = False
        contact.agent, agent.contact = agent, contact
        if contact.first_answered < 0:
            contact.first_answered = world.now
        contact.last_answered = world.now
        world.emit(f"{contact.family}.answered", {contact.key: contact.id,
                                                  "queue": contact.queue, "agent_id": agent.id})
        self.floor.set_state(agent, "on_contact")
        if stream.handle_distribution == "exponential":
            talk = world.exponential(stream.handle_mean_seconds)
        else:
            talk = world.lognormal(stream.handle_mean_seconds, stream.handle_cv)
        if contact.family == "call" and world.chance(stream.hold_probability):
            hold_start = talk * world.rng.uniform(0.2, 0.6)
            hold = min(world.exponential(stream.hold_mean_seconds), 0.8 * (talk - hold_start))
            world.after(hold_start, self._hold, contact, agent, "call.hold_started")
            world.after(hold_start + hold, self._hold, contact, agent, "call.hold_ended")
        if contact.family == "chat":
            self._message(contact, "agent")
            end = world.now + talk
            world.after(world.exponential(stream.message_gap_mean_seconds), self._chat,
                        contact, contact.segment, "customer", end)
        transfer = (not contact.transferred and world.chance(stream.transfer_probability)
                    and any(queue != contact.queue for queue in stream.transfer_to))
        world.after(talk, self._end, contact, transfer)

    def _hold(self, contact: Contact, agent: Agent, event_type: str) -> None:
        self._world.emit(event_type, {"call_id": contact.id, "agent_id": agent.id})

    def _message(self, contact: Contact, sender: str) -> None:
        self._world.emit("chat.message", {"chat_id": contact.id, "sender": sender})

    def _chat(self, contact: Contact, segment: int, sender: str, end: float) -> None:
        if contact.segment != segment:
            return
        world = self._world
        self._message(contact, sender)
        following = world.now + world.exponential(contact.stream.message_gap_mean_seconds)
        if following < end:
            world.at(following, self._chat, contact, segment,
                     "agent" if sender == "customer" else "customer", end)

    def _end(self, contact: Contact, transfer: bool) -> None:
        world, stream = self._world, contact.stream
        agent = contact.agent
        assert agent is not None  # a conversation always has its agent
        if transfer:
            to_queue = world.rng.choice([q for q in stream.transfer_to if q != contact.queue])
            world.emit(f"{contact.family}.transferred", {
                contact.key: contact.id, "agent_id": agent.id, "to_queue": to_queue})
            contact.transferred = True
            contact.agent, agent.contact = None, None
            if stream.patience_mean_seconds is not None:
                contact.patience_deadline = world.now + world.exponential(
                    stream.patience_mean_seconds)
            self._enqueue(contact, to_queue)
            self._after_work(agent, world.exponential(stream.acw_mean_seconds / 3))
            return
        world.emit(f"{contact.family}.ended", {contact.key: contact.id, "agent_id": agent.id})
        self._leave(contact)
        acw = world.exponential(stream.acw_mean_seconds)
        if acw > 0:
            self.floor.set_state(agent, "after_contact_work")
            world.after(acw, self._wrap_up, contact, agent)
        else:
            self._wrap_up(contact, agent)

    def _after_work(self, agent: Agent, acw: float) -> None:
        if acw > 0:
            self.floor.set_state(agent, "after_contact_work")
            self._world.after(acw, self.floor.release, agent)
        else:
            self.floor.release(agent)

    def _wrap_up(self, contact: Contact, agent: Agent) -> None:
        resolved = self._world.chance(contact.stream.resolved_probability)
        self._world.emit(f"{contact.family}.wrapup_ended", {
            contact.key: contact.id, "agent_id": agent.id, "resolved": resolved})
        contact.agent, agent.contact = None, None
        for hook in self._on_handled:
            hook(contact, agent, resolved)
        self.floor.release(agent)
