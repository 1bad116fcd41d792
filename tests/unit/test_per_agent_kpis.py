"""Per-agent views (``[limits] per_agent``, issue 13): every value on a hand-built day, the
``max_agents`` limit, order, partitions, restarts and pruning.

The day (UTC, per-agent day 2026-11-22, clock 10:00):

* a1: available 08:00 (sales), on_contact 08:10, ACW 08:20, available 08:25, not_ready 09:00,
  available 09:30 (open until now) -> available 10 + 35 + 30 min, on contact 10, ACW 5,
  not ready 30; occupancy 900 / 5400 s.
* a2: available 08:30 (sales, support: counted once), on_contact 08:40, offline 09:10 ->
  available 10 min, on contact 30; occupancy 1800 / 2400 s.
* a4: available since yesterday 23:00, not_ready 01:00, offline 02:00 -> today available
  00:00–01:00 (the day's start), not ready 60 min.
* c1 (sales): answered 08:10, wrap-up 08:25 by a1, resolved -> a1 handled 1, 900 s, FCR 1.
* c2 (support): answered 08:40, wrap-up 09:05 by a2, not resolved -> 1500 s.
* c3 (sales): answered 08:41 by a1, transferred to a2, wrap-up 08:55 by a2, resolved -> a2
  (whoever wraps up last is credited), 840 s, not FCR (transferred).
* c0: wrapped up by a3 yesterday 23:50 -> not in today.
"""

from __future__ import annotations

import functools
import random

import orjson
import pytest
from kpi_helpers import Centre, us

from streams.core.config import Config, parse_config
from streams.core.contributions import AgentBooking, AgentSpan
from streams.core.engine import Engine, MemoryStore
from streams.core.events import Event
from streams.core.kpis import all_families
from streams.core.timestamps import DAY_US
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.validation import decode
from streams.worker.checkpoint import encode_record

NOW = "2026-11-22T10:00:00Z"
PER_AGENT = {"limits": {"per_agent": True}}


def day(c: Centre) -> None:
    def agent(agent_id: str, changes: list[tuple[str, str, list[str] | None]]) -> None:
        for at, state, queues in changes:
            body = {"agent_id": agent_id, "state": state}
            if queues is not None:
                body["queues"] = queues
            c.event("agent.state_changed", at, **body)

    t = "2026-11-22T{}Z".format
    agent("a1", [(t("08:00:00"), "available", ["sales"]), (t("08:10:00"), "on_contact", None),
                 (t("08:20:00"), "after_contact_work", None), (t("08:25:00"), "available", None),
                 (t("09:00:00"), "not_ready", None), (t("09:30:00"), "available", None)])
    agent("a2", [(t("08:30:00"), "available", ["sales", "support"]),
                 (t("08:40:00"), "on_contact", None), (t("09:10:00"), "offline", None)])
    agent("a4", [("2026-11-21T23:00:00Z", "available", ["sales"]),
                 (t("01:00:00"), "not_ready", None), (t("02:00:00"), "offline", None)])

    def contact(call_id: str, queue: str, queued: str, answered: str, by: str, ended: str,
                wrapup: str, wrapped_by: str, resolved: bool, transfer_at: str | None = None):
        c.event("call.queued", queued, call_id=call_id, queue=queue)
        c.event("call.answered", answered, call_id=call_id, queue=queue, agent_id=by)
        if transfer_at:
            c.event("call.transferred", transfer_at, call_id=call_id, agent_id=by,
                    to_agent=wrapped_by)
        c.event("call.ended", ended, call_id=call_id, agent_id=wrapped_by)
        c.event("call.wrapup_ended", wrapup, call_id=call_id, agent_id=wrapped_by,
                resolved=resolved)

    contact("c1", "sales", t("08:09:50"), t("08:10:00"), "a1", t("08:20:00"), t("08:25:00"),
            "a1", True)
    contact("c2", "support", t("08:39:00"), t("08:40:00"), "a2", t("09:00:00"), t("09:05:00"),
            "a2", False)
    contact("c3", "sales", t("08:40:30"), t("08:41:00"), "a1", t("08:50:00"), t("08:55:00"),
            "a2", True, transfer_at=t("08:45:00"))
    contact("c0", "sales", "2026-11-21T23:30:00Z", "2026-11-21T23:31:00Z", "a3",
            "2026-11-21T23:45:00Z", "2026-11-21T23:50:00Z", "a3", True)


def per_agent(values: dict, name: str) -> dict[tuple[str, ...], float]:
    """``name``'s samples keyed by their label values other than ``window`` (all "today")."""
    out = {}
    for (n, labels), v in values.items():
        if n == name:
            lbl = dict(labels)
            assert lbl.pop("window") == "today"
            out[tuple(lbl.values())] = v
    return out


@pytest.fixture
def values() -> dict:
    c = Centre(**PER_AGENT)
    day(c)
    c.feed()
    return c.values(NOW)


class TestEveryValueOfTheHandBuiltDay:
    def test_handled_contacts_are_credited_to_the_agent_of_the_last_wrapup(self, values):
        assert per_agent(values, "cc_window_per_agent_contacts_handled") == {
            ("a1",): 1, ("a2",): 2, ("a4",): 0}

    def test_handle_seconds_and_aht_are_the_contacts_handle_times(self, values):
        assert per_agent(values, "cc_window_per_agent_handle_seconds") == {
            ("a1",): 900.0, ("a2",): 1500.0 + 840.0, ("a4",): 0.0}
        assert per_agent(values, "cc_per_agent_average_handle_time_seconds") == {
            ("a1",): 900.0, ("a2",): 1170.0}  # a4 handled nothing: no average

    def test_fcr_counts_resolved_untransferred_wrapups(self, values):
        assert per_agent(values, "cc_window_per_agent_contacts_resolved_first_contact") == {
            ("a1",): 1, ("a2",): 0, ("a4",): 0}
        assert per_agent(values, "cc_per_agent_first_contact_resolution_ratio") == {
            ("a1",): 1.0, ("a2",): 0.0}

    def test_state_seconds_cover_every_state_but_offline_from_the_days_start_to_now(
            self, values):
        assert per_agent(values, "cc_window_per_agent_state_seconds") == {
            ("a1", "available"): 4500.0, ("a1", "on_contact"): 600.0,
            ("a1", "after_contact_work"): 300.0, ("a1", "not_ready"): 1800.0,
            ("a2", "available"): 600.0, ("a2", "on_contact"): 1800.0,
            ("a2", "after_contact_work"): 0.0, ("a2", "not_ready"): 0.0,
            ("a4", "available"): 3600.0, ("a4", "on_contact"): 0.0,
            ("a4", "after_contact_work"): 0.0, ("a4", "not_ready"): 3600.0,
        }

    def test_occupancy_and_its_parts_count_an_agent_once_whatever_its_queues(self, values):
        assert per_agent(values, "cc_window_per_agent_busy_seconds") == {
            ("a1",): 900.0, ("a2",): 1800.0, ("a4",): 0.0}
        assert per_agent(values, "cc_window_per_agent_staffed_seconds") == {
            ("a1",): 5400.0, ("a2",): 2400.0, ("a4",): 3600.0}
        assert per_agent(values, "cc_per_agent_occupancy_ratio") == {
            ("a1",): 900 / 5400, ("a2",): 0.75, ("a4",): 0.0}

    def test_the_agents_handled_and_handle_seconds_add_up_to_the_queues(self, values):
        queues = {name: sum(v for (n, lbl), v in values.items()
                            if n == name and dict(lbl)["window"] == "today")
                  for name in ("cc_window_contacts_handled",
                               "cc_window_contact_handle_seconds_sum")}
        assert queues["cc_window_contacts_handled"] == sum(
            per_agent(values, "cc_window_per_agent_contacts_handled").values()) == 3
        assert queues["cc_window_contact_handle_seconds_sum"] == sum(
            per_agent(values, "cc_window_per_agent_handle_seconds").values()) == 3240.0

    def test_the_open_state_grows_with_the_clock(self):
        c = Centre(**PER_AGENT)
        day(c)
        c.feed()
        later = c.values("2026-11-22T10:10:00Z")
        assert per_agent(later, "cc_window_per_agent_state_seconds")[("a1", "available")] == (
            4500.0 + 600.0)

    def test_the_next_day_starts_from_the_open_states_only(self):
        c = Centre(**PER_AGENT)
        day(c)
        c.feed()
        tomorrow = c.values("2026-11-23T01:00:00Z")
        assert per_agent(tomorrow, "cc_window_per_agent_state_seconds") == {
            ("a1", "available"): 3600.0, ("a1", "on_contact"): 0.0,
            ("a1", "after_contact_work"): 0.0, ("a1", "not_ready"): 0.0}
        assert per_agent(tomorrow, "cc_window_per_agent_contacts_handled") == {("a1",): 0}


class TestOffByDefault:
    def test_no_agent_label_and_no_per_agent_family_by_default(self):
        c = Centre()
        day(c)
        c.feed()
        values = c.values(NOW)
        assert not Config().limits.per_agent
        assert [key for key in values if "per_agent" in key[0]] == []
        assert [key for key in values if any(k == "agent" for k, _ in key[1])] == []
        assert c.engine.ledger.per_agent is None

    def test_no_per_agent_contribution_is_made_by_default(self):
        c = Centre()
        day(c)
        c.feed()
        made = [x for contributions in c.engine._contributions.values() for x in contributions
                if isinstance(x, AgentBooking | AgentSpan)]
        assert made == []

    @pytest.mark.parametrize(("raw", "message"), [
        ({"per_agent": "yes"}, "limits.per_agent must be true or false"),
        ({"max_agents": 0}, "limits.max_agents must be at least 1"),
        ({"max_agents": 2.5}, "limits.max_agents must be a whole number"),
    ], ids=["per-agent-not-bool", "max-agents-zero", "max-agents-fraction"])
    def test_invalid_settings_are_one_line_errors_naming_the_key(self, raw, message):
        with pytest.raises(Exception, match=message):
            parse_config({"limits": raw})


# ------------------------------------------------------------------ the max_agents limit

def crowd(c: Centre, n: int) -> None:
    """``n`` agents, agent ``g<i>`` logging in at 08:00 + i minutes and handling one contact
    of 60 s (wrapped up at 09:00 + i minutes)."""
    for i in range(n):
        agent = f"g{i:02d}"
        c.event("agent.state_changed", f"2026-11-22T08:{i:02d}:00Z", agent_id=agent,
                state="available", queues=["sales"])
        call = f"k{i:02d}"
        c.event("call.queued", f"2026-11-22T08:{59 - i:02d}:00Z", call_id=call, queue="sales")
        c.event("call.answered", f"2026-11-22T09:{i:02d}:00Z", call_id=call, queue="sales",
                agent_id=agent)
        c.event("call.wrapup_ended", f"2026-11-22T09:{i:02d}:30Z", call_id=call,
                agent_id=agent, resolved=True)


class TestMaxAgents:
    def test_past_the_limit_the_latest_first_seen_agents_are_summed_under_other(self):
        c = Centre(limits={"per_agent": True, "max_agents": 3})
        crowd(c, 10)
        c.feed()
        values = c.values(NOW)
        handled = per_agent(values, "cc_window_per_agent_contacts_handled")
        assert handled == {("g00",): 1, ("g01",): 1, ("g02",): 1, ("other",): 7}
        states = per_agent(values, "cc_window_per_agent_state_seconds")
        assert {agent for agent, _ in states} == {"g00", "g01", "g02", "other"}
        # the other agents' available time: (120 - 3) + ... + (120 - 9) minutes
        assert states[("other", "available")] == sum((120 - i) * 60 for i in range(3, 10))
        assert per_agent(values, "cc_window_per_agent_handle_seconds")[("other",)] == 7 * 30.0

    def test_the_labels_do_not_depend_on_arrival_order(self):
        ordered = Centre(limits={"per_agent": True, "max_agents": 3})
        crowd(ordered, 10)
        ordered.feed()
        shuffled = Centre(limits={"per_agent": True, "max_agents": 3})
        shuffled.events = list(ordered.events)
        random.Random(5).shuffle(shuffled.events)
        shuffled.feed()
        assert shuffled.values(NOW) == ordered.values(NOW)

    def test_ties_are_broken_by_agent_id(self):
        c = Centre(limits={"per_agent": True, "max_agents": 1})
        for agent in ("b", "a"):
            c.event("agent.state_changed", "2026-11-22T08:00:00Z", agent_id=agent,
                    state="available", queues=["sales"])
        c.feed()
        assert set(per_agent(c.values(NOW), "cc_window_per_agent_busy_seconds")) == {
            ("a",), ("other",)}


# ------------------------------------------------------------------ partitions, restarts

def split_by_family(events: list[Event]) -> tuple[list[Event], list[Event]]:
    """Agent events for one engine, contacts for another (as Kafka partitions them)."""
    return ([e for e in events if e.type.startswith("agent.")],
            [e for e in events if not e.type.startswith("agent.")])


def exported(config: Config, ledgers: list, now: str) -> dict:
    return {(f.name, labels): v for f in all_families(config, ledgers, us(now))
            for labels, v in f.samples.items()}


class TestPartitionsAndRestarts:
    def test_two_ledgers_merged_equal_one(self):
        c = Centre(**PER_AGENT)
        day(c)
        c.feed()
        agents, contacts = (Engine(c.config), Engine(c.config))
        part_a, part_b = split_by_family(c.events)
        for e in part_a:
            agents.apply(e)
        for e in part_b:
            contacts.apply(e)
        assert exported(c.config, [agents.ledger, contacts.ledger], NOW) == exported(
            c.config, [c.engine.ledger], NOW)

    def test_the_parts_of_two_workers_sum_to_the_fleets(self):
        c = Centre(**PER_AGENT)
        day(c)
        c.feed()
        part_a, part_b = split_by_family(c.events)
        workers = []
        for part in (part_a, part_b):
            engine = Engine(c.config)
            for e in part:
                engine.apply(e)
            workers.append(exported(c.config, [engine.ledger], NOW))
        whole = exported(c.config, [c.engine.ledger], NOW)
        for name in ("cc_window_per_agent_contacts_handled", "cc_window_per_agent_handle_seconds",
                     "cc_window_per_agent_busy_seconds", "cc_window_per_agent_staffed_seconds",
                     "cc_window_per_agent_state_seconds"):
            keys = {k for k in whole if k[0] == name}
            assert keys
            for key in keys:
                assert sum(w.get(key, 0) for w in workers) == whole[key], key

    def test_a_restart_from_the_persisted_records_gives_the_same_values(self):
        config = parse_config(PER_AGENT)
        c = Centre(config)
        day(c)
        store = MemoryStore()
        first = Engine(config, store)
        for e in c.events:
            first.apply(e)
        persisted = [(key, orjson.loads(encode_record(rec))) for key, rec in store.data.items()]
        second = Engine(config)
        second.rebuild(persisted)
        assert exported(config, [second.ledger], NOW) == exported(config, [first.ledger], NOW)
        assert exported(config, [second.ledger], NOW)[
            ("cc_window_per_agent_contacts_handled", ("a2", "today"))] == 2

    def test_old_days_are_pruned_with_the_other_windows(self):
        c = Centre(**PER_AGENT)
        day(c)
        c.feed()
        days = c.engine.ledger.per_agent.days
        assert len(days) == 2  # yesterday and today
        c.event("agent.state_changed", "2026-11-26T10:00:00Z", agent_id="a1", state="offline")
        c.feed(c.events[-1:])
        c.engine.prune()
        assert min(days) >= us("2026-11-26T10:00:00Z") - 3 * DAY_US


# ------------------------------------------------------------------ a simulated centre

SIM_START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z


@functools.cache
def simulated() -> tuple[Event, ...]:
    """40 minutes of the simulated centre, then 40 more three days later (retention acts:
    contacts retire, the agents' histories are trimmed)."""
    out = []
    for start in (SIM_START_MS, SIM_START_MS + 72 * 3_600_000):
        for raw in generate(contact_centre(), seed=9, start_ms=start, duration_ms=40 * 60_000):
            event = decode(orjson.dumps(raw))
            assert isinstance(event, Event)
            out.append(event)
    return tuple(out)


SIM_CONFIG = parse_config({"limits": {"per_agent": True, "max_agents": 8}})


def sim_run(events, *, prune_every: int = 0) -> Engine:
    engine = Engine(SIM_CONFIG)
    for n, event in enumerate(events):
        engine.apply(event)
        if prune_every and n % prune_every == 0:
            engine.prune()
    return engine


def sim_now(events) -> int:
    return max(e.occurred_us for e in events) + 60_000_000


def sim_exported(engine: Engine, now_us: int) -> dict:
    return {(f.name, labels): v for f in all_families(SIM_CONFIG, [engine.ledger], now_us)
            for labels, v in f.samples.items() if "per_agent" in f.name}


class TestSimulatedCentre:
    def test_shuffled_within_ten_minutes_pruned_or_not_gives_the_same_per_agent_values(self):
        events = simulated()
        rng = random.Random(3)
        shuffled = sorted(events, key=lambda e: e.occurred_us + rng.randrange(600_000_000))
        now = sim_now(events)
        expected = sim_exported(sim_run(events), now)
        assert len({labels[0] for _, labels in expected}) == 8 + 1  # max_agents, then other
        assert sim_exported(sim_run(shuffled), now) == expected
        assert sim_exported(sim_run(events, prune_every=50), now) == expected

    def test_rebuilt_from_the_records_after_retention_gives_the_same_per_agent_values(self):
        events = simulated()
        cut = len(events) * 3 // 4  # in the second stretch: records trimmed and retired
        store = MemoryStore()
        first = Engine(SIM_CONFIG, store)
        for event in events[:cut]:
            first.apply(event)
        first.prune()
        persisted = [(key, orjson.loads(encode_record(rec))) for key, rec in store.data.items()]
        second = Engine(SIM_CONFIG)
        second.rebuild(persisted)
        for event in events[cut:]:
            first.apply(event)
            second.apply(event)
        now = sim_now(events)
        assert sim_exported(second, now) == sim_exported(first, now) != {}

    def test_per_agent_contributions_never_equal_one_of_another_type(self):
        # The engine diffs an entity's contributions of every type in one multiset.
        engine = sim_run(simulated())
        by_type: dict[type, set] = {}
        for contributions in engine._contributions.values():
            for c in contributions:
                by_type.setdefault(type(c), set()).add(c)
        mine = by_type.get(AgentBooking, set()) | by_type.get(AgentSpan, set())
        assert by_type.get(AgentBooking) and by_type.get(AgentSpan)
        others = set().union(*(v for t, v in by_type.items() if t not in (AgentBooking, AgentSpan)))
        assert not {tuple(c) for c in mine} & {tuple(c) for c in others}
