"""``Engine.prune`` visits only the entities that may be due (by the prune step their
retention ends in, plus every entity of a kind without ``expires_us``), yet leaves none past
its retention, drops none inside it, and equals pruning never (the replay) in every KPI."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core import engine as engine_module
from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.entities.kinds import KIND_BY_NAME
from streams.core.events import Event
from streams.core.kpis import all_families
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.validation import decode

HOUR_MS = 3_600_000
START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z


def traffic() -> list[Event]:
    """30 minutes of a centre at three starts, a day apart: retention acts between them."""
    out = []
    for start in (START_MS, START_MS + 30 * HOUR_MS, START_MS + 60 * HOUR_MS):
        for raw in generate(contact_centre(), seed=3, start_ms=start, duration_ms=30 * 60_000):
            event = decode(orjson.dumps(raw))
            assert isinstance(event, Event)
            out.append(event)
    return out


TRAFFIC = traffic()


# ---------------------------------------------------------------- predicates

def no_kept_entity_is_expired(engine: Engine) -> bool:
    return not any(KIND_BY_NAME[r["kind"]].expired(r, engine.stream_us)
                   for r in engine.kept_records().values())


def every_entity_is_filed_once(engine: Engine) -> bool:
    """Each kept entity (frozen ones too) is where prune looks for it: in its due step, or
    undated."""
    filed = list(engine._due_step) + list(engine._undated)
    listed = all(key in engine._due_keys[step] for key, step in engine._due_step.items())
    return listed and sorted(filed) == sorted(engine.kept_records())


def exported(engine: Engine, now_us: int) -> dict:
    return {(f.name, labels): v for f in all_families(engine.config, [engine.ledger], now_us)
            for labels, v in f.samples.items()}


#: How often (in events) the prune test checks every entity is filed where prune looks.
FILING_CHECK_EVERY = 50


class TestPrune:
    @settings(max_examples=6, deadline=None)
    @given(st.lists(st.integers(0, len(TRAFFIC) - 1), min_size=1, max_size=6))
    def test_a_prune_at_any_point_keeps_exactly_the_entities_inside_retention(self, cuts):
        pruned, replay = Engine(parse_config({})), Engine(parse_config({}))
        for index, event in enumerate(TRAFFIC):
            pruned.apply(event)
            replay.apply(event)
            if index in cuts:
                expected = sum(not KIND_BY_NAME[r["kind"]].expired(r, pruned.stream_us)
                               for r in pruned.kept_records().values())
                pruned.prune()
                assert pruned.entity_count == expected
                assert no_kept_entity_is_expired(pruned)
            # filing is checked after every prune, the event after it, and every 50th event
            # (after every event it cost 80 s of the unit suite)
            if index in cuts or index - 1 in cuts or index % FILING_CHECK_EVERY == 0:
                assert every_entity_is_filed_once(pruned)
        assert every_entity_is_filed_once(pruned)
        now_us = pruned.stream_us + 60_000_000
        assert exported(pruned, now_us) == exported(replay, now_us)


def kept_contributions_equal_a_recompute(engine: Engine) -> bool:
    return all(Counter(engine.contributions_of(key))
               == Counter(KIND_BY_NAME[r["kind"]].contributions(r, engine.config))
               for key, r in engine.kept_records().items())


AGENT_STATES = ("available", "on_contact", "after_contact_work", "not_ready", "offline")
AGENT_QUEUES = (None, [], ["sales"], ["sales", "support"])


def agent_change(n: int, minute: int, state: str, queues: list[str] | None) -> Event:
    """Agent a1's ``n``-th state change, ``minute`` minutes after START_MS."""
    at = datetime.fromtimestamp(START_MS / 1000 + minute * 60, UTC)
    raw = {"event_id": f"agent-change-{n}", "type": "agent.state_changed",
           "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "source": "test",
           "agent_id": "a1", "state": state}
    if queues is not None:
        raw["queues"] = queues
    event = decode(orjson.dumps(raw))
    assert isinstance(event, Event), event
    return event


class TestAgentTrim:
    def test_a_trimmed_agent_keeps_what_a_recompute_of_its_trimmed_timeline_gives(self):
        engine = Engine(parse_config({}))
        trims = 0
        for event in TRAFFIC:
            engine.apply(event)
            if engine.stream_us - engine._last_prune_us >= 3_600_000_000:
                before = sum(len(r["tl"]) for r in engine._records.values() if "tl" in r)
                engine.prune()
                trims += before - sum(len(r["tl"]) for r in engine._records.values()
                                      if "tl" in r)
                assert kept_contributions_equal_a_recompute(engine)
        assert trims > 0  # the traffic really trimmed agents' history

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 5 * 24 * 60), st.sampled_from(AGENT_STATES),
                              st.sampled_from(AGENT_QUEUES)), min_size=2, max_size=60),
           st.randoms(use_true_random=False))
    def test_a_trim_drops_exactly_the_old_spans_whatever_order_the_changes_came_in(
            self, changes, rng):
        # Late changes (inserted inside the timeline) and changes at the same instant take the
        # full recompute; in order ones the fast path: either way the spans a trim drops are
        # the first of the agent's list, and only they are taken out.
        engine = Engine(parse_config({"limits": {"per_agent": True}}))
        order = list(enumerate(changes))
        rng.shuffle(order)
        order.sort(key=lambda item: item[1][0] // (12 * 60))  # late by up to 12 h
        for n, (minute, state, queues) in order:
            engine.apply(agent_change(n, minute, state, queues))
            if engine.stream_us - engine._last_prune_us >= 3_600_000_000:
                engine.prune()
                assert kept_contributions_equal_a_recompute(engine)
        engine.prune()
        assert kept_contributions_equal_a_recompute(engine)


class TestPruneIndex:
    def test_an_entity_filed_again_and_again_leaves_a_bounded_index(self, monkeypatch):
        # A ticket solved is filed by the end of its retention, reopened it is undated: each
        # solve files it in a later step, each reopen leaves that entry behind.
        monkeypatch.setattr(engine_module, "STALE_SLACK", 16)
        engine = Engine(parse_config({}))

        def event(n: int, minute: int, **fields: str) -> Event:
            at = datetime.fromtimestamp(START_MS / 1000 + minute * 60, UTC)
            decoded = decode(orjson.dumps({
                "event_id": f"t-{n}", "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "source": "test", "ticket_id": "t1", **fields}))
            assert isinstance(decoded, Event)
            return decoded
        engine.apply(event(0, 0, type="ticket.created", queue="support", channel="email"))
        for n in range(1, 301):
            status = "solved" if n % 2 else "open"
            engine.apply(event(n, n * 61, type="ticket.status_changed", status=status))
            if n % 10 == 0:
                entries = sum(len(keys) for keys in engine._due_keys.values())
                assert engine._stale == entries - len(engine._due_step)
                assert entries <= len(engine._due_step) + 16 + 1
                assert every_entity_is_filed_once(engine)
        engine.prune()  # sweeps the steps it passes
        assert every_entity_is_filed_once(engine)
        assert engine._stale == sum(len(k) for k in engine._due_keys.values()) - len(
            engine._due_step)
