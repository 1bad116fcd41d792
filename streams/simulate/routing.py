"""Who answers whom: idle agents per queue and waiting contacts per queue (an ACD's matching).

Routing rules, the usual ones for skills-based ACDs and the ones Erlang C/A assume (any
work-conserving discipline gives the same waiting-time law for identical agents):

* a new contact goes to the longest-idle agent skilled for its queue;
* a freed agent takes, across its queues, the contact that has been in the centre longest
  (so a contact that flowed out or was transferred is not sent to the back of the line).

Waiting entries are removed lazily: a contact that abandons or flows out just stops matching
its entry (``segment`` moved on or ``waiting`` cleared), and stale heads are dropped on look-up.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from streams.simulate.model import AgentGroup, ContactStream


@dataclass(slots=True, eq=False)
class Agent:
    """One simulated agent and what they are doing."""

    id: str
    group: AgentGroup
    queues: tuple[str, ...]
    state: str = "offline"
    #: Log off at the end of the current contact or break (the shift is over).
    leaving: bool = False
    contact: Contact | None = None


@dataclass(slots=True, eq=False)
class Contact:
    """One call or chat, across all its queue segments."""

    id: str
    family: str                 # "call" | "chat": the event-type prefix
    key: str                    # "call_id" | "chat_id"
    stream: ContactStream
    customer_id: str
    arrived: float              # first arrival: the routing priority
    order: int                  # arrival sequence: breaks ties, never compares contacts
    queue: str = ""
    segment: int = 0            # bumped at each new queue segment: invalidates old timers
    waiting: bool = False
    patience_deadline: float = float("inf")
    transferred: bool = False
    agent: Agent | None = None
    #: Simulated times of the first and the latest answer (-1: not answered yet).
    first_answered: float = -1.0
    last_answered: float = -1.0


class Router:
    """Idle agents and waiting contacts, indexed by queue."""

    def __init__(self, queues: set[str]) -> None:
        #: Insertion order = idle since: the first value is the longest-idle agent.
        self._idle: dict[str, dict[str, Agent]] = {queue: {} for queue in queues}
        self._waiting: dict[str, list[tuple[float, int, int, Contact]]] = {
            queue: [] for queue in queues}

    def longest_idle(self, queue: str) -> Agent | None:
        """The agent idle longest among those skilled for ``queue``, if any."""
        idle = self._idle[queue]
        return next(iter(idle.values())) if idle else None

    def set_idle(self, agent: Agent) -> None:
        """``agent`` waits for work in every queue they serve."""
        for queue in agent.queues:
            self._idle[queue][agent.id] = agent

    def set_busy(self, agent: Agent) -> None:
        """``agent`` is no longer waiting for work (answering, on break, logged off)."""
        for queue in agent.queues:
            self._idle[queue].pop(agent.id, None)

    def wait(self, contact: Contact) -> None:
        """``contact`` waits in ``contact.queue`` for its current segment."""
        contact.waiting = True
        heapq.heappush(self._waiting[contact.queue],
                       (contact.arrived, contact.order, contact.segment, contact))

    def take_oldest(self, queues: tuple[str, ...]) -> Contact | None:
        """Remove and return the longest-present contact waiting in any of ``queues``."""
        best: list[tuple[float, int, int, Contact]] | None = None
        for queue in queues:
            heap = self._waiting[queue]
            while heap and (not heap[0][3].waiting or heap[0][2] != heap[0][3].segment):
                heapq.heappop(heap)
            if heap and (best is None or heap[0][:2] < best[0][:2]):
                best = heap
        if best is None:
            return None
        contact = heapq.heappop(best)[3]
        contact.waiting = False
        return contact
