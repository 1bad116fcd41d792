"""Zendesk webhooks to contract events (``streams.sources.zendesk``).

The fixtures are one ticket's life as Zendesk's ticket event webhooks deliver it (shapes from
https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/) plus the
satisfaction-rating body the documented trigger sends; the signature is Zendesk's
``base64(HMAC-SHA256(secret, timestamp + body))``
(https://developer.zendesk.com/documentation/webhooks/verifying/).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from streams.core.timestamps import parse_us
from streams.errors import ConfigError
from streams.sources.base import Skipped
from streams.sources.zendesk import (
    ZendeskSettings,
    check_signature,
    map_payload,
    parse_settings,
    sign,
)
from streams.validation import Invalid, decode_obj

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "zendesk"
SETTINGS = ZendeskSettings(groups={"98738": "billing"})
SENT_US = parse_us("2026-03-10T09:50:00Z")
NOW_US = parse_us("2026-03-11T00:00:00Z")
SECRET = b"dGhpcyBpcyBhIHNlY3JldA=="


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def mapped(name: str) -> list[Any]:
    out = map_payload(fixture(name), SETTINGS, SENT_US)
    for item in out:
        if not isinstance(item, Skipped):
            assert not isinstance(decode_obj(item, NOW_US), Invalid), item
    return out


def fields(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("event_id", "source")}


class TestTicketEvents:
    def test_a_created_ticket_names_its_group_as_queue_its_channel_priority_and_type(self):
        [event] = mapped("01-ticket-created.json")
        assert fields(event) == {
            "type": "ticket.created", "occurred_at": "2026-03-10T09:00:00.123456Z",
            "ticket_id": "zd-35436", "queue": "billing", "channel": "web", "priority": "high",
            "category": "incident", "customer_id": "zd-user-20978392"}

    def test_a_group_without_a_name_is_group_id_and_no_group_is_the_default_queue(self):
        payload = fixture("01-ticket-created.json")
        [event] = map_payload(payload, ZendeskSettings(), SENT_US)
        assert event["queue"] == "group-98738"
        payload["detail"]["group_id"] = None
        [event] = map_payload(payload, ZendeskSettings(default_queue="support"), SENT_US)
        assert event["queue"] == "support"

    def test_a_ticket_created_assigned_and_solved_gives_all_three_events(self):
        payload = fixture("01-ticket-created.json")
        payload["detail"].update(assignee_id="235324", status="SOLVED")
        types = [e["type"] for e in map_payload(payload, SETTINGS, SENT_US)]
        assert types == ["ticket.created", "ticket.assigned", "ticket.status_changed"]

    def test_the_description_comment_is_skipped_because_created_is_the_first_message(self):
        assert [s.reason for s in mapped("02-comment-description.json")] == \
            ["ignored:first_comment"]

    def test_an_assignment_names_the_new_agent_and_an_unassignment_is_skipped(self):
        [event] = mapped("03-agent-assigned.json")
        assert fields(event) == {"type": "ticket.assigned", "ticket_id": "zd-35436",
                                 "occurred_at": "2026-03-10T09:04:10.250001Z",
                                 "agent_id": "235324"}
        payload = fixture("03-agent-assigned.json")
        payload["event"] = {"current": None, "previous": "235324"}
        assert [s.reason for s in map_payload(payload, SETTINGS, SENT_US)] == \
            ["ignored:unassigned"]

    @pytest.mark.parametrize(("name", "author", "public", "agent"), [
        ("04-comment-private-note.json", "agent", False, "235324"),
        ("05-comment-agent-public.json", "agent", True, "235324"),
        ("07-comment-end-user.json", "customer", True, None),
    ], ids=["private note", "public agent reply", "end-user reply"])
    def test_a_comment_is_a_reply_by_staff_or_end_user_public_or_private(
            self, name, author, public, agent):
        [event] = mapped(name)
        assert event["type"] == "ticket.replied"
        assert (event["author"], event["public"], event.get("agent_id")) == \
            (author, public, agent)

    @pytest.mark.parametrize(("zendesk", "contract"), [
        ("NEW", "open"), ("OPEN", "open"), ("PENDING", "pending"), ("HOLD", "on_hold"),
        ("SOLVED", "solved"), ("CLOSED", "closed")], ids=lambda v: v)
    def test_every_zendesk_status_maps_to_its_contract_status(self, zendesk, contract):
        payload = fixture("09-status-solved.json")
        payload["event"]["current"] = zendesk
        [event] = map_payload(payload, SETTINGS, SENT_US)
        assert event["status"] == contract

    def test_a_deleted_ticket_status_is_skipped_by_reason(self):
        payload = fixture("09-status-solved.json")
        payload["event"]["current"] = "DELETED"
        assert [s.reason for s in map_payload(payload, SETTINGS, SENT_US)] == \
            ["ignored:status_deleted"]

    def test_a_priority_change_updates_queue_priority_and_category_from_the_ticket(self):
        [event] = mapped("08-priority-changed.json")
        assert fields(event) == {"type": "ticket.updated", "ticket_id": "zd-35436",
                                 "occurred_at": "2026-03-10T09:41:00Z", "queue": "billing",
                                 "priority": "normal", "category": "incident"}

    def test_events_ccpulse_does_not_count_are_skipped_as_ignored(self):
        assert [s.reason for s in mapped("11-tags-changed.json")] == \
            ["ignored:ticket.tags_changed"]

    def test_event_time_keeps_microseconds_and_truncates_nanoseconds(self):
        [event] = mapped("01-ticket-created.json")
        assert event["occurred_at"] == "2026-03-10T09:00:00.123456Z"


class TestSatisfaction:
    def test_a_good_rating_is_csat_5_of_5_at_the_signature_time(self):
        [event] = mapped("10-satisfaction-good.json")
        assert fields(event) == {"type": "survey.responded", "survey": "csat", "score": 5,
                                 "scale_max": 5, "ticket_id": "zd-35436", "queue": "billing",
                                 "agent_id": "235324", "occurred_at": "2026-03-10T09:50:00Z"}

    def test_a_bad_rating_is_1_and_an_offered_one_is_skipped(self):
        payload = fixture("10-satisfaction-good.json")
        payload["score"] = "bad"
        assert map_payload(payload, SETTINGS, SENT_US)[0]["score"] == 1
        payload["score"] = "offered"
        assert [s.reason for s in map_payload(payload, SETTINGS, SENT_US)] == \
            ["ignored:rating_offered"]

    def test_unfilled_placeholders_count_as_absent(self):
        payload = fixture("10-satisfaction-good.json")
        payload.update(group_id="{{ticket.group.id}}", assignee_id="")
        [event] = map_payload(payload, SETTINGS, SENT_US)
        assert "queue" not in event and "agent_id" not in event


class TestIds:
    def test_the_same_delivery_twice_gives_the_same_events(self):
        for path in sorted(FIXTURES.glob("*.json")):
            payload = json.loads(path.read_text())
            assert map_payload(payload, SETTINGS, SENT_US) == \
                map_payload(json.loads(path.read_text()), SETTINGS, SENT_US)

    def test_every_event_of_the_fixtures_has_its_own_id(self):
        ids = [e["event_id"] for path in sorted(FIXTURES.glob("*.json"))
               for e in map_payload(json.loads(path.read_text()), SETTINGS, SENT_US)
               if isinstance(e, dict)]
        assert len(ids) == len(set(ids)) == 9


class TestBadInput:
    @pytest.mark.parametrize(("payload", "reason"), [
        ([1, 2], "not_object"),
        ({"type": "something"}, "unknown_payload"),
        ({"type": "zen:event-type:user.active_changed"}, "ignored:user.active_changed"),
        ({"type": "zen:event-type:ticket.created", "id": "x"}, "no_ticket"),
        ({"type": "zen:event-type:ticket.created", "id": "x", "detail": {"id": "1"},
          "time": "yesterday"}, "bad_time"),
        ({"type": "ccpulse:satisfaction_rating", "score": "good"}, "no_ticket"),
    ], ids=["array", "unknown type", "user event", "no detail", "bad time", "rating no ticket"])
    def test_a_payload_that_cannot_be_mapped_is_skipped_by_reason(self, payload, reason):
        assert [s.reason for s in map_payload(payload, SETTINGS, SENT_US)] == [reason]


class TestSignature:
    BODY = b'{"type":"zen:event-type:ticket.created"}'
    STAMP = "2026-03-10T09:00:00Z"
    NOW = parse_us("2026-03-10T09:01:00Z")

    def test_the_signature_is_zendesks_documented_base64_hmac_of_timestamp_and_body(self):
        expected = base64.b64encode(hmac.new(SECRET, self.STAMP.encode() + self.BODY,
                                             hashlib.sha256).digest()).decode()
        assert sign(SECRET, self.STAMP, self.BODY) == expected

    def test_a_correct_signature_is_accepted(self):
        assert check_signature(SECRET, self.BODY, sign(SECRET, self.STAMP, self.BODY),
                               self.STAMP, self.NOW) is None

    @pytest.mark.parametrize(("change", "reason"), [
        ({"signature": None}, "no_signature"),
        ({"timestamp": None}, "no_signature"),
        ({"timestamp": "last tuesday"}, "bad_timestamp"),
        ({"now": parse_us("2026-03-10T09:05:01Z")}, "stale_timestamp"),
        ({"now": parse_us("2026-03-10T08:54:59Z")}, "stale_timestamp"),
        ({"body": b'{"type":"zen:event-type:ticket.deleted"}'}, "bad_signature"),
        ({"secret": b"another secret"}, "bad_signature"),
    ], ids=["missing signature", "missing timestamp", "bad timestamp", "stale",
            "from the future", "tampered body", "wrong secret"])
    def test_a_missing_wrong_or_stale_signature_is_rejected(self, change, reason):
        args = {"secret": SECRET, "body": self.BODY, "timestamp": self.STAMP,
                "now": self.NOW, "signature": sign(SECRET, self.STAMP, self.BODY)}
        args.update(change)
        assert check_signature(args["secret"], args["body"], args["signature"],
                               args["timestamp"], args["now"]) == reason


class TestSettings:
    def test_settings_are_read_and_unknown_keys_are_errors(self):
        got = parse_settings({"groups": {"1": " sales "}, "max_age_seconds": 60,
                              "signing_secret_file": "/x"})
        assert got == ZendeskSettings(60, {"1": "sales"}, "zendesk")
        with pytest.raises(ConfigError, match=r"connect\.zendesk\.group is not a setting"):
            parse_settings({"group": {}})
        with pytest.raises(ConfigError, match="max_age_seconds"):
            parse_settings({"max_age_seconds": 5})
