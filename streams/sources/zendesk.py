"""Zendesk webhooks to contract events: pure functions, no I/O (the server is
:mod:`streams.sources.webhooks`; the user's page is docs/sources/webhooks.md).

Two kinds of request body arrive at ``POST /zendesk``:

- **Ticket event webhooks** (Admin Center > Webhooks, subscribed to ticket events), one event
  per request: ``{"type": "zen:event-type:ticket.<name>", "id": "<event uuid>", "time":
  "<RFC 3339, up to nanoseconds>", "subject": "zen:ticket:<id>", "detail": {<the ticket after
  the change: id, status, priority, group_id, assignee_id, requester_id, type, tags,
  via.channel, created_at, ...>}, "event": {<what changed>}}`` (Zendesk developer docs,
  "Webhook event types" and "Ticket events",
  https://developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/ and
  https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/). ``status``,
  ``priority`` and ``type`` come in upper case (``"OPEN"``, ``"HIGH"``).
- **Satisfaction ratings**, which ticket events do not carry: a trigger ("Satisfaction is Bad
  / Good") notifying the same webhook with a JSON body of ours:
  ``{"type": "ccpulse:satisfaction_rating", "ticket_id": "{{ticket.id}}", "score":
  "{{satisfaction.current_rating}}", "group_id": "{{ticket.group.id}}", "assignee_id":
  "{{ticket.assignee.id}}"}``. Zendesk's rating is ``good`` or ``bad`` (Satisfaction Ratings
  API, https://developer.zendesk.com/api-reference/ticketing/ticket-management/satisfaction_ratings/).

Every request is signed: ``X-Zendesk-Webhook-Signature`` is
``base64(HMAC-SHA256(secret, timestamp + body))`` with the timestamp of
``X-Zendesk-Webhook-Signature-Timestamp`` (Zendesk developer docs, "Verifying webhook
authenticity", https://developer.zendesk.com/documentation/webhooks/verifying/).

Event ids: ``stable_id("zd", <Zendesk event id>, <role>)``, so a delivery retried by Zendesk
(same event id) publishes the same ids. A satisfaction rating has no event id: its id is
derived from the ticket and the rating, so a customer changing *bad* to *good* is a second
response (the contract has no "response changed").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from streams.core.timestamps import format_us, parse_us
from streams.sources.base import Mapped, Skipped, stable_id

SIGNATURE_HEADER: Final = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER: Final = "X-Zendesk-Webhook-Signature-Timestamp"
#: Default largest age (either way) of a signature timestamp, in seconds.
MAX_AGE_S: Final = 300
SATISFACTION_TYPE: Final = "ccpulse:satisfaction_rating"
EVENT_PREFIX: Final = "zen:event-type:ticket."

#: Zendesk ticket status (upper case in event webhooks) -> contract status; others are skipped.
STATUS: Final = {"new": "open", "open": "open", "pending": "pending", "hold": "on_hold",
                 "solved": "solved", "closed": "closed"}
PRIORITY: Final = {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"}
#: Zendesk ``via.channel`` -> contract ticket channel (Zendesk "Via object reference").
CHANNEL: Final = {"email": "email", "web": "web", "web_form": "web", "web_widget": "web",
                  "help_center": "web", "api": "web", "mobile": "web", "mobile_sdk": "web",
                  "voice": "phone", "phone": "phone", "sms": "phone", "chat": "chat",
                  "chat_transcript": "chat", "native_messaging": "chat", "messaging": "chat",
                  "whatsapp": "social", "facebook": "social", "twitter": "social",
                  "instagram_dm": "social", "line": "social", "wechat": "social",
                  "telegram": "social"}
#: A satisfaction rating on ccpulse's CSAT scale 1-5: good is satisfied, bad is not.
CSAT_SCALE_MAX: Final = 5
CSAT_SCORE: Final = {"good": 5, "bad": 1}
CONFIG_KEYS: Final = ("signing_secret_file", "signing_secret", "max_age_seconds", "groups",
                      "default_queue")


@dataclass(frozen=True)
class ZendeskSettings:
    """``[connect.zendesk]`` without the secret (read by the server): the signature window,
    queue names by group id, and the queue of a ticket with no group."""

    max_age_s: int = MAX_AGE_S
    groups: Mapping[str, str] = field(default_factory=dict)
    default_queue: str = "zendesk"


def parse_settings(table: Mapping[str, Any]) -> ZendeskSettings:
    """Check ``[connect.zendesk]``; raises :class:`~streams.errors.ConfigError` naming the key."""
    from streams.errors import ConfigError
    from streams.sources.settings import check_keys, names, whole_seconds

    check_keys("connect.zendesk", table, CONFIG_KEYS)
    max_age = whole_seconds("connect.zendesk.max_age_seconds",
                            table.get("max_age_seconds", MAX_AGE_S), 10, 3600)
    groups = names("connect.zendesk.groups", table.get("groups", {}),
                   'group id = "queue name"')
    default = table.get("default_queue", "zendesk")
    if not isinstance(default, str) or not default.strip():
        raise ConfigError(f"connect.zendesk.default_queue must be a queue name, got "
                          f"{default!r}")
    return ZendeskSettings(max_age, groups, default.strip())


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """Zendesk's signature of ``body`` sent at ``timestamp``: base64 of HMAC-SHA256."""
    digest = hmac.new(secret, timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_signature(secret: bytes, body: bytes, signature: str | None, timestamp: str | None,
                    now_us: int, max_age_s: int = MAX_AGE_S) -> str | None:
    """``None`` when the request is Zendesk's, else the rejection reason: ``no_signature``,
    ``bad_timestamp`` (not RFC 3339), ``stale_timestamp`` (more than ``max_age_s`` from
    ``now_us``, either way: a replayed request) or ``bad_signature`` (compared in constant
    time; a tampered body or the wrong secret)."""
    if not signature or not timestamp:
        return "no_signature"
    try:
        sent_us = parse_us(timestamp)
    except ValueError:
        return "bad_timestamp"
    if abs(now_us - sent_us) > max_age_s * 1_000_000:
        return "stale_timestamp"
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        return "bad_signature"
    return None


def map_payload(payload: Any, settings: ZendeskSettings, sent_us: int) -> Mapped:
    """The contract events of one Zendesk webhook body (already JSON-decoded) and its skips.

    ``sent_us`` is the signature timestamp (epoch microseconds): the time of a satisfaction
    rating, whose body has none. Never raises for bad input.
    """
    if not isinstance(payload, dict):
        return [Skipped("not_object", f"the body is a JSON {type(payload).__name__}")]
    kind = payload.get("type")
    if kind == SATISFACTION_TYPE:
        return _satisfaction(payload, settings, sent_us)
    if not isinstance(kind, str) or not kind.startswith("zen:event-type:"):
        return [Skipped("unknown_payload", f"type {kind!r} is neither a Zendesk event nor "
                                           f"{SATISFACTION_TYPE!r}")]
    if not kind.startswith(EVENT_PREFIX):
        return [Skipped(f"ignored:{kind.removeprefix('zen:event-type:')}",
                        "not a ticket event")]
    detail = payload.get("detail")
    event = payload.get("event") if isinstance(payload.get("event"), dict) else {}
    event_id = payload.get("id")
    if not isinstance(detail, dict) or not _text(detail.get("id")) or not _text(event_id):
        return [Skipped("no_ticket", "a ticket event without detail.id or id")]
    try:
        at = format_us(parse_us(str(payload.get("time"))))
    except ValueError:
        return [Skipped("bad_time", f"time {payload.get('time')!r} is not RFC 3339")]
    ticket = _Ticket(detail, settings, str(event_id), at)
    name = kind.removeprefix(EVENT_PREFIX)
    handler = _HANDLERS.get(name)
    if handler is None:
        return [Skipped(f"ignored:ticket.{name}", "carries nothing ccpulse counts")]
    return handler(ticket, event)


class _Ticket:
    """The ticket of one event (its ``detail``) and the envelope every event of it shares."""

    def __init__(self, detail: Mapping[str, Any], settings: ZendeskSettings, event_id: str,
                 at: str) -> None:
        self.detail = detail
        self.id = f"zd-{detail['id']}"
        self.event_id = event_id
        self.at = at
        group = _text(detail.get("group_id"))
        self.queue = (settings.groups.get(group) or f"group-{group}") if group \
            else settings.default_queue
        self.priority = PRIORITY.get(str(detail.get("priority") or "normal").lower(), "normal")
        kind = _text(detail.get("type"))
        self.category = kind.lower() if kind else None

    def event(self, role: str, kind: str, **fields: Any) -> dict[str, Any]:
        body = {"event_id": stable_id("zd", self.event_id, role), "type": kind,
                "occurred_at": self.at, "source": "zendesk", "ticket_id": self.id}
        body.update({k: v for k, v in fields.items() if v is not None})
        return body

    def attributes(self) -> dict[str, Any]:
        return self.event("updated", "ticket.updated", queue=self.queue,
                          priority=self.priority, category=self.category)


def _created(ticket: _Ticket, event: Mapping[str, Any]) -> Mapped:
    d = ticket.detail
    via = d.get("via") if isinstance(d.get("via"), dict) else {}
    channel = CHANNEL.get(str(via.get("channel") or "").lower(), "other")
    out: Mapped = [ticket.event("created", "ticket.created", queue=ticket.queue, channel=channel,
                                priority=ticket.priority, category=ticket.category,
                                customer_id=_prefixed("zd-user-", d.get("requester_id")))]
    agent = _text(d.get("assignee_id"))
    if agent:
        out.append(ticket.event("assigned", "ticket.assigned", agent_id=agent))
    status = STATUS.get(str(d.get("status") or "").lower())
    if status not in (None, "open"):
        out.append(ticket.event("status", "ticket.status_changed", status=status))
    return out


def _assignment(ticket: _Ticket, event: Mapping[str, Any]) -> Mapped:
    agent = _text(event.get("current"))
    if not agent:
        return [Skipped("ignored:unassigned", f"{ticket.id}: assignee removed")]
    return [ticket.event("assigned", "ticket.assigned", agent_id=agent)]


def _status(ticket: _Ticket, event: Mapping[str, Any]) -> Mapped:
    raw = str(event.get("current") or ticket.detail.get("status") or "")
    status = STATUS.get(raw.lower())
    if status is None:
        return [Skipped(f"ignored:status_{raw.lower() or 'none'}",
                        f"{ticket.id}: status {raw!r} has no contract status")]
    return [ticket.event("status", "ticket.status_changed", status=status)]


def _comment(ticket: _Ticket, event: Mapping[str, Any]) -> Mapped:
    comment = event.get("comment")
    if not isinstance(comment, dict):
        return [Skipped("no_comment", f"{ticket.id}: comment_added without event.comment")]
    if _same_second(ticket.at, ticket.detail.get("created_at")):
        return [Skipped("ignored:first_comment", f"{ticket.id}: the ticket's description "
                                                 "(ticket.created is its first message)")]
    author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
    staff = bool(author.get("is_staff"))
    public = comment.get("is_public")
    return [ticket.event("replied", "ticket.replied", author="agent" if staff else "customer",
                         public=bool(public) if public is not None else True,
                         agent_id=_text(author.get("id")) if staff else None)]


def _attributes(ticket: _Ticket, event: Mapping[str, Any]) -> Mapped:
    return [ticket.attributes()]


_HANDLERS = {
    "created": _created,
    "agent_assignment_changed": _assignment,
    "status_changed": _status,
    "comment_added": _comment,
    "priority_changed": _attributes,
    "group_assignment_changed": _attributes,
    "ticket_type_changed": _attributes,
}


def _satisfaction(payload: Mapping[str, Any], settings: ZendeskSettings, sent_us: int) -> Mapped:
    ticket = _text(payload.get("ticket_id"))
    score = str(payload.get("score") or "").strip().lower()
    if not ticket:
        return [Skipped("no_ticket", "a satisfaction rating without ticket_id")]
    if score not in CSAT_SCORE:
        return [Skipped(f"ignored:rating_{score or 'none'}",
                        f"zd-{ticket}: score {payload.get('score')!r} is not good or bad")]
    group = _text(payload.get("group_id"))
    queue = settings.groups.get(group) or f"group-{group}" if group else None
    return [{"event_id": stable_id("zd", "csat", ticket, score), "type": "survey.responded",
             "occurred_at": format_us(sent_us), "source": "zendesk", "survey": "csat",
             "score": CSAT_SCORE[score], "scale_max": CSAT_SCALE_MAX,
             "ticket_id": f"zd-{ticket}",
             **({"queue": queue} if queue else {}),
             **({"agent_id": a} if (a := _text(payload.get("assignee_id"))) else {})}]


def _text(value: Any) -> str | None:
    """An id as text; ``None`` for absent, empty, ``0`` and unfilled placeholders."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return None if text in ("", "0", "null") or text.startswith("{{") else text


def _prefixed(prefix: str, value: Any) -> str | None:
    text = _text(value)
    return prefix + text if text else None


def _same_second(at: str, created: Any) -> bool:
    try:
        return parse_us(at) // 1_000_000 == parse_us(str(created)) // 1_000_000
    except ValueError:
        return False


__all__ = ["CHANNEL", "CSAT_SCORE", "STATUS", "ZendeskSettings", "check_signature",
           "map_payload", "parse_settings", "sign"]
