"""Ledger.agent_groups, the live agents grouped by state and queues for the scrape's agent
families, follows Ledger.agents through every change, retraction and snapshot."""

from __future__ import annotations

import pickle
import random

import pytest

from streams.core.config import parse_config
from streams.core.contributions import AgentNow
from streams.core.ledger import Ledger

T0 = 1_795_338_000_000_000  # 2026-11-22T09:00Z


def _grouped(agents: dict[str, AgentNow]) -> dict:
    groups: dict = {}
    for key, (state, queues, since_us) in agents.items():
        groups.setdefault((state, queues), {})[key] = since_us
    return groups


@pytest.mark.parametrize("seed", range(20))
def test_the_agent_groups_are_the_live_agents_grouped_after_any_changes(seed):
    rng = random.Random(seed)
    ledger = Ledger(parse_config({}))
    for step in range(300):
        key = f"agent-{rng.randrange(12)}"
        now = ledger.agents.get(key)
        new = AgentNow(rng.choice(["available", "on_contact", "offline"]),
                       rng.choice([("sales",), ("sales", "support"), ()]), T0 + step)
        roll = rng.random()
        if now is not None and roll < 0.5:  # a change as the engine swaps it: out, then in
            ledger.add_one(key, now, -1)
            ledger.add_one(key, new, 1)
        elif now is not None and roll < 0.7:  # the agent's state retracted (its record gone)
            ledger.add_one(key, now, -1)
        elif roll < 0.8:  # a retraction of a state it no longer has: nothing changes
            ledger.add_one(key, new, -1)
        else:  # a state added over the one it had
            ledger.add_one(key, new, 1)
        assert ledger.agent_groups == _grouped(ledger.agents)
        assert all(ledger.agent_groups.values())  # no empty group is kept
    restored = pickle.loads(pickle.dumps(ledger))
    assert restored.agent_groups == _grouped(ledger.agents)


def test_a_snapshot_without_agent_groups_restores_them_from_the_agents():
    ledger = Ledger(parse_config({}))
    ledger.add_one("agent-1", AgentNow("available", ("sales",), T0), 1)
    state = ledger.__getstate__()
    state.pop("agent_groups")  # a snapshot written before the groups existed
    restored = Ledger.__new__(Ledger)
    restored.__setstate__(state)
    assert restored.agent_groups == {("available", ("sales",)): {"agent-1": T0}}
