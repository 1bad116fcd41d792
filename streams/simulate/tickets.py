"""Helpdesk tickets from creation to closure, as the events of docs/contract.md §1.3.

One ticket's life::

    created ─ [bot ack] ─ assigned ─ [private note] agent reply ─┬─ solved ─┬─ closed
                                       ▲                         │          └─ customer writes
                                       │                         ├─ pending ─┬─ customer reply ─┐
                                       │                         │           └─ no reply: solved│
                                       │                         └─ on_hold ── back to open ────┤
                                       └────────────────────────────── open ◄───────────────────┘
    meanwhile, sometimes: updated (category fixed by triage; escalation: priority up, new queue
    and a new assignee), assigned (another agent takes over)

A customer writing to a solved ticket reopens it (status ``open`` after ``solved``). Agents
only work while the floor is staffed (:attr:`TicketStream.staffed_share`), so night-time
tickets wait for the morning and first response and resolution times are long-tailed: most
tickets are answered within hours, some stay open for days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.simulate.floor import AgentFloor
from streams.simulate.model import PRIORITIES, TicketStream
from streams.simulate.world import World

#: The auto-responder's acknowledgement comes this many seconds after creation.
BOT_ACK_SECONDS = (2.0, 30.0)
#: Work arriving as the floor opens is spread over the first part of the morning.
MORNING_SPREAD_MEAN_SECONDS = 1800.0
SOLVE_STEP = 0.15
"""Each further agent reply is this much likelier to solve the ticket."""


@dataclass(slots=True, eq=False)
class Ticket:
    """One ticket and what the simulation needs to remember about it."""

    id: str
    stream: TicketStream
    queue: str
    channel: str
    priority: str
    customer_id: str
    created: float
    status: str = "new"
    agent_id: str = ""
    agent_replies: int = 0
    first_reply: float = -1.0
    reopens: int = 0
    solves: int = 0
    #: Bumped at every solve and reopen: invalidates close and auto-solve timers.
    generation: int = 0


SolvedHook = Callable[[Ticket], None]
"""Called at each solve (surveys, QA reviews)."""


class TicketDesk:
    """The ticket streams of a scenario, worked by the agents skilled for each queue."""

    def __init__(self, world: World, streams: tuple[TicketStream, ...], floor: AgentFloor,
                 customer: Callable[[], str]) -> None:
        self._world = world
        self._streams = streams
        self._floor = floor
        self._customer = customer
        self._numbers = 0
        self._agents: dict[str, list[str]] = {}
        self._on_solved: list[SolvedHook] = []

    def on_solved(self, hook: SolvedHook) -> None:
        self._on_solved.append(hook)

    def start(self) -> None:
        for stream in self._streams:
            self._world.poisson(stream.arrivals_per_hour, lambda s=stream: self._create(s))

    # -- helpers ------------------------------------------------------------------------------

    def _emit(self, ticket: Ticket, event_type: str, **fields: Any) -> None:
        self._world.emit(event_type, {"ticket_id": ticket.id, **fields})

    def _status(self, ticket: Ticket, status: str) -> None:
        ticket.status = status
        self._emit(ticket, "ticket.status_changed", status=status)

    def _delay(self, ticket: Ticket, mean_s: float) -> float:
        return self._world.lognormal(mean_s, ticket.stream.delay_cv)

    def _reply_mean(self, ticket: Ticket, normal_mean_s: float) -> float:
        """Reply times scale with priority as the first-reply means do (normal = 1)."""
        means = ticket.stream.first_reply_mean_seconds
        return normal_mean_s * means[ticket.priority] / means["normal"]

    def _at_work(self, ticket: Ticket, delay_s: float, action: Callable[..., None],
                 *args: Any) -> None:
        """Run an agent's ``action`` after ``delay_s``, or once the floor is staffed again."""
        world = self._world
        due = world.now + delay_s
        staffed = world.next_staffed(due, ticket.stream.staffed_share)
        if staffed > due:
            due = staffed + world.exponential(MORNING_SPREAD_MEAN_SECONDS)
        world.at(due, action, ticket, *args)

    def _pick_agent(self, queue: str, other_than: str = "") -> str:
        agents = self._agents.get(queue)
        if agents is None:
            agents = self._agents[queue] = self._floor.agent_ids_for(queue)
        agent = self._world.rng.choice(agents)
        if agent == other_than and len(agents) > 1:
            agent = agents[(agents.index(agent) + 1) % len(agents)]
        return agent

    def _assign_to(self, ticket: Ticket, agent_id: str) -> None:
        ticket.agent_id = agent_id
        self._emit(ticket, "ticket.assigned", agent_id=agent_id)

    # -- life cycle ---------------------------------------------------------------------------

    def _create(self, stream: TicketStream) -> None:
        world = self._world
        self._numbers += 1
        ticket = Ticket(f"ticket-{world.stamper.run_tag}-{self._numbers:07d}", stream,
                        stream.queue, world.pick(stream.channels), world.pick(stream.priorities),
                        self._customer(), world.now)
        fields: dict[str, Any] = {"queue": ticket.queue, "channel": ticket.channel,
                                  "category": world.pick(stream.categories),
                                  "customer_id": ticket.customer_id}
        if ticket.priority != "normal" or not world.chance(stream.priority_omitted_share):
            fields["priority"] = ticket.priority
        self._emit(ticket, "ticket.created", **fields)
        ticket.status = "open"
        if world.chance(stream.bot_ack_probability):
            world.after(world.rng.uniform(*BOT_ACK_SECONDS), self._bot_ack, ticket)
        if world.chance(stream.recategorise_probability):
            self._at_work(ticket, world.rng.uniform(300.0, 3600.0), self._recategorise)
        if world.chance(stream.escalation_probability):
            self._at_work(ticket, self._delay(ticket, 3 * 3600.0), self._escalate)
        assign = min(self._delay(ticket, stream.assign_mean_seconds),
                     stream.first_reply_mean_seconds[ticket.priority] / 2)
        self._at_work(ticket, assign, self._assign)

    def _bot_ack(self, ticket: Ticket) -> None:
        self._emit(ticket, "ticket.replied", author="bot", public=True)

    def _assign(self, ticket: Ticket) -> None:
        self._assign_to(ticket, self._pick_agent(ticket.queue))
        first_reply = self._delay(ticket, ticket.stream.first_reply_mean_seconds[ticket.priority])
        self._at_work(ticket, max(0.0, first_reply - (self._world.now - ticket.created)),
                      self._agent_reply)

    def _agent_reply(self, ticket: Ticket) -> None:
        world, stream = self._world, ticket.stream
        if world.chance(stream.reassign_probability):
            self._assign_to(ticket, self._pick_agent(ticket.queue, other_than=ticket.agent_id))
        agent = ticket.agent_id
        if world.chance(stream.private_note_probability):
            self._emit(ticket, "ticket.replied", author="agent", public=False, agent_id=agent)
        self._emit(ticket, "ticket.replied", author="agent", public=True, agent_id=agent)
        if ticket.first_reply < 0:
            ticket.first_reply = world.now
        ticket.agent_replies += 1
        solve_p = stream.solve_probability_after_reply + SOLVE_STEP * (ticket.agent_replies - 1)
        if ticket.agent_replies >= stream.max_agent_replies or world.chance(solve_p):
            self._solve(ticket)
        elif world.chance(stream.on_hold_probability):
            self._status(ticket, "on_hold")       # waiting on a third party
            self._at_work(ticket, self._delay(ticket, stream.on_hold_mean_seconds),
                          self._resume)
        else:
            self._status(ticket, "pending")       # waiting on the customer
            if world.chance(stream.customer_reply_probability):
                world.after(self._delay(ticket, stream.customer_reply_mean_seconds),
                            self._customer_reply, ticket)
            else:
                world.after(stream.pending_timeout_seconds, self._auto_solve, ticket,
                            ticket.generation)

    def _resume(self, ticket: Ticket) -> None:
        self._status(ticket, "open")
        self._agent_reply(ticket)

    def _customer_reply(self, ticket: Ticket) -> None:
        if ticket.status == "closed":
            return                                 # too late: a closed ticket stays closed
        ticket.generation += 1
        self._emit(ticket, "ticket.replied", author="customer", public=True)
        if ticket.status == "solved":
            ticket.reopens += 1
        self._status(ticket, "open")
        mean = self._reply_mean(ticket, ticket.stream.reply_mean_seconds)
        self._at_work(ticket, self._delay(ticket, mean), self._agent_reply)

    def _auto_solve(self, ticket: Ticket, generation: int) -> None:
        if ticket.generation == generation and ticket.status == "pending":
            self._solve(ticket)

    def _solve(self, ticket: Ticket) -> None:
        world, stream = self._world, ticket.stream
        ticket.generation += 1
        ticket.solves += 1
        self._status(ticket, "solved")
        for hook in self._on_solved:
            hook(ticket)
        close = stream.close_after_seconds
        if world.chance(stream.closed_soon_share):
            close = min(close, self._delay(ticket, stream.closed_soon_mean_seconds))
        if world.chance(stream.reopen_probability):
            reopen = self._delay(ticket, stream.reopen_mean_seconds)
            if reopen < close:
                world.after(reopen, self._customer_reply, ticket)
                return
        world.after(close, self._close, ticket, ticket.generation)

    def _close(self, ticket: Ticket, generation: int) -> None:
        if ticket.generation == generation and ticket.status == "solved":
            self._status(ticket, "closed")

    # -- attribute changes --------------------------------------------------------------------

    def _recategorise(self, ticket: Ticket) -> None:
        if ticket.status in ("solved", "closed"):
            return
        self._emit(ticket, "ticket.updated", category=self._world.pick(ticket.stream.categories))

    def _escalate(self, ticket: Ticket) -> None:
        """Priority one step up and, where the stream escalates to other queues, a move there
        with a new assignee."""
        if ticket.status in ("solved", "closed"):
            return
        world, stream = self._world, ticket.stream
        fields: dict[str, Any] = {}
        rank = PRIORITIES.index(ticket.priority)
        if rank + 1 < len(PRIORITIES):
            ticket.priority = fields["priority"] = PRIORITIES[rank + 1]
        targets = [queue for queue in stream.escalate_to if queue != ticket.queue]
        if targets:
            ticket.queue = fields["queue"] = world.rng.choice(targets)
        if not fields:
            return
        self._emit(ticket, "ticket.updated", **fields)
        if "queue" in fields and ticket.agent_id:
            self._assign_to(ticket, self._pick_agent(ticket.queue))
