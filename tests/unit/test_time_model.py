"""Every number a function of the events alone: the examples of the time-model issue, each
with its hand-computed value (exact microseconds, stream-time retention, the replay at
``--as-of``, scrapes that never write, same-instant events, AHT across transfers, labels)."""

from __future__ import annotations

import copy
import io
import itertools
from typing import ClassVar

import orjson
import pytest
from kpi_helpers import Centre, call, us

from streams.core.config import parse_config
from streams.core.engine import BASE_KEY, Engine, MemoryStore, Outcome
from streams.core.entities.contact import segments
from streams.core.kpis import contact_families
from streams.replay import replay_streams


def values(engine: Engine, now: str) -> dict:
    return {(f.name, labels): v for f in contact_families(engine.config, [engine.ledger], us(now))
            for labels, v in f.samples.items()}


def jsonl(*events: dict) -> io.BytesIO:
    return io.BytesIO(b"\n".join(orjson.dumps(e) for e in events) + b"\n")


_ids = itertools.count(1)


def ev(type_: str, at: str, **body: object) -> dict:
    return {"event_id": f"x{next(_ids)}", "type": type_, "occurred_at": at, **body}


class TestMicroseconds:
    def test_a_wait_of_20_0004_s_is_over_a_20_s_threshold(self):
        c = Centre()
        c.event("call.queued", "2026-11-22T10:00:00.000000Z", call_id="c1", queue="q")
        c.event("call.answered", "2026-11-22T10:00:20.000400Z", call_id="c1", queue="q",
                agent_id="a1")
        c.feed()
        now = "2026-11-22T10:05:00Z"
        labels = {"queue": "q", "channel": "voice", "window": "interval"}
        assert c.value(now, "cc_window_contacts_answered_within_threshold", **labels) == 0
        assert c.value(now, "cc_service_level_ratio", **labels) == 0.0
        assert c.value(now, "cc_window_contact_wait_seconds_sum", **labels) == 20.0004
        assert c.value(now, "cc_average_speed_of_answer_seconds", **labels) == 20.0004
        bounds, counts, total = c.value(now, "cc_contact_wait_seconds", queue="q",
                                        channel="voice", outcome="answered")
        assert total == 20.0004
        assert counts[bounds.index(20.0)] == 0  # not in the le="20.0" bucket

    def test_exactly_20_s_is_within(self):
        c = Centre()
        call(c, "c1", "q", "2026-11-22T10:00:00.000001Z", "answered",
             "2026-11-22T10:00:20.000001Z")
        c.feed()
        assert c.value("2026-11-22T10:05:00Z", "cc_service_level_ratio", queue="q",
                       channel="voice", window="interval") == 1.0


MONDAY_CHAT = [
    ev("chat.message", "2026-11-23T09:00:00Z", chat_id="h1", sender="customer"),
    ev("chat.message", "2026-11-23T09:05:00Z", chat_id="h1", sender="bot"),
]
FRIDAY_CHAT = [
    ev("chat.message", "2026-11-27T14:00:00Z", chat_id="h1", sender="customer"),
    ev("chat.queued", "2026-11-27T14:00:00Z", chat_id="h1", queue="support"),
    ev("chat.answered", "2026-11-27T14:08:00Z", chat_id="h1", queue="support", agent_id="a1"),
    ev("chat.message", "2026-11-27T14:10:00Z", chat_id="h1", sender="agent"),
]
FRIDAY_NOW = "2026-11-27T14:12:00Z"


def other_traffic_between() -> list[dict]:
    """Calls every 6 hours from Monday to Friday: a worker that ran live saw time pass."""
    out = []
    for i in range(1, 17):
        day = 23 + i // 4
        at = f"2026-11-{day:02d}T{(i % 4) * 6:02d}:30:00Z"
        out.append(ev("call.queued", at, call_id=f"t{i}", queue="sales"))
    return out


class TestStreamTimeRetention:
    def chat_response(self, engine: Engine, window: str = "today") -> float | None:
        return values(engine, FRIDAY_NOW).get(
            ("cc_chat_response_average_seconds", ("support", window)))

    @pytest.mark.parametrize("history", ["live", "catch-up"])
    def test_a_chat_idle_since_monday_starts_afresh_on_friday(self, history: str):
        lines = [*MONDAY_CHAT, *(other_traffic_between() if history == "live" else []),
                 *FRIDAY_CHAT]
        replayed = replay_streams([("f", jsonl(*lines))], parse_config({}), us(FRIDAY_NOW))
        assert self.chat_response(replayed.engine) == 600.0
        assert self.chat_response(replayed.engine, "interval") == 600.0

    def test_monday_s_lines_arriving_after_friday_s_are_late_and_change_nothing(self):
        lines = [*FRIDAY_CHAT, *MONDAY_CHAT]
        replayed = replay_streams([("f", jsonl(*lines))], parse_config({}), us(FRIDAY_NOW))
        assert self.chat_response(replayed.engine) == 600.0
        assert replayed.stats.late == {"cc.chats": 2}

    def test_a_worker_that_prunes_as_it_goes_agrees_with_the_replay(self):
        lines = [*MONDAY_CHAT, *other_traffic_between(), *FRIDAY_CHAT]
        replayed = replay_streams([("f", jsonl(*lines))], parse_config({}), us(FRIDAY_NOW))
        worker = Engine(parse_config({}))
        from streams.validation import decode
        for line in lines:
            worker.apply(decode(orjson.dumps(line)))  # type: ignore[arg-type]
            worker.prune()
        assert values(worker, FRIDAY_NOW) == values(replayed.engine, FRIDAY_NOW)
        assert self.chat_response(worker) == 600.0

    def test_an_event_older_than_its_retention_is_late_and_changes_nothing(self):
        c = Centre()
        call(c, "c1", "q", "2026-11-25T10:00:00Z", "answered", "2026-11-25T10:00:05Z")
        c.feed()
        before = values(c.engine, "2026-11-25T10:10:00Z")
        old = c.event("call.queued", "2026-11-23T09:00:00Z", call_id="old", queue="q")
        assert c.feed([old]) == [Outcome.LATE]
        assert values(c.engine, "2026-11-25T10:10:00Z") == before

    def test_an_agent_state_is_kept_for_ever_and_its_old_history_dropped(self):
        c = Centre()
        c.event("agent.state_changed", "2026-11-20T08:00:00Z", agent_id="a1",
                state="available", queues=["q"])
        c.feed()
        call(c, "c1", "q", "2026-11-27T10:00:00Z")
        c.feed(c.events[-1:])
        assert c.engine.prune() == 0
        assert c.value("2026-11-27T10:01:00Z", "cc_agents", queue="q", state="available") == 1


    def test_an_agent_s_history_older_than_48_h_is_trimmed_keeping_its_queues(self):
        c = Centre()
        c.event("agent.state_changed", "2026-11-20T08:00:00Z", agent_id="a1",
                state="available", queues=["q"])
        c.event("agent.state_changed", "2026-11-20T09:00:00Z", agent_id="a1",
                state="on_contact")
        c.event("agent.state_changed", "2026-11-23T09:00:00Z", agent_id="a1",
                state="available")
        c.feed()
        assert c.engine.prune() == 0
        timeline = c.engine._records["agent:a1"]["tl"]
        assert [(ch.state, ch.queues) for ch in timeline] == [
            ("on_contact", ("q",)), ("available", None)]
        assert c.value("2026-11-23T09:05:00Z", "cc_agents", queue="q", state="available") == 1
        again = c.event("agent.state_changed", "2026-11-20T08:00:00Z", event_id="e-old",
                        agent_id="a1", state="available", queues=["q"])
        assert c.feed([again]) == [Outcome.LATE]


class TestReplayAsOf:
    LINES: ClassVar[list[dict]] = [
        ev("call.queued", "2026-11-22T10:29:00Z", call_id="c1", queue="q"),
        ev("call.answered", "2026-11-22T10:31:00Z", call_id="c1", queue="q", agent_id="a1"),
    ]

    def test_the_state_at_as_of_leaves_out_later_events(self):
        result = replay_streams([("f", jsonl(*self.LINES))], parse_config({}),
                                us("2026-11-22T10:30:00Z"))
        got = values(result.engine, "2026-11-22T10:30:00Z")
        assert got[("cc_queue_contacts_waiting", ("q", "voice"))] == 1
        assert got[("cc_queue_oldest_wait_seconds", ("q", "voice"))] == 60.0
        assert result.after_as_of == 1
        assert result.problems == []  # no problem: the CLI says it once, in its summary

    def test_without_as_of_the_clock_is_the_newest_event(self):
        result = replay_streams([("f", jsonl(*self.LINES))], parse_config({}))
        assert result.now_us == us("2026-11-22T10:31:00Z")
        assert values(result.engine, "2026-11-22T10:31:00Z")[
            ("cc_queue_contacts_waiting", ("q", "voice"))] == 0


class TestScrapesNeverWrite:
    def stale_centre(self) -> Centre:
        c = Centre(defaults={"stale_after_seconds": 3600})
        call(c, "w1", "q", "2026-11-22T07:00:00Z")
        call(c, "w2", "q", "2026-11-22T09:00:00Z")
        c.feed()
        return c

    def test_two_scrapes_at_one_instant_are_equal(self):
        c = self.stale_centre()
        first = values(c.engine, "2026-11-22T09:30:00Z")
        assert values(c.engine, "2026-11-22T09:30:00Z") == first
        assert first[("cc_contacts_stale_total", ("q", "voice"))] == 1
        assert first[("cc_queue_contacts_waiting", ("q", "voice"))] == 1

    def test_a_scrape_at_t_equals_a_replay_at_t_whatever_was_scraped_before(self):
        scraped = self.stale_centre()
        for t in ("2026-11-22T07:30:00Z", "2026-11-22T08:30:00Z", "2026-11-22T09:30:00Z"):
            values(scraped.engine, t)
        fresh = self.stale_centre()
        at = "2026-11-22T10:30:00Z"
        assert values(scraped.engine, at) == values(fresh.engine, at)
        assert values(fresh.engine, at)[("cc_contacts_stale_total", ("q", "voice"))] == 2

    def test_a_stale_contact_dropped_by_retention_stays_counted(self):
        c = self.stale_centre()
        c.feed([c.event("call.queued", "2026-11-25T09:00:00Z", call_id="later", queue="q")])
        assert c.engine.prune() == 2
        got = values(c.engine, "2026-11-25T09:00:00Z")
        assert got[("cc_contacts_stale_total", ("q", "voice"))] == 2
        assert got[("cc_queue_contacts_waiting", ("q", "voice"))] == 1


class TestSameInstant:
    EVENTS: ClassVar[list[tuple[str, str, dict]]] = [
        ("call.queued", "2026-11-22T09:00:00Z", {"queue": "support"}),
        ("call.flowed_out", "2026-11-22T09:03:00Z",
         {"queue": "support", "reason": "timeout", "to_queue": "support"}),
        ("call.queued", "2026-11-22T09:03:00Z", {"queue": "support"}),
        ("call.answered", "2026-11-22T09:03:40Z", {"queue": "support", "agent_id": "a1"}),
    ]

    @pytest.mark.parametrize("order", list(itertools.permutations(range(4))),
                             ids=lambda o: "".join(map(str, o)))
    def test_a_timeout_loop_back_into_the_queue_keeps_the_new_segment_open(self, order):
        c = Centre()
        for i in order:
            type_, at, body = self.EVENTS[i]
            c.event(type_, at, event_id=f"e{i}", call_id="c1", **body)
        c.feed()
        segs = segments(c.engine._records["call:c1"]["ev"])
        assert [(s.outcome.kind, s.outcome.at_us - s.queued_us) for s in segs] == [
            ("flowed_out", 180_000_000), ("answered", 40_000_000)]
        now = "2026-11-22T09:05:00Z"
        assert c.value(now, "cc_contacts_offered_total", queue="support", channel="voice") == 2
        assert c.value(now, "cc_contacts_flowed_out_total", queue="support", channel="voice",
                       reason="timeout") == 1
        assert c.value(now, "cc_queue_contacts_waiting", queue="support", channel="voice") == 0
        assert c.value(now, "cc_average_speed_of_answer_seconds", queue="support",
                       channel="voice", window="interval") == 40.0

    def test_a_customer_message_and_an_agent_reply_at_one_instant_is_a_zero_response(self):
        results = set()
        for first, second in (("customer", "agent"), ("agent", "customer")):
            c = Centre()
            c.event("chat.queued", "2026-11-22T09:00:00Z", chat_id="h", queue="q")
            for sender in (first, second):
                c.event("chat.message", "2026-11-22T09:01:00Z", chat_id="h", sender=sender)
            c.feed()
            results.add(c.value("2026-11-22T09:05:00Z", "cc_chat_response_average_seconds",
                                queue="q", window="interval"))
        assert results == {0.0}


class TestHandleTimeAcrossTransfers:
    def test_the_wait_in_the_second_queue_is_not_handle_time(self):
        c = Centre()
        c.event("call.queued", "2026-11-22T10:00:00Z", call_id="c1", queue="sales")
        c.event("call.answered", "2026-11-22T10:00:10Z", call_id="c1", queue="sales",
                agent_id="a1")
        c.event("call.transferred", "2026-11-22T10:02:10Z", call_id="c1", agent_id="a1",
                to_queue="support")
        c.event("call.queued", "2026-11-22T10:02:10Z", call_id="c1", queue="support")
        c.event("call.answered", "2026-11-22T10:04:10Z", call_id="c1", queue="support",
                agent_id="a2")
        c.event("call.ended", "2026-11-22T10:09:10Z", call_id="c1", agent_id="a2")
        c.event("call.wrapup_ended", "2026-11-22T10:09:40Z", call_id="c1", agent_id="a2")
        c.feed()
        now = "2026-11-22T10:10:00Z"
        assert c.value(now, "cc_contacts_handled_total", queue="support", channel="voice") == 1
        assert c.value(now, "cc_contacts_handled_total", queue="sales", channel="voice") is None
        assert c.value(now, "cc_average_handle_time_seconds", queue="support", channel="voice",
                       window="today") == 450.0  # 120 + 300 + 30, not 570
        assert c.value(now, "cc_average_speed_of_answer_seconds", queue="support",
                       channel="voice", window="today") == 120.0


class TestExpositionDependsOnTheEventsOnly:
    def test_every_arrival_order_of_a_transferred_call_prints_the_same_bytes(self):
        lines = [
            ev("call.queued", "2026-11-22T10:00:00Z", call_id="c1", queue="sales"),
            ev("call.answered", "2026-11-22T10:00:10Z", call_id="c1", queue="sales",
               agent_id="a1"),
            ev("call.transferred", "2026-11-22T10:02:10Z", call_id="c1", agent_id="a1",
               to_queue="support"),
            ev("call.queued", "2026-11-22T10:02:10Z", call_id="c1", queue="support"),
            ev("call.answered", "2026-11-22T10:04:10Z", call_id="c1", queue="support",
               agent_id="a2"),
            ev("call.ended", "2026-11-22T10:09:10Z", call_id="c1", agent_id="a2"),
            ev("call.wrapup_ended", "2026-11-22T10:09:40Z", call_id="c1", agent_id="a2"),
            ev("call.blocked", "2026-11-22T10:03:00Z", call_id="c1", reason="network"),
        ]
        as_of = us("2026-11-22T10:10:00Z")

        def exposition(order) -> bytes:
            result = replay_streams([("f", jsonl(*order))], parse_config({}), as_of)
            return result.exposition()

        reference = exposition(lines)
        orders = list(itertools.permutations(lines))
        for order in orders[:: max(1, len(orders) // 200)]:
            assert exposition(order) == reference


class TestQueueLabels:
    FIRST: ClassVar[dict[str, str]] = {
        "q_late": "2026-11-22T09:05:00Z", "q_early": "2026-11-22T09:00:00Z",
        "q_mid": "2026-11-22T09:02:00Z", "q_tie_b": "2026-11-22T09:03:00Z",
        "q_tie_a": "2026-11-22T09:03:00Z"}

    def offered_by_label(self, order: list[str], restart_after: int | None = None) -> dict:
        config = parse_config({"limits": {"max_queues": 3}})
        store = MemoryStore()
        engine = Engine(config, store)
        c = Centre(config)
        for i, q in enumerate(order):
            call(c, f"c{i}", q, self.FIRST[q], "answered", self.FIRST[q][:-3] + "30Z")
        for n, e in enumerate(c.events):
            if n == restart_after:
                engine = Engine(config, store)
                engine.rebuild(copy.deepcopy(list(store.data.items())))
            engine.apply(e)
        return {labels[0]: v for (name, labels), v in values(engine, "2026-11-22T09:10:00Z").items()
                if name == "cc_contacts_offered_total"}

    @pytest.mark.parametrize("order", [["q_late", "q_tie_b", "q_mid", "q_tie_a", "q_early"],
                                       ["q_early", "q_mid", "q_tie_a", "q_tie_b", "q_late"],
                                       ["q_tie_b", "q_late", "q_early", "q_tie_a", "q_mid"]],
                             ids=["reversed", "in-order", "mixed"])
    def test_admission_is_by_first_event_time_then_name_in_any_arrival_order(self, order):
        assert self.offered_by_label(order) == {"q_early": 1, "q_mid": 1, "q_tie_a": 1,
                                                "other": 2}

    def test_admission_survives_a_restart_mid_stream(self):
        order = ["q_late", "q_tie_b", "q_mid", "q_tie_a", "q_early"]
        assert self.offered_by_label(order, restart_after=4) == self.offered_by_label(order)

    def test_admission_survives_the_admitted_queue_s_contacts_being_dropped(self):
        config = parse_config({"limits": {"max_queues": 1}})
        store = MemoryStore()
        c = Centre(config)
        c.engine = Engine(config, store)
        call(c, "c1", "first", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:05Z")
        call(c, "c2", "second", "2026-11-24T10:00:00Z", "answered", "2026-11-24T10:00:05Z")
        c.feed()
        assert c.engine.prune() == 1  # c1 is gone; its queue keeps its admission
        restored = Engine(config)
        restored.rebuild(copy.deepcopy(list(store.data.items())))
        for engine in (c.engine, restored):
            offered = {labels[0] for (name, labels) in values(engine, "2026-11-24T10:01:00Z")
                       if name == "cc_contacts_offered_total"}
            assert offered == {"first", "other"}
        assert BASE_KEY in store.data

    def test_an_agent_with_no_queues_is_in_no_queue(self):
        c = Centre()
        c.event("agent.state_changed", "2026-11-22T09:00:00Z", agent_id="a1",
                state="available", queues=["q"])
        c.event("agent.state_changed", "2026-11-22T09:10:00Z", agent_id="a1",
                state="available", queues=[])
        c.feed()
        agents = {labels for (name, labels), v in values(c.engine, "2026-11-22T09:15:00Z").items()
                  if name == "cc_agents" and v}
        assert agents == set()
