"""The simulator: deterministic, time-ordered, well-formed contract §1 events that tell coherent
stories (contacts, agents, tickets). Invariants are named predicates over one simulated day.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any

import orjson
import pytest

from streams.core.events import EVENT_TYPES, topic_for_type
from streams.simulate import (
    AgentGroup,
    ContactStream,
    IntradayProfile,
    Scenario,
    contact_centre,
    generate,
    mmn,
    timed_events,
)
from streams.validation import Invalid, decode

DAY_START_MS = 1_795_305_600_000          # 2026-11-22T00:00:00Z
DAY_MS = 86_400_000
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CONTACT_OUTCOMES = ("answered", "abandoned", "flowed_out")

#: docs/contract.md §1 required fields beyond the envelope, per type.
REQUIRED: dict[str, tuple[str, ...]] = {
    **{f"{family}.{kind}": (f"{family}_id", "queue")
       for family in ("call", "chat") for kind in ("queued", "abandoned")},
    **{f"{family}.answered": (f"{family}_id", "queue", "agent_id") for family in ("call", "chat")},
    **{f"{family}.flowed_out": (f"{family}_id", "queue", "reason")
       for family in ("call", "chat")},
    **{f"{family}.{kind}": (f"{family}_id", "agent_id")
       for family in ("call", "chat") for kind in ("transferred", "ended", "wrapup_ended")},
    "call.blocked": ("call_id", "reason"),
    "call.hold_started": ("call_id", "agent_id"),
    "call.hold_ended": ("call_id", "agent_id"),
    "chat.message": ("chat_id", "sender"),
    "ticket.created": ("ticket_id", "queue", "channel"),
    "ticket.assigned": ("ticket_id", "agent_id"),
    "ticket.replied": ("ticket_id", "author"),
    "ticket.status_changed": ("ticket_id", "status"),
    "ticket.updated": ("ticket_id",),
    "agent.state_changed": ("agent_id", "state"),
    "survey.responded": ("survey", "score"),
    "qa.reviewed": (),
    "customer.acquired": ("customer_id",),
    "customer.churned": ("customer_id",),
    "customer.revenue": ("customer_id", "amount", "currency"),
    "customer.interaction": ("customer_id", "kind"),
    "marketing.spend": ("amount", "currency"),
}
SURVEY_SCALE = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}


@pytest.fixture(scope="module")
def day() -> list[tuple[int, dict[str, Any]]]:
    """One simulated day of the realistic contact centre."""
    return list(timed_events(contact_centre(), seed=11, start_ms=DAY_START_MS,
                             duration_ms=DAY_MS))


def contact_id(event: dict[str, Any]) -> str:
    return event.get("call_id") or event["chat_id"]


def contacts_of(day: list[tuple[int, dict[str, Any]]]) -> dict[str, list[tuple[int, dict]]]:
    by_contact: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for ms, event in day:
        if event["type"].partition(".")[0] in ("call", "chat"):
            by_contact[contact_id(event)].append((ms, event))
    return by_contact


# -- named invariants --------------------------------------------------------------------------

def segments_have_at_most_one_outcome(story: list[tuple[int, dict]]) -> bool:
    """Between two ``queued`` of a contact there is at most one answer/abandon/flow-out, in the
    queue it waits in."""
    queue = None
    outcomes = 0
    for _, event in story:
        kind = event["type"].partition(".")[2]
        if kind == "queued":
            queue, outcomes = event["queue"], 0
        elif kind in CONTACT_OUTCOMES:
            outcomes += 1
            if event["queue"] != queue or outcomes > 1:
                return False
    return True


def moves_requeue_in_the_target_queue_at_once(story: list[tuple[int, dict]]) -> bool:
    """A transfer or flow-out is followed, at the same instant, by ``queued`` in ``to_queue``."""
    for (ms, event), following in itertools.zip_longest(story, story[1:]):
        if event["type"].endswith((".transferred", ".flowed_out")):
            if following is None:
                continue                                      # cut by the end of the run
            next_ms, next_event = following
            if not (next_event["type"].endswith(".queued") and next_ms == ms
                    and next_event["queue"] == event["to_queue"]):
                return False
    return True


def conversations_end_with_their_agent(story: list[tuple[int, dict]]) -> bool:
    """``ended`` and ``wrapup_ended`` (and holds, transfers) name the agent who answered, and
    wrap-up follows the end."""
    agent = None
    ended = False
    for _, event in story:
        kind = event["type"].partition(".")[2]
        if kind == "answered":
            agent, ended = event["agent_id"], False
        elif kind in ("ended", "hold_started", "hold_ended", "transferred"):
            if event["agent_id"] != agent or ended:
                return False
            ended = kind == "ended"
        elif kind == "wrapup_ended" and (event["agent_id"] != agent or not ended):
            return False
    return True


def blocked_calls_never_wait(story: list[tuple[int, dict]]) -> bool:
    types = [event["type"] for _, event in story]
    return "call.blocked" not in types or types == ["call.blocked"]


def holds_pair_up(story: list[tuple[int, dict]]) -> bool:
    """Holds start and end alternately, and a call never ends or moves on while on hold."""
    on_hold = False
    for _, event in story:
        kind = event["type"]
        if kind in ("call.hold_started", "call.hold_ended"):
            if on_hold != (kind == "call.hold_ended"):
                return False
            on_hold = not on_hold
        elif on_hold and kind in ("call.ended", "call.transferred"):
            return False
    return True


STORY_INVARIANTS = [segments_have_at_most_one_outcome, moves_requeue_in_the_target_queue_at_once,
                    conversations_end_with_their_agent, blocked_calls_never_wait, holds_pair_up]


# -- tests -------------------------------------------------------------------------------------

class TestDeterminism:
    def test_same_seed_and_start_give_identical_events(self):
        first = list(generate(contact_centre(), seed=3, start_ms=DAY_START_MS,
                              duration_ms=3_600_000))
        again = list(generate(contact_centre(), seed=3, start_ms=DAY_START_MS,
                              duration_ms=3_600_000))
        assert orjson.dumps(first) == orjson.dumps(again)

    def test_another_seed_gives_other_traffic(self):
        first = [e["type"] for e in generate(contact_centre(), seed=3, start_ms=DAY_START_MS,
                                             duration_ms=3_600_000)]
        other = [e["type"] for e in generate(contact_centre(), seed=4, start_ms=DAY_START_MS,
                                             duration_ms=3_600_000)]
        assert first != other

    def test_runs_started_at_different_times_share_no_event_or_contact_id(self):
        def ids(start_ms: int) -> set[str]:
            return {value for event in generate(contact_centre(), seed=3, start_ms=start_ms,
                                                duration_ms=1_800_000)
                    for name, value in event.items()
                    if name in ("event_id", "call_id", "chat_id", "ticket_id")}
        assert not ids(DAY_START_MS) & ids(DAY_START_MS + 1000)

    def test_with_a_flat_profile_the_traffic_does_not_depend_on_the_hour_a_run_starts(self):
        # Either side of the daily marketing-spend sync (01:00 UTC): its draws are its own, so
        # the contacts, tickets and the rest come out the same, only shifted in time.
        flat = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
        assert flat.customers.campaign_daily_budgets

        def traffic(start_ms: int) -> list[tuple[int, str]]:
            return [(occurred - start_ms, event["type"]) for occurred, event in
                    timed_events(flat, seed=3, start_ms=start_ms, duration_ms=1_800_000)
                    if event["type"] != "marketing.spend"]
        at_00_15 = traffic(DAY_START_MS + 900_000)
        assert len(at_00_15) > 1000
        assert traffic(DAY_START_MS + 3_600_000 + 900_000) == at_00_15
        assert traffic(DAY_START_MS + 14 * 3_600_000) == at_00_15

    def test_generation_is_lazy_so_an_endless_run_can_be_streamed(self):
        endless = generate(contact_centre(), seed=1, start_ms=DAY_START_MS)
        assert len(list(itertools.islice(endless, 500))) == 500


class TestEventShape:
    def test_events_come_in_nondecreasing_time_order(self, day):
        times = [ms for ms, _ in day]
        assert times == sorted(times)
        stamps = [event["occurred_at"] for _, event in day]
        assert stamps == sorted(stamps)

    def test_every_event_has_a_unique_id_the_simulator_source_and_a_millisecond_utc_stamp(
            self, day):
        assert len({event["event_id"] for _, event in day}) == len(day)
        assert all(event["source"] == "ccpulse-simulator" for _, event in day)
        assert all(TIMESTAMP.match(event["occurred_at"]) for _, event in day)

    def test_every_event_has_the_spec_required_fields_of_its_type(self, day):
        for _, event in day:
            missing = [f for f in REQUIRED[event["type"]] if event.get(f) in (None, "")]
            assert not missing, f"{event['type']} lacks {missing}: {event}"

    def test_every_event_passes_the_engine_decoder(self, day):
        for ms, event in day:
            result = decode(orjson.dumps(event), now_us=ms * 1000)
            assert not isinstance(result, Invalid), f"{result.message}: {event}"
            assert result.occurred_us == ms * 1000

    def test_survey_scores_are_on_their_scale(self, day):
        for _, event in day:
            if event["type"] == "survey.responded":
                low, default_high = SURVEY_SCALE[event["survey"]]
                assert low <= event["score"] <= event.get("scale_max", default_high)


class TestTraffic:
    def test_a_day_feeds_every_topic_and_exercises_every_contact_centre_event(self, day):
        seen = Counter(event["type"] for _, event in day)
        assert {topic_for_type(t) for t in seen} == {
            "cc.calls", "cc.chats", "cc.tickets", "cc.agents", "cc.feedback", "cc.customers"}
        assert set(EVENT_TYPES) - set(seen) == set()

    def test_demand_follows_the_intraday_profile(self, day):
        offered_by_hour = Counter((ms - DAY_START_MS) // 3_600_000 for ms, event in day
                                  if event["type"] in ("call.queued", "chat.queued"))
        night, peak = offered_by_hour[3], offered_by_hour[10]
        assert peak > 5 * night  # profile multipliers 0.1 at night, 1.1 at 10:00

    def test_agents_log_off_with_the_demand(self, day):
        last_state: dict[str, str] = {}
        logged_in_at = {}
        for ms, event in day:
            if event["type"] == "agent.state_changed":
                last_state[event["agent_id"]] = event["state"]
            hour = (ms - DAY_START_MS) // 3_600_000
            if hour not in logged_in_at and hour in (4, 10) and ms % 3_600_000 > 1_800_000:
                logged_in_at[hour] = sum(state != "offline" for state in last_state.values())
        assert logged_in_at[10] > 3 * logged_in_at[4]

    def test_blocked_calls_are_no_capacity_at_the_trunk_limit(self, day):
        blocked = [event for _, event in day if event["type"] == "call.blocked"]
        assert blocked and all(event["reason"] == "no_capacity" for event in blocked)


class TestContactStories:
    @pytest.mark.parametrize("invariant", STORY_INVARIANTS, ids=lambda f: f.__name__)
    def test_every_contact_satisfies(self, day, invariant):
        broken = [cid for cid, story in contacts_of(day).items() if not invariant(story)]
        assert not broken, f"{len(broken)} contacts break it, e.g. {contacts_of(day)[broken[0]]}"

    def test_an_agent_never_holds_two_conversations_or_answers_outside_their_queues(self, day):
        talking: dict[str, str] = {}
        queues: dict[str, list[str]] = {}
        for _, event in day:
            kind = event["type"]
            if kind == "agent.state_changed":
                queues[event["agent_id"]] = event["queues"]
            elif kind.endswith(".answered"):
                agent = event["agent_id"]
                assert agent not in talking, f"{agent} answered while on {talking.get(agent)}"
                assert event["queue"] in queues[agent]
                talking[agent] = contact_id(event)
            elif kind.endswith((".ended", ".transferred")):
                assert talking.pop(event["agent_id"]) == contact_id(event)

    def test_agent_states_follow_the_contact(self, day):
        state: dict[str, str] = {}
        for _, event in day:
            if event["type"] == "agent.state_changed":
                state[event["agent_id"]] = event["state"]
            elif event["type"].endswith((".ended", ".hold_started")):
                assert state[event["agent_id"]] == "on_contact"


class TestStationaryScenario:
    def test_mmn_is_one_voice_queue_with_fixed_agents_and_no_after_call_work(self):
        events = list(timed_events(mmn(5, 1 / 60, 240, patience_seconds=120), seed=2,
                                   start_ms=DAY_START_MS, duration_ms=6 * 3_600_000))
        families = {event["type"].partition(".")[0] for _, event in events}
        assert families == {"call", "agent"}
        assert {event["queue"] for _, event in events if "queue" in event} == {"support"}
        assert {event["state"] for _, event in events if event["type"] == "agent.state_changed"
                } == {"available", "on_contact"}
        assert len({event["agent_id"] for _, event in events if "agent_id" in event}) == 5
        ended = {e["call_id"]: ms for ms, e in events if e["type"] == "call.ended"}
        assert all(ended[e["call_id"]] == ms for ms, e in events
                   if e["type"] == "call.wrapup_ended")
        types = {event["type"] for _, event in events}
        assert types >= {"call.abandoned"}
        assert not types & {"call.transferred", "call.hold_started", "call.flowed_out",
                            "call.blocked"}


class TestScenarioChecks:
    def test_a_stream_whose_queue_nobody_serves_is_refused(self):
        with pytest.raises(ValueError, match=r"no agent group serves \['billing'\]"):
            Scenario("bad", (ContactStream("billing", "voice", 10, 100),),
                     (AgentGroup("a", 1, ("sales",)),))

    @pytest.mark.parametrize(
        "steps",
        [((1.0, 1.0),), ((0.0, 1.0), (0.0, 2.0)), ((0.0, -1.0),), ((0.0, 1.0), (24.0, 1.0))],
        ids=["not-from-midnight", "repeated-hour", "negative-rate", "hour-24"],
    )
    def test_a_malformed_intraday_profile_is_refused(self, steps):
        with pytest.raises(ValueError, match="profile"):
            IntradayProfile(steps)

    def test_the_profile_multiplier_changes_at_each_step(self):
        profile = IntradayProfile(((0.0, 0.5), (8.0, 2.0)))
        assert profile.multiplier_at(8 * 3600 - 1) == 0.5
        assert profile.multiplier_at(8 * 3600) == 2.0
        assert profile.seconds_to_next_step(7 * 3600) == 3600
        assert profile.seconds_to_next_step(20 * 3600) == 4 * 3600
