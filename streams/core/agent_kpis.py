"""Per-agent views (``[limits] per_agent``, off by default): the ``today`` window per agent.

For each agent, in the per-agent day that contains the engine clock ``now_us`` (the business
day of the ``[defaults]`` calendar, ``streams.core.agent_ledger``), from ``today``'s start to
now:

* **handled**, **handle time** and **first-contact resolution**: the contacts whose last
  ``wrapup_ended`` the agent sent, booked at that wrap-up, with the contact's handle time and
  resolution exactly as the queue KPIs define them (docs/contract.md §3.3) — so the agents'
  handled contacts and handle seconds add up to the queues';
* **state time**: seconds in each state but ``offline`` (``available``, ``on_contact``,
  ``after_contact_work``, ``not_ready``), closed spans plus the open one up to now;
* **occupancy**: (on contact + ACW) / (available + on contact + ACW), the queue definition
  (docs/contract.md §3.3) for one agent, counted once whatever the number of queues served.

**The ``max_agents`` limit.** Of the agents with anything booked today (or an open state other
than offline), the ``max_agents`` whose first activity today is earliest (ties by agent id)
keep their id as the ``agent`` label; the others are summed under ``agent="other"``. The first
activity is the earliest instant any of the agent's contributions is booked at in the day (the
start of a state span, clipped to the day's start, or a wrap-up), a function of the events
alone: independent of arrival order and of restarts, and merged over the ledgers (partitions)
as their minimum. As for ``max_queues``, each worker decides from the partitions it owns, so
the labels are the same on every worker while the fleet sees at most ``max_agents`` agents in
a day; summed over the workers the totals are right either way (``other`` holds the rest).

**Several workers.** An agent's state events and the contacts it wraps up live on different
partitions, so each worker exports only its part: every ratio has its numerator and
denominator exported (``streams.core.metrics.RATIO_PARTS``) and the fleet value is
``sum by (agent, window)`` of the one over the other
(``deploy/prometheus/rules/ccpulse-agent-recording.yml``).

Pure: a read of the ledgers at ``now_us``; times are integer microseconds until the export.
"""

from __future__ import annotations

from collections.abc import Sequence

from streams.core import contributions as F
from streams.core.agent_ledger import STATE_FIELD, agent_of_key
from streams.core.calendar import QueueCalendar
from streams.core.config import Config
from streams.core.entities.agent import NOT_BOOKED_PER_AGENT
from streams.core.ledger import Ledger
from streams.core.metrics import Family, new_family

#: The ``agent`` label of the agents past ``max_agents``.
OTHER_AGENT = "other"
#: The windows of the per-agent families.
PER_AGENT_WINDOW = "today"
#: The states whose time is exported per agent (every state but offline).
PER_AGENT_STATES = tuple(s for s in F.AGENT_STATES if s != NOT_BOOKED_PER_AGENT)
_BUSY = ("on_contact", "after_contact_work")
SECOND_US = 1_000_000

Sums = dict[str, int]


def today_per_agent(config: Config, ledgers: Sequence[Ledger],
                    now_us: int) -> tuple[dict[str, Sums], dict[str, int]]:
    """``(sums, first)`` of the per-agent day containing ``now_us``, merged over ``ledgers``:
    agent id -> summed fields (``handled``, ``handle_us``, ``fcr``, ``t_<state>`` in µs, the
    open state up to ``now_us`` included) and agent id -> first activity of the day (µs)."""
    s = config.defaults
    day = QueueCalendar(s.timezone, s.interval_minutes, s.day_start_minutes).day_start(now_us)
    sums: dict[str, Sums] = {}
    first: dict[str, int] = {}
    for ledger in ledgers:
        if ledger.per_agent is None:
            continue
        for agent, entry in ledger.per_agent.day(day).items():
            acc = sums.setdefault(agent, {})
            for field, value in entry.fields.items():
                acc[field] = acc.get(field, 0) + value
            at = entry.first_us
            if at is not None and (agent not in first or at < first[agent]):
                first[agent] = at
        for key, (state, _, since_us) in ledger.agents.items():
            if state == NOT_BOOKED_PER_AGENT:
                continue
            start = max(since_us, day)
            if start >= now_us:
                continue
            agent = agent_of_key(key)
            acc = sums.setdefault(agent, {})
            field = STATE_FIELD + state
            acc[field] = acc.get(field, 0) + now_us - start
            if agent not in first or start < first[agent]:
                first[agent] = start
    return sums, first


def admitted_agents(first: dict[str, int], max_agents: int) -> set[str]:
    """The ``max_agents`` agents whose first activity is earliest, ties by agent id."""
    return {agent for _, agent in sorted((at, agent) for agent, at in first.items())[:max_agents]}


def per_agent_families(config: Config, ledgers: Sequence[Ledger], now_us: int) -> list[Family]:
    """The per-agent families of docs/metrics.md ("Per agent") at the engine clock ``now_us``;
    none when ``[limits] per_agent`` is off. A pure read."""
    if not config.limits.per_agent:
        return []
    sums, first = today_per_agent(config, ledgers, now_us)
    admitted = admitted_agents(first, config.limits.max_agents)
    labelled: dict[str, Sums] = {}
    for agent, fields in sums.items():
        acc = labelled.setdefault(agent if agent in admitted else OTHER_AGENT, {})
        for field, value in fields.items():
            acc[field] = acc.get(field, 0) + value

    g = {name: new_family(name) for name in (
        "cc_window_per_agent_contacts_handled", "cc_window_per_agent_handle_seconds",
        "cc_window_per_agent_contacts_resolved_first_contact",
        "cc_window_per_agent_busy_seconds", "cc_window_per_agent_staffed_seconds",
        "cc_window_per_agent_state_seconds", "cc_per_agent_average_handle_time_seconds",
        "cc_per_agent_first_contact_resolution_ratio", "cc_per_agent_occupancy_ratio")}
    w = PER_AGENT_WINDOW
    for agent, f in sorted(labelled.items()):
        labels = (agent, w)
        handled = f.get(F.HANDLED, 0)
        handle_us = f.get(F.HANDLE_US, 0)
        resolved = f.get(F.RESOLVED_FIRST_CONTACT, 0)
        busy_us = sum(f.get(STATE_FIELD + s, 0) for s in _BUSY)
        staffed_us = busy_us + f.get(STATE_FIELD + "available", 0)
        g["cc_window_per_agent_contacts_handled"].samples[labels] = handled
        g["cc_window_per_agent_handle_seconds"].samples[labels] = handle_us / SECOND_US
        g["cc_window_per_agent_contacts_resolved_first_contact"].samples[labels] = resolved
        g["cc_window_per_agent_busy_seconds"].samples[labels] = busy_us / SECOND_US
        g["cc_window_per_agent_staffed_seconds"].samples[labels] = staffed_us / SECOND_US
        for state in PER_AGENT_STATES:
            g["cc_window_per_agent_state_seconds"].samples[(agent, state, w)] = (
                f.get(STATE_FIELD + state, 0) / SECOND_US)
        if handled:
            g["cc_per_agent_average_handle_time_seconds"].samples[labels] = (
                handle_us / handled / SECOND_US)
            g["cc_per_agent_first_contact_resolution_ratio"].samples[labels] = resolved / handled
        if staffed_us:
            g["cc_per_agent_occupancy_ratio"].samples[labels] = busy_us / staffed_us
    return list(g.values())
