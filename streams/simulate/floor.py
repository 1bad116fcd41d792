"""The agents: log-in and log-off with the intraday profile, breaks, and their state events.

Every state change is an ``agent.state_changed`` event carrying the agent's ``queues`` (contract
§1.4). A cycle reads available → on_contact → after_contact_work → available; an agent who
finishes a contact while others wait goes straight to the next ``on_contact`` (a zero-length
``available`` would add events and no information). Shifts: with ``follows_profile`` a group
keeps ``round(count × multiplier/peak)`` agents logged in, re-checked at each profile step;
agents above target log off when idle, or at the end of their contact or break.
"""

from __future__ import annotations

from collections.abc import Callable

from streams.simulate.model import AgentGroup, Scenario
from streams.simulate.routing import Agent, Router
from streams.simulate.world import World


class AgentFloor:
    """All agents of a scenario and what moves them between states."""

    def __init__(self, world: World, scenario: Scenario, router: Router,
                 find_work: Callable[[Agent], bool]) -> None:
        self._world = world
        self._router = router
        self._find_work = find_work
        self.groups: dict[str, list[Agent]] = {
            group.name: [Agent(agent_id, group, group.queues) for agent_id in group.agent_ids()]
            for group in scenario.agent_groups
        }
        self._group_specs = {group.name: group for group in scenario.agent_groups}

    def agent_ids_for(self, queue: str) -> list[str]:
        """Every agent skilled for ``queue`` (back-office work such as tickets)."""
        return [agent.id for agents in self.groups.values() for agent in agents
                if queue in agent.queues]

    def start(self) -> None:
        """Log the first shift in; announce everyone else as offline (a full roster)."""
        for name, agents in self.groups.items():
            group = self._group_specs[name]
            target = self._target(group)
            for agent in agents[target:]:
                self.set_state(agent, "offline")
            for agent in agents[:target]:
                self._log_in(agent)
            if group.follows_profile and not self._world.profile.flat:
                self._schedule_restaff(group)

    def set_state(self, agent: Agent, state: str, reason: str | None = None) -> None:
        """Record and emit a state change (nothing when the state does not change)."""
        if agent.state == state:
            return
        agent.state = state
        fields = {"agent_id": agent.id, "state": state, "queues": list(agent.queues)}
        if reason is not None:
            fields["reason"] = reason
        self._world.emit("agent.state_changed", fields)

    def release(self, agent: Agent) -> None:
        """``agent`` finished a piece of work: log off, take a break, or look for work."""
        if agent.leaving:
            agent.leaving = False
            self.set_state(agent, "offline")
            return
        group = agent.group
        if self._world.chance(group.break_probability):
            self.set_state(agent, "not_ready", reason="break")
            self._world.after(self._world.exponential(group.break_mean_seconds),
                              self.release_from_break, agent)
            return
        self._ready(agent)

    def release_from_break(self, agent: Agent) -> None:
        """End of a break (or of the shift, if it ended meanwhile)."""
        if agent.state != "not_ready":
            return
        if agent.leaving:
            agent.leaving = False
            self.set_state(agent, "offline")
            return
        self._ready(agent)

    def _ready(self, agent: Agent) -> None:
        if not self._find_work(agent):
            self.set_state(agent, "available")
            self._router.set_idle(agent)
        # else _find_work answered a contact, which set the state to on_contact

    def _log_in(self, agent: Agent) -> None:
        """Logging in makes the agent available (and announces their queues) before any
        contact reaches them."""
        agent.leaving = False
        self.set_state(agent, "available")
        self._ready(agent)

    # -- shifts -------------------------------------------------------------------------------

    def _target(self, group: AgentGroup) -> int:
        if not group.follows_profile:
            return group.count
        profile = self._world.profile
        share = profile.multiplier_at(self._world.second_of_day()) / profile.peak
        return max(min(group.min_logged_in, group.count), min(group.count,
                                                               round(group.count * share)))

    def _schedule_restaff(self, group: AgentGroup) -> None:
        delay = self._world.profile.seconds_to_next_step(self._world.second_of_day())
        self._world.after(delay, self._restaff, group)

    def _restaff(self, group: AgentGroup) -> None:
        agents = self.groups[group.name]
        on_shift = [a for a in agents if a.state != "offline" and not a.leaving]
        target = self._target(group)
        if len(on_shift) < target:
            needed = target - len(on_shift)
            for agent in [a for a in agents if a.leaving][:needed]:
                agent.leaving = False
                needed -= 1
            for agent in [a for a in agents if a.state == "offline"][:needed]:
                self._log_in(agent)
        elif len(on_shift) > target:
            # Idle agents leave first; the others finish what they are doing.
            surplus = sorted(on_shift, key=lambda a: a.state != "available")
            for agent in surplus[:len(on_shift) - target]:
                if agent.state == "available":
                    self._router.set_busy(agent)
                    self.set_state(agent, "offline")
                else:
                    agent.leaving = True
        self._schedule_restaff(group)
