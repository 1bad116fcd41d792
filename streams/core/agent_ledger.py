"""Per-agent day sums: what the per-agent views read (``[limits] per_agent``, issue 13).

One :class:`AgentDays` per ledger, present only when per-agent views are on. It keeps, per
*per-agent day* and agent id, the summed fields of the agent's contributions booked in that
day — ``handled``, ``handle_us`` and ``fcr`` from the contacts the agent wrapped up
(:class:`~streams.core.contributions.AgentBooking`), and ``t_<state>`` from the agent's closed
state spans (:class:`~streams.core.contributions.AgentSpan`) — all integer microseconds or
counts, so sums are exact in any order. Beside the fields it keeps the multiset of the
instants those contributions were booked at, so that :attr:`AgentDay.first_us` (the agent's
first activity of the day, the key of the ``max_agents`` admission in
``streams.core.agent_kpis``) is, like every sum, a function of the current contributions
alone: independent of arrival order, and rebuilt exactly after a restart.

The per-agent day is the business day of the ``[defaults]`` calendar (``timezone``,
``day_start``): an agent serves several queues, which may each have a calendar of their own,
and the agent's day must be one. Days are pruned by stream time with the other window
buckets (:meth:`prune`). Pure: no I/O, no clock.
"""

from __future__ import annotations

from streams.core.calendar import QueueCalendar
from streams.core.config import Config
from streams.core.contributions import AgentBooking, AgentSpan, Contribution

#: Prefix of an agent entity's key (``streams.core.entities.agent.AgentKind.key``).
AGENT_KEY_PREFIX = "agent:"
#: Field of the time in ``state``: ``t_available``, ``t_on_contact``, ...
STATE_FIELD = "t_"


def agent_of_key(key: str) -> str:
    """The agent id of an agent entity's key: ``"agent:a7"`` -> ``"a7"``."""
    return key[len(AGENT_KEY_PREFIX):]


class AgentDay:
    """One agent's sums in one per-agent day: ``fields`` (field -> integer amount, no zero
    entries) and ``instants`` (booking instant in µs -> how many contributions booked there)."""

    __slots__ = ("_first", "fields", "instants")

    def __init__(self) -> None:
        self.fields: dict[str, int] = {}
        self.instants: dict[int, int] = {}
        self._first: int | None = None

    @property
    def first_us(self) -> int | None:
        """The earliest instant anything of the agent is booked at in this day (µs)."""
        return self._first

    def book(self, field: str, amount: int, at_us: int, times: int) -> None:
        """Add ``amount`` to ``field`` and count ``at_us`` ``times`` times (``-1``: retract)."""
        value = self.fields.get(field, 0) + amount
        if value:
            self.fields[field] = value
        else:
            self.fields.pop(field, None)
        n = self.instants.get(at_us, 0) + times
        if n > 0:
            self.instants[at_us] = n
            if self._first is None or at_us < self._first:
                self._first = at_us
        else:
            self.instants.pop(at_us, None)
            if at_us == self._first:
                self._first = min(self.instants) if self.instants else None

    def __bool__(self) -> bool:
        return bool(self.instants)


class AgentDays:
    """Per-agent day sums of one ledger: ``days[day_start_us][agent_id]`` -> :class:`AgentDay`."""

    def __init__(self, config: Config) -> None:
        s = config.defaults
        self.calendar = QueueCalendar(s.timezone, s.interval_minutes, s.day_start_minutes)
        self.days: dict[int, dict[str, AgentDay]] = {}

    def add(self, key: str, c: Contribution, times: int) -> None:
        """Add (``times`` = 1) or retract (-1) one per-agent contribution of entity ``key``;
        any other contribution type is ignored."""
        cls = c.__class__
        if cls is AgentBooking:
            agent, at_us, field, amount = c  # type: ignore[misc]
            self._book(self.calendar.day_start(at_us), agent, field, amount * times, at_us,
                       times)
        elif cls is AgentSpan:
            state, start_us, end_us = c  # type: ignore[misc]
            agent = agent_of_key(key)
            field = STATE_FIELD + state
            at = start_us
            while at < end_us:
                day_start, day_end = self.calendar.day_bounds(at)
                stop = min(end_us, day_end)
                self._book(day_start, agent, field, (stop - at) * times, at, times)
                at = stop

    def _book(self, day: int, agent: str, field: str, amount: int, at_us: int,
              times: int) -> None:
        agents = self.days.get(day)
        if agents is None:
            agents = self.days[day] = {}
        entry = agents.get(agent)
        if entry is None:
            entry = agents[agent] = AgentDay()
        entry.book(field, amount, at_us, times)
        if not entry:
            del agents[agent]
            if not agents:
                del self.days[day]

    def day(self, day_start_us: int) -> dict[str, AgentDay]:
        """The agents booked in the per-agent day starting at ``day_start_us`` (read only)."""
        return self.days.get(day_start_us, {})

    def starts_before(self, before_us: int) -> bool:
        """Whether a day held started before ``before_us`` (:meth:`prune` would forget it)."""
        return any(s < before_us for s in self.days)

    def prune(self, before_us: int) -> None:
        """Forget the days that started before ``before_us`` (no window can show them)."""
        for start in [s for s in self.days if s < before_us]:
            del self.days[start]
