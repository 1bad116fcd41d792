"""Survey and QA-review KPIs (contract §1.5, §3.3): NPS, CSAT, CES, IQS, computed by hand."""

from __future__ import annotations

import pickle
import random

import orjson
from kpi_helpers import Centre, us

from streams.core.engine import Directory, Engine
from streams.core.kpis import all_families
from streams.worker.checkpoint import encode_record

NOW = "2026-11-24T20:00:00Z"


def survey(c: Centre, kind: str, score: int, at: str = "2026-11-24T10:00:00Z", **body) -> None:
    body.setdefault("channel", "voice")
    c.event("survey.responded", at, survey=kind, score=score, **body)


def test_nps_is_promoters_minus_detractors_over_responses_times_100():
    c = Centre()
    for score in (10, 9, 8, 7, 6, 0):  # 2 promoters, 2 passives, 2 detractors
        survey(c, "nps", score, queue="sales")
    survey(c, "nps", 9, queue="sales", channel="chat")  # NPS sums over channels
    c.feed()
    # (3 promoters - 2 detractors) / 7 responses = 14.2857...
    assert abs(c.value(NOW, "cc_nps_score", queue="sales", window="today") - 100 / 7) < 1e-9
    assert c.value(NOW, "cc_window_nps_responses", queue="sales", window="today") == 7
    assert c.value(NOW, "cc_survey_responses_total", survey="nps", queue="sales",
                   channel="voice", score="10") == 1


def test_csat_and_ces_count_scale_max_minus_one_or_more_and_ces_has_its_mean():
    c = Centre()
    for score in (5, 4, 3, 1):
        survey(c, "csat", score, queue="sales")
    survey(c, "csat", 9, queue="sales", scale_max=10)  # on a 1-10 scale, 9 is satisfied
    for score in (7, 6, 2):
        survey(c, "ces", score, queue="sales")
    c.feed()
    w = {"queue": "sales", "channel": "voice", "window": "today"}
    assert c.value(NOW, "cc_csat_ratio", **w) == 3 / 5
    assert c.value(NOW, "cc_ces_ratio", **w) == 2 / 3
    assert c.value(NOW, "cc_ces_average_score", **w) == 5.0


def test_iqs_is_the_weighted_mean_of_categories_and_a_failed_critical_one_makes_it_zero():
    c = Centre()
    cats = [
        {"name": "greeting", "score": 4, "min": 0, "max": 5},  # 80 %, weight 1
        {"name": "resolution", "score": 5, "min": 0, "max": 10, "weight": 3},  # 50 %, w 3
    ]
    c.event("qa.reviewed", "2026-11-24T10:00:00Z", queue="sales", channel="voice",
            categories=cats)  # (80 + 3 x 50) / 4 = 57.5 %
    failed = [*cats, {"name": "compliance", "score": 0, "min": 0, "max": 1, "critical": True}]
    c.event("qa.reviewed", "2026-11-24T10:05:00Z", queue="sales", channel="voice",
            categories=failed)  # critical category under 50 %: the review is 0
    c.event("qa.reviewed", "2026-11-24T10:10:00Z", queue="sales", channel="voice", score=90)
    c.feed()
    w = {"queue": "sales", "channel": "voice", "window": "today"}
    # (0.575 + 0 + 0.9) / 3
    assert abs(c.value(NOW, "cc_iqs_ratio", **w) - 1.475 / 3) < 1e-9
    assert c.value(NOW, "cc_qa_reviews_total", queue="sales", channel="voice") == 3
    assert abs(c.value(NOW, "cc_qa_review_score_total", queue="sales", channel="voice")
               - 1.475) < 1e-9


def test_a_survey_before_its_contact_takes_the_contacts_queue_when_it_arrives():
    c = Centre()
    survey(c, "csat", 5, at="2026-11-24T10:30:00Z", contact_id="c1")
    c.event("call.queued", "2026-11-24T10:00:00Z", call_id="c1", queue="billing")
    c.event("call.answered", "2026-11-24T10:00:20Z", call_id="c1", queue="billing",
            agent_id="a1")
    w = {"queue": "billing", "channel": "voice", "window": "today"}
    c.feed(c.events[:1])
    assert c.value(NOW, "cc_csat_ratio", queue="unknown", channel="voice", window="today") == 1
    c.feed(c.events[1:])
    assert c.value(NOW, "cc_csat_ratio", **w) == 1.0
    assert c.value(NOW, "cc_csat_ratio", queue="unknown", channel="voice",
                   window="today") is None
    # ... and any arrival order gives the same values, restarts too.
    expected = c.values(NOW)
    for seed in range(4):
        events = list(c.events)
        random.Random(seed).shuffle(events)
        other = Centre(config=c.config)
        other.feed(events)
        assert other.values(NOW) == expected
    restored = Centre(config=c.config)
    restored.engine.rebuild(c.engine.store.data.items())
    assert restored.values(NOW) == expected


def test_a_survey_follows_its_contact_to_the_queue_of_its_last_answered_segment():
    c = Centre()
    c.event("chat.queued", "2026-11-24T10:00:00Z", chat_id="x1", queue="sales")
    c.event("chat.answered", "2026-11-24T10:00:10Z", chat_id="x1", queue="sales",
            agent_id="a1")
    survey(c, "ces", 7, at="2026-11-24T11:00:00Z", contact_id="x1", channel="chat")
    c.event("chat.queued", "2026-11-24T10:05:00Z", chat_id="x1", queue="tech")  # transfer
    c.event("chat.answered", "2026-11-24T10:06:00Z", chat_id="x1", queue="tech",
            agent_id="a2")
    c.feed()
    assert c.value(NOW, "cc_window_ces_responses", queue="tech", channel="chat",
                   window="today") == 1
    assert c.value(NOW, "cc_window_ces_responses", queue="sales", channel="chat",
                   window="today") is None


def test_a_survey_of_a_ticket_takes_the_tickets_queue_and_a_named_queue_wins():
    c = Centre()
    c.event("ticket.created", "2026-11-24T09:00:00Z", ticket_id="t1", queue="returns",
            channel="web")
    survey(c, "csat", 4, ticket_id="t1", channel="web")
    survey(c, "csat", 1, ticket_id="t1", channel="web", queue="sales")
    survey(c, "csat", 2, ticket_id="nobody-knows", channel="web")  # unknown reference
    c.feed()
    assert c.value(NOW, "cc_csat_ratio", queue="returns", channel="web", window="today") == 1
    assert c.value(NOW, "cc_csat_ratio", queue="sales", channel="web", window="today") == 0
    assert c.value(NOW, "cc_window_csat_responses", queue="unknown", channel="web",
                   window="today") == 1


def test_a_duplicate_survey_is_dropped_and_counted():
    c = Centre()
    survey(c, "nps", 10, queue="sales", event_id="s1")
    survey(c, "nps", 10, queue="sales", event_id="s1")
    outcomes = c.feed()
    assert [o.value for o in outcomes] == ["applied", "duplicate"]
    assert c.value(NOW, "cc_window_nps_responses", queue="sales", window="today") == 1


def test_a_missing_channel_is_unknown():
    c = Centre()
    c.event("survey.responded", "2026-11-24T10:00:00Z", survey="csat", score=5, queue="sales")
    c.feed()
    assert c.value(NOW, "cc_csat_ratio", queue="sales", channel="unknown",
                   window="today") == 1.0


def test_a_survey_finds_its_contact_whichever_engine_of_the_partition_is_built_first():
    """A worker builds the engines of one partition number (one per topic) one by one, when
    each is first needed; a restart may build the feedback engine before the chats engine or
    after it. The survey's queue must not depend on that order."""
    c = Centre()
    c.event("chat.queued", "2026-11-24T10:00:00Z", chat_id="x1", queue="support")
    c.event("chat.answered", "2026-11-24T10:00:10Z", chat_id="x1", queue="support",
            agent_id="a1")
    survey(c, "csat", 4, at="2026-11-24T10:30:00Z", contact_id="x1", channel="chat")
    chats_events, survey_event = c.events[:2], c.events[2]
    w = {"queue": "support", "channel": "chat", "window": "today"}

    # Before a crash: chats and feedback engines each persisted their records.
    chats = Engine(c.config)
    for ev in chats_events:
        chats.apply(ev)
    feedback = Engine(c.config)  # its own directory: the chats engine unknown to it
    feedback.apply(survey_event)
    for first, second in ((chats, feedback), (feedback, chats)):
        directory = Directory()
        built = []
        for old in (first, second):
            engine = Engine(c.config, directory=directory)
            engine.rebuild(old.store.data.items())
            built.append(engine)
        values = {}
        for fam in all_families(c.config, [e.ledger for e in built], us(NOW)):
            for labels, value in fam.samples.items():
                values[(fam.name, labels)] = value
        assert values[("cc_window_csat_responses", tuple(w.values()))] == 1
        assert ("cc_window_csat_responses", ("unknown", "chat", "today")) not in values

    # And live: the survey arrives while the chats engine of its partition is not built yet.
    directory = Directory()
    feedback_live = Engine(c.config, directory=directory)
    feedback_live.apply(survey_event)
    chats_live = Engine(c.config, directory=directory)
    chats_live.rebuild(chats.store.data.items())
    assert feedback_live._records[f"feedback:{survey_event.event_id}"]["rq"] == "support"


def test_a_survey_restored_from_a_snapshot_finds_its_contact_whichever_engine_is_built_first():
    """The same, the feedback engine restored from a snapshot, the survey's record still only
    in its store: a crash between the writes of one checkpoint's tables can leave the survey
    persisted without the queue its contact, persisted, gives it (the survey's redelivered
    event is then a duplicate that changes nothing). Seen in the SIGKILL-mid-backlog test."""
    c = Centre()
    c.event("chat.queued", "2026-11-24T10:00:00Z", chat_id="x1", queue="support")
    c.event("chat.answered", "2026-11-24T10:00:10Z", chat_id="x1", queue="support",
            agent_id="a1")
    survey(c, "csat", 4, at="2026-11-24T10:30:00Z", contact_id="x1", channel="chat")
    chats_events, survey_event = c.events[:2], c.events[2]
    chats = Engine(c.config)
    for ev in chats_events:
        chats.apply(ev)
    feedback = Engine(c.config)  # the survey persisted before its contact: no queue
    feedback.apply(survey_event)
    state = pickle.dumps(feedback.snapshot())
    stored = {key: orjson.loads(encode_record(r)) for key, r in feedback.store.data.items()}
    for feedback_first in (True, False):
        directory = Directory()
        restored = Engine(c.config, directory=directory)
        rebuilt = Engine(c.config, directory=directory)
        for engine in ((restored, rebuilt) if feedback_first else (rebuilt, restored)):
            if engine is restored:
                restored.load_snapshot(pickle.loads(state), stored.get)
            else:
                rebuilt.rebuild(chats.store.data.items())
            engine.finish_rebuild()
        values = {(fam.name, labels): value for fam in all_families(
            c.config, [restored.ledger, rebuilt.ledger], us(NOW))
            for labels, value in fam.samples.items()}
        assert values[("cc_window_csat_responses", ("support", "chat", "today"))] == 1
        assert ("cc_window_csat_responses", ("unknown", "chat", "today")) not in values


def test_a_survey_keeps_the_queue_its_ticket_had_when_it_was_answered():
    """A ticket KPI is booked in the ticket's queue at its booking time (contract §2): a ticket
    moved after the survey does not move the survey (nor its since-the-start counter)."""
    c = Centre()
    c.event("ticket.created", "2026-11-24T09:00:00Z", ticket_id="t9", queue="support",
            channel="email")
    survey(c, "csat", 1, at="2026-11-24T11:00:00Z", ticket_id="t9", channel="email")
    c.event("ticket.updated", "2026-11-24T12:00:00Z", ticket_id="t9", queue="billing")
    c.feed()
    counter = {"survey": "csat", "channel": "email", "score": "1"}
    assert c.value(NOW, "cc_survey_responses_total", queue="support", **counter) == 1
    assert c.value(NOW, "cc_survey_responses_total", queue="billing", **counter) is None
