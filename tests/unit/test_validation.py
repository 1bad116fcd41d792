"""``streams.validation.decode``: valid events become ``Event``s, every invalid kind (contract §1.1)
gets its bounded reason code and a message naming the field and the value."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.core.events import EVENT_TYPES, Event
from streams.core.timestamps import parse_us
from streams.validation import (
    MAX_FUTURE_US,
    REASONS,
    Invalid,
    decode,
    decode_obj,
    load_schemas,
)

AT = "2026-11-22T09:15:02.120Z"
AT_US = 1_795_338_902_120_000  # AT in epoch microseconds
NOW_US = AT_US

#: A minimal valid event per type: the envelope plus the type's required fields.
MINIMAL: dict[str, dict[str, Any]] = {
    "call.queued": {"call_id": "c1", "queue": "support"},
    "call.answered": {"call_id": "c1", "queue": "support", "agent_id": "a1"},
    "call.abandoned": {"call_id": "c1", "queue": "support"},
    "call.flowed_out": {"call_id": "c1", "queue": "support", "reason": "timeout"},
    "call.blocked": {"call_id": "c1", "reason": "no_agents"},
    "call.hold_started": {"call_id": "c1", "agent_id": "a1"},
    "call.hold_ended": {"call_id": "c1", "agent_id": "a1"},
    "call.transferred": {"call_id": "c1", "agent_id": "a1"},
    "call.ended": {"call_id": "c1", "agent_id": "a1"},
    "call.wrapup_ended": {"call_id": "c1", "agent_id": "a1"},
    "chat.queued": {"chat_id": "h1", "queue": "support"},
    "chat.answered": {"chat_id": "h1", "queue": "support", "agent_id": "a1"},
    "chat.abandoned": {"chat_id": "h1", "queue": "support"},
    "chat.flowed_out": {"chat_id": "h1", "queue": "support", "reason": "callback"},
    "chat.transferred": {"chat_id": "h1", "agent_id": "a1"},
    "chat.message": {"chat_id": "h1", "sender": "customer"},
    "chat.ended": {"chat_id": "h1", "agent_id": "a1"},
    "chat.wrapup_ended": {"chat_id": "h1", "agent_id": "a1"},
    "ticket.created": {"ticket_id": "t1", "queue": "support", "channel": "email"},
    "ticket.assigned": {"ticket_id": "t1", "agent_id": "a1"},
    "ticket.replied": {"ticket_id": "t1", "author": "agent"},
    "ticket.status_changed": {"ticket_id": "t1", "status": "solved"},
    "ticket.updated": {"ticket_id": "t1"},
    "agent.state_changed": {"agent_id": "a1", "state": "available"},
    "survey.responded": {"survey": "nps", "score": 9},
    "qa.reviewed": {"score": 87.5},
    "customer.acquired": {"customer_id": "u1"},
    "customer.churned": {"customer_id": "u1"},
    "customer.revenue": {"customer_id": "u1", "amount": 10.5, "currency": "EUR"},
    "customer.interaction": {"customer_id": "u1", "kind": "web_visit"},
    "marketing.spend": {"amount": 0, "currency": "USD"},
}

REQUIRED_FIELD_CASES = [
    (event_type, field) for event_type, fields in MINIMAL.items() for field in fields
]


_ABSENT: Any = object()


def ev(event_type: str, **fields: Any) -> dict[str, Any]:
    """A valid event of ``event_type`` with ``fields`` overriding (``_ABSENT`` removes one)."""
    body = {"event_id": "e-1", "type": event_type, "occurred_at": AT, **MINIMAL[event_type]}
    for key, value in fields.items():
        if value is _ABSENT:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def raw(obj: Any) -> bytes:
    return orjson.dumps(obj)


def assert_invalid(result: Event | Invalid, reason: str) -> Invalid:
    assert isinstance(result, Invalid), f"expected {reason}, got {result}"
    assert result.reason == reason, result
    assert result.reason in REASONS
    return result


class TestValidEvents:
    @pytest.mark.parametrize("event_type", EVENT_TYPES, ids=EVENT_TYPES)
    def test_minimal_event_of_every_type_decodes(self, event_type: str) -> None:
        body = ev(event_type)
        event = decode(raw(body), NOW_US)
        assert event == Event("e-1", event_type, AT_US, body)

    def test_unknown_extra_fields_are_accepted_and_kept_in_the_body(self) -> None:
        body = ev("call.queued", vendor_blob={"x": [1, 2]}, note="hi", schema_version=1)
        event = decode(raw(body), NOW_US)
        assert isinstance(event, Event)
        assert event.body["vendor_blob"] == {"x": [1, 2]}
        assert event.body["note"] == "hi"

    def test_every_minimal_table_row_is_a_spec_type(self) -> None:
        assert sorted(MINIMAL) == sorted(EVENT_TYPES)

    def test_decode_obj_takes_an_already_parsed_object(self) -> None:
        body = ev("chat.message", sender="bot")
        assert decode_obj(body, NOW_US) == Event("e-1", "chat.message", AT_US, body)

    def test_decode_accepts_a_str(self) -> None:
        assert isinstance(decode(raw(ev("call.ended")).decode(), NOW_US), Event)

    def test_null_optional_field_is_accepted_and_left_out_of_the_body(self) -> None:
        event = decode(raw(ev("ticket.created", priority=None, category=None)), NOW_US)
        assert isinstance(event, Event)
        assert "priority" not in event.body
        assert "category" not in event.body

    def test_whole_float_survey_score_becomes_an_int(self) -> None:
        event = decode(raw(ev("survey.responded", survey="csat", score=4.0)), NOW_US)
        assert isinstance(event, Event)
        assert event.body["score"] == 4
        assert type(event.body["score"]) is int

    @pytest.mark.parametrize(
        "fields",
        [
            {"categories": [{"name": "greeting", "score": 3, "min": 0, "max": 5}]},
            {
                "categories": [
                    {"name": "g", "score": 0, "min": 0, "max": 1, "weight": 2, "critical": True}
                ],
                "score": 50,
            },
            {"score": 0},
            {"score": 100},
        ],
        ids=["categories", "categories-and-score", "score-0", "score-100"],
    )
    def test_qa_review_with_categories_or_score_decodes(self, fields: dict[str, Any]) -> None:
        body = ev("qa.reviewed", **{"score": _ABSENT, **fields})
        assert isinstance(decode(raw(body), NOW_US), Event)

    @pytest.mark.parametrize(
        "fields",
        [
            {"survey": "nps", "score": 0},
            {"survey": "nps", "score": 10, "scale_max": 10},
            {"survey": "csat", "score": 1},
            {"survey": "csat", "score": 5},
            {"survey": "csat", "score": 7, "scale_max": 7},
            {"survey": "ces", "score": 7},
            {"survey": "ces", "score": 1, "scale_max": 5},
        ],
        ids=["nps-0", "nps-10", "csat-1", "csat-5", "csat-7-of-7", "ces-7", "ces-1-of-5"],
    )
    def test_survey_score_on_its_scale_decodes(self, fields: dict[str, Any]) -> None:
        assert isinstance(decode(raw(ev("survey.responded", **fields)), NOW_US), Event)


class TestEnvelopeAndShape:
    @pytest.mark.parametrize(
        ("message", "reason"),
        [
            (b"{not json", "not_json"),
            (b"", "not_json"),
            (b'{"type": "call.queued", "event_id": "\xff\xfe"}', "not_json"),
            (b"\xff\xfe{}", "not_json"),
            (b"[1, 2]", "not_object"),
            (b'"call.queued"', "not_object"),
            (b"42", "not_object"),
            (b"null", "not_object"),
            (raw(ev("call.queued", event_id=_ABSENT)), "missing_field"),
            (raw(ev("call.queued", event_id="")), "out_of_range"),
            (raw(ev("call.queued", event_id="x" * 129)), "out_of_range"),
            (raw(ev("call.queued", event_id=17)), "wrong_type"),
            (raw(ev("call.queued", event_id=None)), "wrong_type"),
            (raw(ev("call.queued", type=_ABSENT)), "missing_field"),
            (raw(ev("call.queued", type=7)), "wrong_type"),
            (raw(ev("call.queued", type=["call.queued"])), "wrong_type"),
            (raw(ev("call.queued", type="call.teleported")), "unknown_type"),
            (raw(ev("call.queued", type="CALL.QUEUED")), "unknown_type"),
            (raw(ev("call.queued", occurred_at=_ABSENT)), "missing_field"),
            (raw(ev("call.queued", schema_version=0)), "out_of_range"),
            (raw(ev("call.queued", schema_version=2)), "out_of_range"),
            (raw(ev("call.queued", schema_version="1")), "wrong_type"),
            (raw(ev("call.queued", source=5)), "wrong_type"),
        ],
        ids=[
            "not-json",
            "empty-bytes",
            "not-utf8-inside-string",
            "not-utf8-bom-like",
            "array",
            "string",
            "number",
            "null",
            "missing-event-id",
            "empty-event-id",
            "event-id-129-chars",
            "event-id-integer",
            "event-id-null",
            "missing-type",
            "type-integer",
            "type-array",
            "unknown-type",
            "type-wrong-case",
            "missing-occurred-at",
            "schema-version-0",
            "schema-version-newer",
            "schema-version-string",
            "source-integer",
        ],
    )
    def test_invalid_message_gets_its_reason(self, message: bytes, reason: str) -> None:
        assert_invalid(decode(message, NOW_US), reason)

    def test_event_id_of_128_chars_is_accepted(self) -> None:
        assert isinstance(decode(raw(ev("call.queued", event_id="x" * 128)), NOW_US), Event)

    def test_decode_obj_rejects_a_non_object(self) -> None:
        assert_invalid(decode_obj([ev("call.queued")], NOW_US), "not_object")

    def test_decode_obj_with_a_value_json_cannot_hold_is_invalid_not_a_crash(self) -> None:
        assert_invalid(decode_obj(ev("call.queued", queue={1, 2}), NOW_US), "invalid")


class TestMissingRequiredField:
    @pytest.mark.parametrize(
        ("event_type", "field"),
        REQUIRED_FIELD_CASES,
        ids=[f"{t}-{f}" for t, f in REQUIRED_FIELD_CASES],
    )
    def test_missing_required_field_is_missing_field_naming_it(
        self, event_type: str, field: str
    ) -> None:
        body = ev(event_type, **{field: _ABSENT})
        if event_type == "qa.reviewed":
            result = assert_invalid(decode(raw(body), NOW_US), "missing_field")
            assert "'categories'" in result.message and "'score'" in result.message
            return
        result = assert_invalid(decode(raw(body), NOW_US), "missing_field")
        assert result.message == f"field '{field}' is required for {event_type}"

    def test_queue_on_call_answered_is_required(self) -> None:
        result = decode(raw(ev("call.answered", queue=_ABSENT)), NOW_US)
        assert result == Invalid("missing_field", "field 'queue' is required for call.answered")

    def test_null_required_field_is_a_wrong_type(self) -> None:
        result = assert_invalid(decode(raw(ev("call.answered", queue=None)), NOW_US), "wrong_type")
        assert result.message == "field 'queue' must be string, got null"

    def test_envelope_problem_is_reported_before_the_type_specific_ones(self) -> None:
        body = ev("call.queued", event_id=_ABSENT, queue=_ABSENT, call_id=_ABSENT)
        result = assert_invalid(decode(raw(body), NOW_US), "missing_field")
        assert result.message == (
            "field 'event_id' is required for call.queued (and 2 more problems)"
        )


class TestTimestamps:
    @pytest.mark.parametrize(
        ("text", "expected_us"),
        [
            ("2026-11-22T09:15:02.120Z", AT_US),
            ("2026-11-22T09:15:02Z", AT_US - 120_000),
            ("2026-11-22T14:45:02.120+05:30", AT_US),
            ("2026-11-22T06:15:02.120-03:00", AT_US),
            ("2026-11-22T09:15:02.120-00:00", AT_US),
            ("2026-11-22T09:15:02.1Z", AT_US - 20_000),
            ("2026-11-22T09:15:02.12Z", AT_US),
            ("2026-11-22T09:15:02.1209Z", AT_US + 900),
            ("2026-11-22T09:15:02.120400Z", AT_US + 400),
            ("2026-11-22T09:15:02.120999999Z", AT_US + 999),
            ("2026-11-22t09:15:02.120z", AT_US),
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59.9999Z", -100),
            ("2026-12-31T23:59:60Z", parse_us("2027-01-01T00:00:00Z")),
        ],
        ids=[
            "utc-z",
            "whole-seconds",
            "plus-05-30",
            "minus-03-00",
            "minus-00-00",
            "one-fraction-digit",
            "two-fraction-digits",
            "four-digits-kept",
            "microseconds-kept",
            "nanoseconds-truncated",
            "lower-case-t-and-z",
            "epoch",
            "before-epoch",
            "leap-second",
        ],
    )
    def test_occurred_us_keeps_every_digit_to_the_microsecond(
        self, text: str, expected_us: int
    ) -> None:
        event = decode(raw(ev("call.queued", occurred_at=text)), None)
        assert isinstance(event, Event), event
        assert event.occurred_us == expected_us
        assert type(event.occurred_us) is int

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("2026-11-22T09:15:02", "has no UTC offset"),
            ("2026-11-22T09:15:02.120", "has no UTC offset"),
            ("2026-11-22", "is a date without a time"),
            ("2026-11-22 09:15:02Z", "with a space; RFC 3339 needs 'T'"),
            ("2026-11-22 09:15:02", "needs 'T' and a UTC offset"),
            ("2026-11-22T09:15:02+0530", "offset that is not ±hh:mm"),
            ("2026-11-22T09:15:02+05", "offset that is not ±hh:mm"),
            ("22/11/2026 09:15", "is not an RFC 3339 timestamp"),
            ("2026-W47-7T09:15:02Z", "is not an RFC 3339 timestamp"),
            ("２０２６-11-22T09:15:02Z", "is not an RFC 3339 timestamp"),
            ("2026-13-01T09:15:02Z", "is not a real date and time"),
            ("2026-02-30T09:15:02Z", "is not a real date and time"),
            ("2026-11-22T24:00:00Z", "is not a real date and time"),
            ("2026-11-22T09:60:00Z", "is not a real date and time"),
            ("2026-11-22T09:15:02+24:00", "offset beyond ±23:59"),
            ("2026-11-22T09:15:02+05:60", "offset beyond ±23:59"),
            ("", "is not an RFC 3339 timestamp"),
        ],
        ids=[
            "no-offset",
            "no-offset-fraction",
            "date-only",
            "space-separator",
            "space-and-no-offset",
            "compact-offset",
            "hour-only-offset",
            "not-iso",
            "week-date",
            "non-ascii-digits",
            "month-13",
            "february-30",
            "hour-24",
            "minute-60",
            "offset-24h",
            "offset-60-minutes",
            "empty",
        ],
    )
    def test_bad_timestamp_says_what_is_wrong(self, text: str, says: str) -> None:
        result = assert_invalid(
            decode(raw(ev("call.queued", occurred_at=text)), NOW_US), "bad_timestamp"
        )
        assert result.message.startswith(f"occurred_at '{text}' ")
        assert says in result.message

    def test_offsetless_timestamp_message_reads_plainly(self) -> None:
        result = decode(raw(ev("call.queued", occurred_at="2026-11-22T09:15:02")), NOW_US)
        assert isinstance(result, Invalid)
        assert result.message.startswith("occurred_at '2026-11-22T09:15:02' has no UTC offset")

    def test_timestamp_that_is_not_a_string_is_a_wrong_type(self) -> None:
        assert_invalid(decode(raw(ev("call.queued", occurred_at=AT_US)), NOW_US), "wrong_type")

    def test_parse_us_raises_value_error_quoting_the_text(self) -> None:
        with pytest.raises(ValueError, match="'yesterday' is not an RFC 3339 timestamp"):
            parse_us("yesterday")


class TestFutureTimestamps:
    def test_max_future_is_five_minutes(self) -> None:
        assert MAX_FUTURE_US == 5 * 60 * 1_000_000

    @pytest.mark.parametrize(
        ("ahead_us", "accepted"),
        [
            (-86_400_000_000, True),
            (4 * 60_000_000, True),
            (MAX_FUTURE_US, True),
            (MAX_FUTURE_US + 1, False),
            (6 * 60_000_000, False),
        ],
        ids=[
            "a-day-ago",
            "4-minutes-ahead",
            "exactly-5-minutes",
            "5-minutes-and-1-us",
            "6-minutes",
        ],
    )
    def test_event_ahead_of_the_engine_clock(self, ahead_us: int, accepted: bool) -> None:
        result = decode(raw(ev("call.queued")), AT_US - ahead_us)
        if accepted:
            assert isinstance(result, Event)
        else:
            message = assert_invalid(result, "future_timestamp").message
            assert f"'{AT}'" in message

    def test_no_engine_clock_skips_the_future_check(self) -> None:
        assert isinstance(decode(raw(ev("call.queued")), None), Event)

    def test_future_message_names_the_engine_clock(self) -> None:
        result = decode(raw(ev("call.queued")), AT_US - 6 * 60_000_000)
        assert isinstance(result, Invalid)
        assert "360.000 s after the engine clock 2026-11-22T09:09:02.120Z" in result.message


ENUM_CASES = [
    ("call.flowed_out", "reason", "voicemail"),
    ("chat.flowed_out", "reason", "no_agents"),
    ("call.blocked", "reason", "timeout"),
    ("chat.message", "sender", "system"),
    ("ticket.created", "channel", "fax"),
    ("ticket.created", "priority", "critical"),
    ("ticket.updated", "priority", "NORMAL"),
    ("ticket.replied", "author", "system"),
    ("ticket.status_changed", "status", "reopened"),
    ("agent.state_changed", "state", "lunch"),
    ("survey.responded", "survey", "ces2"),
    ("survey.responded", "channel", "pigeon"),
    ("qa.reviewed", "channel", "sms"),
    ("customer.revenue", "currency", "usd"),
    ("customer.revenue", "currency", "EURO"),
    ("marketing.spend", "currency", "€"),
]


class TestEnums:
    @pytest.mark.parametrize(
        ("event_type", "field", "value"),
        ENUM_CASES,
        ids=[f"{t}-{f}-{v}" for t, f, v in ENUM_CASES],
    )
    def test_value_outside_the_set_is_bad_enum_naming_field_and_value(
        self, event_type: str, field: str, value: str
    ) -> None:
        result = assert_invalid(decode(raw(ev(event_type, **{field: value})), NOW_US), "bad_enum")
        assert result.message.startswith(f"field '{field}' is '{value}'")

    def test_bad_enum_message_lists_the_allowed_values(self) -> None:
        result = decode(raw(ev("agent.state_changed", state="lunch")), NOW_US)
        assert result == Invalid(
            "bad_enum",
            "field 'state' is 'lunch', not one of: "
            "offline, available, on_contact, after_contact_work, not_ready",
        )


SURVEY_OFF_SCALE = [
    ({"survey": "nps", "score": -1}, "below the minimum 0"),
    ({"survey": "nps", "score": 11}, "above the maximum 10"),
    ({"survey": "nps", "score": 5, "scale_max": 5}, "NPS is always scored 0–10"),
    ({"survey": "csat", "score": 0}, "score 0 is off the csat scale 1–5"),
    ({"survey": "csat", "score": 6}, "score 6 is off the csat scale 1–5"),
    ({"survey": "csat", "score": 4, "scale_max": 3}, "score 4 is off the csat scale 1–3"),
    ({"survey": "ces", "score": 0}, "score 0 is off the ces scale 1–7"),
    ({"survey": "ces", "score": 8}, "score 8 is off the ces scale 1–7"),
    ({"survey": "ces", "score": 6, "scale_max": 5}, "score 6 is off the ces scale 1–5"),
    ({"survey": "csat", "score": 3, "scale_max": 1}, "scale_max' is 1, below the minimum 2"),
    ({"survey": "csat", "score": 3, "scale_max": 11}, "scale_max' is 11, above the maximum 10"),
]


class TestSurveyScale:
    @pytest.mark.parametrize(
        ("fields", "says"),
        SURVEY_OFF_SCALE,
        ids=[
            f"{f['survey']}-{f['score']}-of-{f.get('scale_max', 'default')}"
            for f, _ in SURVEY_OFF_SCALE
        ],
    )
    def test_score_off_its_scale_is_out_of_range(self, fields: dict[str, Any], says: str) -> None:
        result = assert_invalid(
            decode(raw(ev("survey.responded", **fields)), NOW_US), "out_of_range"
        )
        assert says in result.message

    @pytest.mark.parametrize(
        ("score", "reason"),
        [("9", "wrong_type"), (8.5, "wrong_type"), (True, "wrong_type")],
        ids=["string", "fraction", "boolean"],
    )
    def test_score_that_is_not_an_integer_is_a_wrong_type(self, score: Any, reason: str) -> None:
        assert_invalid(decode(raw(ev("survey.responded", score=score)), NOW_US), reason)


def _category(**fields: Any) -> dict[str, Any]:
    """A valid QA category with ``fields`` overriding (``_ABSENT`` removes one)."""
    category = {"name": "greeting", "score": 3, "min": 0, "max": 5, **fields}
    return {key: value for key, value in category.items() if value is not _ABSENT}


QA_CASES = [
    (
        {"categories": [_category(min=5, max=5, score=5)]},
        "out_of_range",
        "min 5 must be below max 5",
    ),
    ({"categories": [_category(min=5, max=1)]}, "out_of_range", "min 5 must be below max 1"),
    ({"categories": [_category(score=6)]}, "out_of_range", "score 6 is outside 0–5"),
    ({"categories": [_category(score=-1)]}, "out_of_range", "score -1 is outside 0–5"),
    ({"categories": [_category(weight=0)]}, "out_of_range", "every weight is 0"),
    ({"categories": [_category(weight=-1)]}, "out_of_range", "below the minimum 0"),
    ({"categories": []}, "out_of_range", "field 'categories' is an empty list"),
    (
        {"categories": [_category(name=_ABSENT)]},
        "missing_field",
        "field 'categories[0].name' is required for qa.reviewed",
    ),
    (
        {"categories": [_category(critical="yes")]},
        "wrong_type",
        "field 'categories[0].critical' must be boolean, got string 'yes'",
    ),
    ({"categories": "greeting"}, "wrong_type", "field 'categories' must be array"),
    ({"score": 101}, "out_of_range", "field 'score' is 101, above the maximum 100"),
    ({"score": -0.5}, "out_of_range", "below the minimum 0"),
    ({"score": "90"}, "wrong_type", "field 'score' must be number, got string '90'"),
    ({}, "missing_field", "qa.reviewed needs field 'categories' or field 'score'"),
    ({"score": None}, "missing_field", "qa.reviewed needs field 'categories' or field 'score'"),
]


class TestQaReview:
    @pytest.mark.parametrize(
        ("fields", "reason", "says"),
        QA_CASES,
        ids=[
            "min-equals-max",
            "min-above-max",
            "score-above-max",
            "score-below-min",
            "all-weights-zero",
            "negative-weight",
            "no-categories",
            "category-without-name",
            "critical-not-bool",
            "categories-not-a-list",
            "score-above-100",
            "score-negative",
            "score-string",
            "neither-categories-nor-score",
            "score-null",
        ],
    )
    def test_invalid_review(self, fields: dict[str, Any], reason: str, says: str) -> None:
        body = ev("qa.reviewed", **{"score": _ABSENT, **fields})
        result = assert_invalid(decode(raw(body), NOW_US), reason)
        assert says in result.message


WRONG_TYPES = [
    ("call.wrapup_ended", "resolved", "yes", "wrong_type"),
    ("call.wrapup_ended", "resolved", 1, "wrong_type"),
    ("ticket.replied", "public", "true", "wrong_type"),
    ("agent.state_changed", "queues", "support", "wrong_type"),
    ("agent.state_changed", "queues", ["support", 7], "wrong_type"),
    ("agent.state_changed", "queues", ["support", ""], "out_of_range"),
    ("call.queued", "queue", 3, "wrong_type"),
    ("call.queued", "queue", "", "out_of_range"),
    ("call.queued", "call_id", 12345, "wrong_type"),
    ("call.queued", "priority", True, "wrong_type"),
    ("call.transferred", "to_queue", ["billing"], "wrong_type"),
    ("customer.revenue", "amount", "10.00", "wrong_type"),
    ("customer.revenue", "amount", -0.01, "out_of_range"),
    ("marketing.spend", "amount", -5, "out_of_range"),
    ("customer.interaction", "kind", "", "out_of_range"),
    ("ticket.created", "category", 4, "wrong_type"),
    ("customer.churned", "reason", {"code": 1}, "wrong_type"),
]


class TestWrongTypes:
    @pytest.mark.parametrize(
        ("event_type", "field", "value", "reason"),
        WRONG_TYPES,
        ids=[f"{t}-{f}-{orjson.dumps(v).decode()}" for t, f, v, _ in WRONG_TYPES],
    )
    def test_mistyped_field_names_the_field(
        self, event_type: str, field: str, value: Any, reason: str
    ) -> None:
        result = assert_invalid(decode(raw(ev(event_type, **{field: value})), NOW_US), reason)
        assert f"field '{field}" in result.message

    def test_wrong_type_message_names_expected_and_actual(self) -> None:
        result = decode(raw(ev("call.wrapup_ended", resolved="yes")), NOW_US)
        assert result == Invalid("wrong_type", "field 'resolved' must be boolean, got string 'yes'")

    def test_long_values_are_cut_in_messages(self) -> None:
        result = decode(raw(ev("agent.state_changed", state="z" * 500)), NOW_US)
        assert isinstance(result, Invalid)
        assert len(result.message) < 250
        assert "(502 chars)" in result.message


class TestSchemaExamplesStayValid:
    def test_every_schema_example_decodes(self) -> None:
        for name, doc in load_schemas().items():
            for example in doc.get("examples", []) if name != "envelope" else []:
                assert isinstance(decode(raw(example), NOW_US), Event), name
