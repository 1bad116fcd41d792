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
    counts, spans, staffed, previous = kept.parts(ledgers, label, now_us)
    f_counts, f_closed, f_spans, f_staffed = kpis._agent_parts(ledgers, label, now_us)
    assert list(counts.items()) == list(f_counts.items())  # the order too: labels by name
    assert staffed == f_staffed
    assert _open_spans(spans) == _open_spans(f_spans)
    with kpis.afresh():  # the kept parts as the scrape assembles them, against the fresh
        assert kpis._agent_parts_kept(ledgers, label, now_us)[1] == f_closed
    for q, fields in previous.items():
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
