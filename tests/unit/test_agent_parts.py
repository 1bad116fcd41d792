"""The agent families group the agents of every ledger in the same state serving the same
queues (``streams.core.kpis._agent_parts``) and count the staffed agents beside the others:
what they export equals a computation agent by agent — each open span clipped to each
window, the closed spans of the window sums — whichever partitions hold the agents and
wherever the clock is (before some agents' spans start, past an interval's end)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.partitioner import murmur2

from streams.core import kpis, staffing
from streams.core.config import parse_config
from streams.core.contributions import AGENT_STATES, OCCUPANCY_STATES, AgentNow
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.core.pipeline import PipelineStats
from streams.core.timestamps import parse_us
from streams.ingest import ingest
from streams.publish import route_event
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre

START_US = parse_us("2026-11-30T21:40:00Z")
CONFIG = {"defaults": {"interval_minutes": 60},
          "queues": {"billing": {"timezone": "America/New_York", "interval_minutes": 30,
                                 "day_start": "06:00"}}}
MINUTE_US = 60_000_000


def engines(partitions: int) -> list[Engine]:
    """The contact centre's first 40 minutes over ``partitions`` engines per topic."""
    config = parse_config(CONFIG)
    by_tp: dict[tuple[str, int], Engine] = {}
    stats = PipelineStats()
    for event in generate(contact_centre(), seed=11, start_ms=START_US // 1000,
                          duration_ms=40 * 60_000):
        route = route_event(event)
        p = (murmur2(route.key) & 0x7FFFFFFF) % partitions if route.key else 0
        engine = by_tp.setdefault((route.topic, p), Engine(config))
        ingest(route.value, engine, stats, topic=route.topic,
               now_us=parse_us(event["occurred_at"]))
    return [by_tp[tp] for tp in sorted(by_tp)]


def agent_by_agent(ledgers: list[Any], now_us: int) -> tuple[dict[Any, int], dict[Any, Any]]:
    """(counts per (queue, state), µs per (queue, window) and state field): the closed spans
    of the window sums and each agent's open span clipped to each window, one by one."""
    config = ledgers[0].config
    label = kpis.queue_labels(config, ledgers)
    counts: dict[Any, int] = {}
    time_in: dict[Any, dict[str, int]] = {}
    for (q, channel, window), f in kpis._fresh_window_sums(ledgers, label, now_us).items():
        if channel == "":
            time_in[(q, window)] = dict(f)
    for ledger in ledgers:
        for state, queues, since in ledger.agents.values():
            for queue in queues:
                q = label(queue)
                for s in AGENT_STATES:
                    counts.setdefault((q, s), 0)
                counts[(q, state)] += 1
                if state not in OCCUPANCY_STATES:
                    continue
                cal = ledger.calendar(queue)
                current, previous, day = cal.windows(now_us)
                for window, lo, hi in (("interval", current, current + cal.interval_us),
                                       ("previous_interval", previous, current),
                                       ("today", day, None)):
                    end = now_us if hi is None else min(now_us, hi)
                    span = max(0, end - max(since, lo))
                    if span:
                        f = time_in.setdefault((q, window), {})
                        f["t_" + state] = f.get("t_" + state, 0) + span
    return counts, time_in


@pytest.mark.parametrize("partitions", [1, 3], ids=["one-ledger", "three-ledgers-a-topic"])
@pytest.mark.parametrize("clock_min", [0, -1, -3, -7, -12, 25, 60], ids=[
    "at-the-stream-time", "1-min-before-it", "3-min-before-it", "7-min-before-it",
    "12-min-before-it", "in-the-next-interval", "an-hour-on"])
def test_agent_families_equal_a_computation_agent_by_agent(partitions, clock_min):
    found = engines(partitions)
    ledgers = [e.ledger for e in found]
    now_us = max(e.stream_us for e in found) + clock_min * MINUTE_US
    assert_agent_families(ledgers, now_us)


def assert_agent_families(ledgers: list[Any], now_us: int) -> None:
    counts, time_in = agent_by_agent(ledgers, now_us)
    with kpis.afresh():
        fams = {f.name: f.samples for f in all_families(ledgers[0].config, ledgers, now_us)}
    assert fams["cc_agents"] == counts
    busy, staffed = {}, {}
    for key, f in time_in.items():
        b = (f.get("t_on_contact", 0) + f.get("t_after_contact_work", 0)) / 1_000_000
        s = b + f.get("t_available", 0) / 1_000_000
        if s:
            busy[key], staffed[key] = b, s
    assert fams["cc_window_agent_busy_seconds"] == busy
    assert fams["cc_window_agent_staffed_seconds"] == staffed


@pytest.mark.parametrize("partitions", [1, 3], ids=["one-ledger", "three-ledgers-a-topic"])
def test_the_staffed_agents_counted_beside_the_others_are_the_erlang_inputs(partitions):
    ledgers = [e.ledger for e in engines(partitions)]
    config = ledgers[0].config
    label = kpis.queue_labels(config, ledgers)
    now_us = START_US + 40 * MINUTE_US
    assert kpis._agent_parts(ledgers, label, now_us)[3] == staffing._staffed(ledgers, label)
    assert staffing._staffed(ledgers, label)  # agents are staffed in the scenario


def test_groups_of_one_queue_whose_spans_start_after_the_clock_are_not_counted_before():
    """Agents in the same state serving one queue among different sets of queues, over two
    ledgers, one of them in that state only from after the clock (a live clock behind the
    stream): its open span counts nothing yet, whichever group comes first."""
    config = parse_config(CONFIG)
    now_us = START_US + 30 * MINUTE_US
    first, second = Engine(config).ledger, Engine(config).ledger
    first.add("agent-a", [AgentNow("available", ("support",), now_us - 10 * MINUTE_US)])
    second.add("agent-b", [AgentNow("available", ("support", "sales"), now_us + MINUTE_US)])
    second.add("agent-c", [AgentNow("on_contact", ("support",), now_us - MINUTE_US)])
    for ledger in (first, second):
        ledger.saw_queues(("support", "sales"), now_us - 20 * MINUTE_US)
    for ledgers in ([first, second], [second, first]):
        assert_agent_families(ledgers, now_us)
        with kpis.afresh():
            fams = {f.name: f.samples for f in all_families(config, ledgers, now_us)}
        assert fams["cc_window_agent_staffed_seconds"][("support", "interval")] == 11 * 60.0
        assert ("sales", "interval") not in fams["cc_window_agent_staffed_seconds"]


def test_the_agent_counts_come_in_an_order_the_agents_changes_do_not_move():
    """Queues in name order, states in AGENT_STATES' order, whichever agents changed last (a
    change moves an agent to the end of its ledger's agents): the exposition keeps the lines
    of a family whose keys come in the order they came last time."""
    ledgers = [e.ledger for e in engines(1)]
    config = ledgers[0].config
    label = kpis.queue_labels(config, ledgers)
    now_us = START_US + 40 * MINUTE_US
    before = list(kpis._agent_parts(ledgers, label, now_us)[0])
    ledger = ledgers[0]
    moved = next(iter(ledger.agents))  # the agent first in its ledger, moved to the end
    agent = ledger.agents[moved]
    ledger.retract(moved, [agent])
    ledger.add(moved, [agent._replace(since_us=agent.since_us + 1)])
    assert next(reversed(ledger.agents)) == moved
    after = list(kpis._agent_parts(ledgers, label, now_us)[0])
    queues = sorted({q for q, _ in before})
    assert before == after == [(q, s) for q in queues for s in AGENT_STATES]
