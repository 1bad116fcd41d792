"""The agent groups' parts kept across scrapes (``streams.core.agent_groups.AgentGroups``,
brought up to date from the groups changed since): whatever agents change state, join, leave
or move between ledgers, and as the clock crosses intervals and days, what the agent families
take from them equals a fresh computation (``kpis._agent_parts``) — counts, closed sums,
open spans and staffed agents."""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from streams.core import kpis
from streams.core.agent_groups import AgentGroups
from streams.core.config import parse_config
from streams.core.contributions import AGENT_STATES, AgentNow
from streams.core.ledger import Ledger

T0 = 1_795_338_000_000_000  # 2026-11-22T09:00Z
MINUTE_US = 60_000_000
QUEUES = ("sales", "support", "billing", "retention")
#: Two calendars (billing's own interval and day), and queues beyond those named (labels).
CONFIG = {"defaults": {"interval_minutes": 15},
          "queues": {"sales": {}, "support": {},
                     "billing": {"timezone": "America/New_York", "interval_minutes": 30,
                                 "day_start": "06:00"}}}


def _open_spans(spans: list[Any]) -> list[Any]:
    """The open spans in one order (a group's place in the list is not a value)."""
    return sorted((tuple(labels), window, field, hi, (n, total, latest, tuple(starts),
                                                       tuple(before)))
                  for labels, window, field, hi, (n, total, latest, starts, before) in spans)


def _check(kept: AgentGroups, ledgers: list[Ledger], now_us: int) -> None:
    label = kpis.queue_labels(ledgers[0].config, ledgers)
    counts, closed, spans, staffed = kpis._agent_parts_kept(ledgers, label, now_us, kept)
    f_counts, f_closed, f_spans, f_staffed = kpis._agent_parts(ledgers, label, now_us)
    assert list(counts.items()) == list(f_counts.items())  # the order too: labels by name
    assert closed == f_closed
    assert staffed == f_staffed
    assert _open_spans(spans) == _open_spans(f_spans)
    for q, fields in kept.previous.items():
        assert all(fields.values()), (q, fields)  # no zero kept


#: Few agents (most groups change between two calls: every sum added up again) or many
#: (a few groups change: each put in or taken out of the sums).
@pytest.mark.parametrize("agents", [12, 150])
@pytest.mark.parametrize("seed", range(20))
def test_kept_agent_parts_equal_fresh_ones_through_changes_and_moving_windows(seed, agents):
    rng = random.Random(seed)
    config = parse_config(CONFIG)
    ledgers = [Ledger(config) for _ in range(3)]
    kept = AgentGroups()
    live: dict[str, tuple[int, AgentNow]] = {}  # agent -> (its ledger, its live state)
    now = T0
    for _ in range(40):
        for _ in range(rng.randint(1, 5)):
            agent = f"a-{rng.randrange(agents)}"
            found = live.get(agent)
            if found is not None and rng.random() < 0.2:  # logged out: retracted
                i, was = live.pop(agent)
                ledgers[i].add_one(agent, was, -1)
                continue
            i = rng.randrange(3) if found is None else found[0]
            if found is not None and rng.random() < 0.1:  # moved to another partition
                ledgers[i].add_one(agent, found[1], -1)
                i = rng.randrange(3)
            queues = tuple(sorted(rng.sample((*QUEUES, "q-x", "q-y"), rng.randint(1, 3))))
            since = now - rng.randint(0, 90) * MINUTE_US
            state = AgentNow(rng.choice(AGENT_STATES), queues, since)
            ledgers[i].add_one(agent, state, 1)
            live[agent] = (i, state)
        if rng.random() < 0.4:
            now += rng.choice([1_000_000, 7 * MINUTE_US, 31 * MINUTE_US, 24 * 60 * MINUTE_US])
        _check(kept, ledgers, now)


def test_a_restored_ledger_starts_the_kept_groups_over():
    config = parse_config(CONFIG)
    ledgers = [Ledger(config), Ledger(config)]
    kept = AgentGroups()
    ledgers[0].add_one("a-1", AgentNow("available", ("sales",), T0), 1)
    ledgers[1].add_one("a-2", AgentNow("available", ("sales",), T0 + MINUTE_US), 1)
    _check(kept, ledgers, T0 + 2 * MINUTE_US)
    restored = pickle.loads(pickle.dumps(ledgers[1]))  # a rebuilt engine: another ledger
    restored.add_one("a-3", AgentNow("on_contact", ("sales",), T0), 1)
    _check(kept, [ledgers[0], restored], T0 + 3 * MINUTE_US)
    assert kept.counts[("sales", "available")] == 2


def test_a_group_emptied_and_filled_again_is_counted_once():
    config = parse_config(CONFIG)
    ledger = Ledger(config)
    kept = AgentGroups()
    busy = AgentNow("on_contact", ("sales", "support"), T0)
    ledger.add_one("a-1", busy, 1)
    _check(kept, [ledger], T0 + MINUTE_US)
    ledger.add_one("a-1", busy, -1)
    _check(kept, [ledger], T0 + MINUTE_US)
    assert kept.present == {} and kept.staffed == {} and kept.previous == {}
    ledger.add_one("a-1", AgentNow("on_contact", ("sales", "support"), T0 + 5), 1)
    _check(kept, [ledger], T0 + 2 * MINUTE_US)
    assert kept.staffed == {"sales": 1, "support": 1}


#: Two configurations (their ledgers' groups merged apart, other calendars) admitting two
#: queues beyond those named, so that which queue is a label moves with the first-seen times.
_C1 = {"defaults": {"interval_minutes": 15}, "limits": {"max_queues": 2},
       "queues": {"sales": {}, "billing": {"timezone": "America/New_York",
                                           "interval_minutes": 30, "day_start": "06:00"}}}
_C2 = {"defaults": {"interval_minutes": 60, "timezone": "Asia/Kolkata"},
       "limits": {"max_queues": 2}, "queues": {"sales": {}, "billing": {"interval_minutes": 30}}}


@pytest.mark.parametrize("seed", range(12))
def test_kept_agent_parts_equal_fresh_ones_over_configurations_labels_and_replaced_ledgers(
        seed):
    rng = random.Random(seed)
    c1, c2 = parse_config(_C1), parse_config(_C2)
    ledgers = [Ledger(c1), Ledger(c2), Ledger(c1)]
    kept = AgentGroups()
    live: dict[str, tuple[int, AgentNow]] = {}
    names = ("sales", "support", "billing", "q-a", "q-b", "q-c", "q-d")
    now = T0
    for _ in range(40):
        for _ in range(rng.randint(1, 6)):
            agent = f"a-{rng.randrange(20)}"
            found = live.get(agent)
            if found is not None and rng.random() < 0.2:
                i, was = live.pop(agent)
                ledgers[i].add_one(agent, was, -1)
                continue
            i = rng.randrange(3) if found is None else found[0]
            if found is not None and rng.random() < 0.15:
                ledgers[i].add_one(agent, found[1], -1)
                i = rng.randrange(3)
            queues = tuple(sorted(rng.sample(names, rng.randint(1, 3))))
            ledgers[i].saw_queues(queues, now - rng.randint(0, 500) * MINUTE_US)
            state = AgentNow(rng.choice(AGENT_STATES), queues,
                             now - rng.randint(0, 90) * MINUTE_US)
            ledgers[i].add_one(agent, state, 1)
            live[agent] = (i, state)
        r = rng.random()
        if r < 0.1:  # an engine rebuilt from its snapshot: another ledger
            j = rng.randrange(3)
            ledgers[j] = pickle.loads(pickle.dumps(ledgers[j]))
        elif r < 0.15:  # the ledgers in another order
            ledgers.reverse()
            live = {a: (2 - i, s) for a, (i, s) in live.items()}
        if rng.random() < 0.4:
            now += rng.choice([1_000_000, 7 * MINUTE_US, 31 * MINUTE_US, 24 * 60 * MINUTE_US,
                               -7 * MINUTE_US])
        _check(kept, ledgers, now)


def test_an_agent_state_the_schemas_do_not_know_is_counted_in_no_queue_state():
    config = parse_config(CONFIG)
    ledgers = [Ledger(config)]
    kept = AgentGroups()
    for i in range(4):
        ledgers[0].add_one(f"a-{i}", AgentNow("available", ("sales",), T0), 1)
    _check(kept, ledgers, T0 + 10)
    ledgers[0].add_one("b", AgentNow("lunch", ("sales",), T0), 1)
    _check(kept, ledgers, T0 + 20)
