"""Agents: an agent's state timeline and its contributions (contract §1.4, §3.1, occupancy §3.3).

The record is the agent's state changes sorted by time (ties by event id), each a
:class:`StateChange` where ``queues`` is the list the event carried — ``()`` for ``[]``, the
agent serves no queue — or ``None`` when it carried none (the agent keeps serving the queues it
had; an agent that never said is reported under queue ``unknown``). Each state lasts until the
next change; closed spans in the occupancy states become :class:`Span` contributions, the last
state one :class:`AgentNow` that the KPI layer extends to "now". With ``[limits] per_agent``
every closed span in a state other than ``offline`` is also one :class:`AgentSpan` (the
agent's own state time, once whatever the queues it serves; ``streams.core.agent_kpis``).

Retention (contract §2): the current state and queues are kept for ever; the history (the spans
behind occupancy) for 48 h of stream time. An event older than that is late.
"""

from __future__ import annotations

import sys
from bisect import insort
from collections.abc import Iterable
from typing import Any, NamedTuple

from streams.core.agent_ledger import AGENT_KEY_PREFIX
from streams.core.config import Config
from streams.core.contributions import OCCUPANCY_STATES, AgentNow, AgentSpan, Contribution, Span
from streams.core.events import Event
from streams.core.timestamps import HOUR_US

UNKNOWN_QUEUE = "unknown"
#: Builds a named tuple from a tuple of its fields without its Python-level ``__new__``.
_new = tuple.__new__
HISTORY_US = 48 * HOUR_US
#: The state whose time the per-agent views do not book: a logged-out agent is not at work,
#: and an agent seen once would otherwise have a day of state time every day.
NOT_BOOKED_PER_AGENT = "offline"


class StateChange(NamedTuple):
    """One state change; a plain tuple comparison orders a timeline (time, then event id)."""

    at_us: int
    event_id: str
    state: str
    queues: tuple[str, ...] | None


def _queues_in_effect(timeline: list[StateChange]) -> list[tuple[str, ...]]:
    current: tuple[str, ...] = (UNKNOWN_QUEUE,)
    out = []
    for change in timeline:
        if change.queues is not None:
            current = change.queues
        out.append(current)
    return out


def span_contributions(start: StateChange, end_us: int, queues: tuple[str, ...],
                       per_agent: bool = False) -> list[Contribution]:
    """Contributions of one closed state span: a :class:`Span` per queue served in the
    occupancy states, and with ``per_agent`` one :class:`AgentSpan` in every state but
    offline; none for an empty span."""
    start_us = start[0]  # at_us
    if end_us <= start_us:
        return []
    state = start[2]  # state
    out: list[Contribution] = []
    if state in OCCUPANCY_STATES:
        out = [_new(Span, (q, state, start_us, end_us)) for q in queues]
    if per_agent and state != NOT_BOOKED_PER_AGENT:
        out.append(_new(AgentSpan, (state, start_us, end_us)))
    return out


def agent_contributions(timeline: list[StateChange],
                        per_agent: bool = False) -> list[Contribution]:
    """Every contribution of an agent, from its whole (time-sorted) timeline; the per-agent
    spans only with ``per_agent`` (``[limits] per_agent``)."""
    if not timeline:
        return []
    queues = _queues_in_effect(timeline)
    out: list[Contribution] = []
    for i in range(len(timeline) - 1):
        out.extend(span_contributions(timeline[i], timeline[i + 1].at_us, queues[i],
                                      per_agent))
    last = timeline[-1]
    out.append(AgentNow(last.state, queues[-1], last.at_us))
    return out


class AgentKind:
    """Entity kind of agents: one record per ``agent_id``."""

    name = "agent"
    families: tuple[str, ...] = ("agent",)
    version = 2
    late_after_us = HISTORY_US

    def key(self, event: Event) -> str:
        return sys.intern(AGENT_KEY_PREFIX + event.body["agent_id"])  # one object a key

    def new_record(self, event: Event) -> dict[str, Any]:
        return {"tl": []}

    def add(self, record: dict[str, Any], event: Event) -> None:
        queues = event.body.get("queues")
        change = _new(StateChange, (event.occurred_us, event.event_id, event.body["state"],
                                    tuple(queues) if isinstance(queues, list) else None))
        insort(record["tl"], change)

    def appended(self, record: dict[str, Any], previous: list[Contribution], event: Event,
                 config: Config) -> tuple[list[Contribution], list[Contribution]] | None:
        """Fast path when the newest change (``event``) went to the end of the timeline:
        ``(removed, added)``; only the open state closes and a new one opens, so the work is
        constant. ``None`` means "recompute everything"."""
        timeline: list[StateChange] = record["tl"]
        if len(timeline) < 2 or not previous:
            return None
        old_live = previous[-1]
        before, new = timeline[-2], timeline[-1]
        # The event must be the change at the end: a late one inserted before two changes
        # of one instant leaves an end that still looks like a fresh append.
        if new.event_id != event.event_id or new.at_us != event.occurred_us:
            return None
        if (not isinstance(old_live, AgentNow) or old_live.since_us != before.at_us
                or old_live.state != before.state):
            return None
        queues = old_live.queues if new.queues is None else new.queues
        closed = span_contributions(before, new.at_us, old_live.queues,
                                    config.limits.per_agent)
        closed.append(_new(AgentNow, (new.state, queues, new.at_us)))
        return [old_live], closed

    def trimmed(self, record: dict[str, Any],
                previous: list[Contribution]) -> tuple[list[Contribution], list[Contribution]]:
        """After :meth:`trim`: ``(kept, dropped)`` of the contributions of the untrimmed
        timeline. The head keeps its time, state and queues in effect, so exactly the spans
        of the dropped changes go, and they all start before the head (a change at the head's
        instant before it closed no span).

        ``previous`` is in the order of the timeline: :func:`agent_contributions` builds it
        so, :meth:`appended` adds the spans of the newest change after the others and the
        live state last, and a trim keeps the order. So the dropped spans are a prefix, and
        only they are visited (an agent holds two days of spans, and every hourly prune
        trims every agent).
        """
        head_us = record["tl"][0].at_us
        cut = 0
        for c in previous:
            cls = c.__class__
            if (cls is Span or cls is AgentSpan) and c.start_us < head_us:  # type: ignore
                cut += 1
            else:
                break
        return previous[cut:], previous[:cut]

    def newest_us(self, record: dict[str, Any]) -> int:
        return record["tl"][-1].at_us if record["tl"] else 0

    def expired(self, record: dict[str, Any], stream_us: int) -> bool:
        return False  # the current state is kept for ever

    def is_late(self, record: dict[str, Any] | None, event_us: int, stream_us: int) -> bool:
        return stream_us - event_us > HISTORY_US

    def trim(self, record: dict[str, Any], stream_us: int) -> list[str]:
        """Drop the history older than 48 h of stream time: keep the state in effect at the
        cutoff (with the queues in effect then) and every change after it."""
        timeline: list[StateChange] = record["tl"]
        cutoff = stream_us - HISTORY_US
        first_kept = 0
        while first_kept + 1 < len(timeline) and timeline[first_kept + 1].at_us <= cutoff:
            first_kept += 1
        if first_kept == 0:
            return []
        queues = _queues_in_effect(timeline[: first_kept + 1])[-1]
        head = timeline[first_kept]
        kept_queues = None if queues == (UNKNOWN_QUEUE,) and head.queues is None else queues
        record["tl"] = [head._replace(queues=kept_queues), *timeline[first_kept + 1:]]
        return [change.event_id for change in timeline[:first_kept]]

    def event_ids(self, record: dict[str, Any]) -> Iterable[str]:
        return (change.event_id for change in record["tl"])

    def queues_of(self, event: Event) -> Iterable[str]:
        queues = event.body.get("queues")
        if not isinstance(queues, list):
            return ()
        for q in queues:
            if q.__class__ is not str:
                return tuple(q for q in queues if isinstance(q, str))
        return queues  # the usual list of names: read, never kept

    def first_seen(self, record: dict[str, Any]) -> dict[str, int]:
        out: dict[str, int] = {}
        for change in record["tl"]:
            for q in change.queues or ():
                out.setdefault(q, change.at_us)
        return out

    def restore(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        timeline = []
        for c in record["tl"]:
            if version < 2:  # format 1: (occurred_ms, state, queues, event_id)
                at_us, event_id, state, queues = c[0] * 1000, c[3], c[1], c[2]
            else:
                at_us, event_id, state, queues = c
            timeline.append(StateChange(at_us, event_id, state,
                                        tuple(queues) if queues is not None else None))
        timeline.sort()
        return {"tl": timeline}

    def contributions(self, record: dict[str, Any], config: Config) -> list[Contribution]:
        return agent_contributions(record["tl"], config.limits.per_agent)
