"""Chatwoot webhooks to contract events (``streams.sources.chatwoot``).

The fixtures are a web-widget chat and an email conversation as Chatwoot posts them (shapes
from Chatwoot's ``app/listeners/webhook_listener.rb``, ``Conversations::EventDataPresenter``
and ``Message#webhook_data``; the CSAT answer as ``content_attributes.submitted_values.
csat_survey_response``); the signature is ``sha256=`` hex HMAC-SHA256 of
``"<timestamp>.<body>"`` (chatwoot/chatwoot#13573).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from streams.core.timestamps import parse_us
from streams.errors import ConfigError
from streams.sources.base import Skipped
from streams.sources.chatwoot import (
    ChatwootSettings,
    check_signature,
    map_payload,
    parse_settings,
    sign,
)
from streams.validation import Invalid, decode_obj

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "chatwoot"
SETTINGS = ChatwootSettings(inboxes={"3": "web-chat"})
NOW_US = parse_us("2026-03-11T00:00:00Z")
SECRET = b"chatwoot-webhook-secret"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def mapped(name: str, settings: ChatwootSettings = SETTINGS) -> list[Any]:
    out = map_payload(fixture(name), settings)
    for item in out:
        if not isinstance(item, Skipped):
            assert not isinstance(decode_obj(item, NOW_US), Invalid), item
    return out


def fields(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("event_id", "source")}


def reasons(out: list[Any]) -> list[str]:
    return [s.reason for s in out if isinstance(s, Skipped)]


class TestChats:
    def test_a_new_web_chat_is_queued_in_its_inbox_at_its_creation_second(self):
        [event] = mapped("01-chat-conversation-created.json")
        assert fields(event) == {"type": "chat.queued", "chat_id": "cw-1-42",
                                 "queue": "web-chat", "customer_id": "cw-contact-51",
                                 "occurred_at": "2026-03-10T09:00:00Z"}

    def test_an_inbox_without_a_name_is_inbox_id(self):
        [event] = mapped("01-chat-conversation-created.json", ChatwootSettings())
        assert event["queue"] == "inbox-3"

    @pytest.mark.parametrize(("name", "sender"), [
        ("02-chat-message-incoming.json", "customer"),
        ("03-chat-bot-message.json", "bot"),
        ("05-chat-message-agent.json", "agent"),
    ], ids=["contact", "agent bot", "agent"])
    def test_a_message_is_a_chat_message_by_its_sender_to_the_millisecond(self, name, sender):
        [event] = mapped(name)
        assert event["type"] == "chat.message" and event["sender"] == sender
        assert event["occurred_at"] == fixture(name)["created_at"]

    def test_notes_and_activity_messages_are_skipped(self):
        assert reasons(mapped("06-chat-private-note.json")) == ["ignored:private_note"]
        assert reasons(mapped("07-chat-activity.json")) == ["ignored:activity"]

    def test_the_first_assignment_answers_the_chat_at_the_microsecond_of_the_update(self):
        [event] = mapped("04-chat-assigned.json")
        assert fields(event) == {"type": "chat.answered", "chat_id": "cw-1-42",
                                 "queue": "web-chat", "agent_id": "7",
                                 "occurred_at": "2026-03-10T09:00:24.318251Z"}

    def test_a_reassignment_is_a_transfer_and_an_unassignment_is_skipped(self):
        payload = fixture("04-chat-assigned.json")
        payload["changed_attributes"] = [
            {"assignee_id": {"previous_value": 7, "current_value": 9}}]
        [event] = map_payload(payload, SETTINGS)
        assert (event["type"], event["agent_id"], event["to_agent"]) == \
            ("chat.transferred", "7", "9")
        payload["changed_attributes"] = [
            {"assignee_id": {"previous_value": 7, "current_value": None}}]
        assert reasons(map_payload(payload, SETTINGS)) == ["ignored:unassigned"]

    def test_a_resolved_chat_ends_and_wraps_up_resolved_by_its_agent(self):
        ended, wrapped = mapped("08-chat-resolved.json")
        assert fields(ended) == {"type": "chat.ended", "chat_id": "cw-1-42", "agent_id": "7",
                                 "occurred_at": "2026-03-10T09:05:12.654321Z"}
        assert fields(wrapped) == {**fields(ended), "type": "chat.wrapup_ended",
                                   "resolved": True}

    def test_a_chat_resolved_without_an_agent_or_set_pending_is_skipped(self):
        payload = fixture("08-chat-resolved.json")
        payload["meta"]["assignee"] = None
        assert reasons(map_payload(payload, SETTINGS)) == ["no_agent"]
        payload["status"] = "pending"
        assert reasons(map_payload(payload, SETTINGS)) == ["ignored:status_pending"]

    def test_a_csat_answer_is_a_survey_response_on_a_five_point_scale(self):
        [event] = mapped("09-chat-csat-response.json")
        assert fields(event) == {"type": "survey.responded", "survey": "csat", "score": 4,
                                 "scale_max": 5, "queue": "web-chat", "contact_id": "cw-1-42",
                                 "agent_id": "7", "occurred_at": "2026-03-10T09:06:40.100001Z"}

    def test_other_message_updates_are_skipped(self):
        payload = fixture("09-chat-csat-response.json")
        payload["content_attributes"] = {}
        assert reasons(map_payload(payload, SETTINGS)) == ["ignored:message_updated"]


class TestEmailTickets:
    def test_an_email_conversation_is_a_ticket_with_its_priority(self):
        [event] = mapped("10-email-conversation-created.json")
        assert fields(event) == {"type": "ticket.created", "ticket_id": "cw-1-43",
                                 "queue": "inbox-5", "channel": "email", "priority": "high",
                                 "customer_id": "cw-contact-51",
                                 "occurred_at": "2026-03-10T09:00:00Z"}

    def test_messages_assignment_and_resolution_are_ticket_events(self):
        [incoming] = mapped("11-email-message-incoming.json")
        [assigned] = mapped("12-email-assigned.json")
        [reply] = mapped("13-email-agent-reply.json")
        [solved] = mapped("14-email-resolved.json")
        assert (incoming["type"], incoming["author"]) == ("ticket.replied", "customer")
        assert (assigned["type"], assigned["agent_id"]) == ("ticket.assigned", "7")
        assert (reply["author"], reply["public"], reply["agent_id"]) == ("agent", True, "7")
        assert (solved["type"], solved["status"]) == ("ticket.status_changed", "solved")

    def test_a_private_note_on_an_email_ticket_is_a_private_agent_reply(self):
        payload = fixture("13-email-agent-reply.json")
        payload["private"] = True
        [event] = map_payload(payload, SETTINGS)
        assert (event["author"], event["public"]) == ("agent", False)

    def test_ticket_channels_decide_what_is_a_ticket(self):
        settings = ChatwootSettings(ticket_channels=frozenset({"Channel::WebWidget"}))
        [event] = mapped("01-chat-conversation-created.json", settings)
        assert event["type"] == "ticket.created" and event["channel"] == "email"

    @pytest.mark.parametrize(("status", "contract"), [
        ("open", "open"), ("pending", "pending"), ("snoozed", "on_hold"),
        ("resolved", "solved")], ids=lambda v: v)
    def test_every_chatwoot_status_maps_to_a_ticket_status(self, status, contract):
        payload = fixture("14-email-resolved.json")
        payload["status"] = status
        [event] = map_payload(payload, SETTINGS)
        assert event["status"] == contract


class TestIdsAndBadInput:
    def test_the_same_delivery_twice_gives_the_same_events_and_all_ids_differ(self):
        ids = []
        for path in sorted(FIXTURES.glob("*.json")):
            first = map_payload(json.loads(path.read_text()), SETTINGS)
            assert first == map_payload(json.loads(path.read_text()), SETTINGS)
            ids += [e["event_id"] for e in first if isinstance(e, dict)]
        assert len(ids) == len(set(ids)) == 13

    @pytest.mark.parametrize(("payload", "reason"), [
        ("text", "not_object"),
        ({"id": 1}, "unknown_payload"),
        ({"event": "contact_created"}, "ignored:contact_created"),
        ({"event": "conversation_created", "account_id": 1}, "no_conversation"),
        ({"event": "conversation_created", "id": 5, "account_id": 1, "created_at": "soon"},
         "bad_time"),
        ({"event": "message_created", "conversation": {"id": 5, "account_id": 1},
          "id": 9, "created_at": "2026-03-10T09:00:00.000Z", "message_type": "weird"},
         "unknown_message_type"),
    ], ids=["text", "no event", "contact event", "no id", "bad time", "message type"])
    def test_a_payload_that_cannot_be_mapped_is_skipped_by_reason(self, payload, reason):
        assert reasons(map_payload(payload, SETTINGS)) == [reason]


class TestSignature:
    BODY = b'{"event":"message_created"}'
    STAMP = "1773133200"
    NOW = 1773133230 * 1_000_000

    def test_the_signature_is_sha256_hex_hmac_of_timestamp_dot_body(self):
        digest = hmac.new(SECRET, b"1773133200." + self.BODY, hashlib.sha256).hexdigest()
        assert sign(SECRET, self.STAMP, self.BODY) == f"sha256={digest}"
        assert check_signature(SECRET, self.BODY, f"sha256={digest}", self.STAMP,
                               self.NOW) is None

    @pytest.mark.parametrize(("change", "reason"), [
        ({"signature": None}, "no_signature"),
        ({"timestamp": "2026-03-10T09:00:00Z"}, "bad_timestamp"),
        ({"now": (1773133200 + 301) * 1_000_000}, "stale_timestamp"),
        ({"body": b'{"event":"message_updated"}'}, "bad_signature"),
        ({"secret": b"nope"}, "bad_signature"),
    ], ids=["missing", "not epoch seconds", "stale", "tampered body", "wrong secret"])
    def test_a_missing_wrong_or_stale_signature_is_rejected(self, change, reason):
        args = {"secret": SECRET, "body": self.BODY, "timestamp": self.STAMP,
                "now": self.NOW, "signature": sign(SECRET, self.STAMP, self.BODY)}
        args.update(change)
        assert check_signature(args["secret"], args["body"], args["signature"],
                               args["timestamp"], args["now"]) == reason


def test_settings_are_checked_and_name_the_key():
    assert parse_settings({"inboxes": {"3": "web"}}).inboxes == {"3": "web"}
    with pytest.raises(ConfigError, match=r"connect\.chatwoot\.ticket_channels"):
        parse_settings({"ticket_channels": "Channel::Email"})
    with pytest.raises(ConfigError, match=r"connect\.chatwoot\.teams is not a setting"):
        parse_settings({"teams": {}})
