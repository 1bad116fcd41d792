"""Chatwoot webhooks to contract events: pure functions, no I/O (the server is
:mod:`streams.sources.webhooks`; the user's page is docs/sources/webhooks.md).

Chatwoot posts one JSON object per event to ``POST /chatwoot`` (Settings > Integrations >
Webhooks; https://www.chatwoot.com/hc/user-guide/articles/1677693021-how-to-use-webhooks).
Shapes, from Chatwoot's source (``app/listeners/webhook_listener.rb``,
``app/presenters/conversations/event_data_presenter.rb``, ``Message#webhook_data`` in
``app/models/message.rb``):

- ``conversation_created`` / ``conversation_updated`` / ``conversation_status_changed``: the
  conversation itself -- ``id`` (the display id), ``account_id``, ``inbox_id``, ``channel``
  (``"Channel::WebWidget"``, ``"Channel::Email"``, ...), ``status`` (``open``, ``pending``,
  ``snoozed``, ``resolved``), ``priority`` (``low``, ``medium``, ``high``, ``urgent`` or null),
  ``meta.assignee`` (``{"id", "name", "type": "user"}`` or null), ``meta.sender`` (the
  contact), ``created_at`` (epoch seconds), ``updated_at`` (epoch seconds as a float, to the
  microsecond), and for the two updates ``changed_attributes``:
  ``[{"<attribute>": {"previous_value": ..., "current_value": ...}}, ...]``.
- ``message_created`` / ``message_updated``: the message -- ``id``, ``message_type``
  (``incoming``, ``outgoing``, ``activity``, ``template``), ``private``, ``content_type``,
  ``content_attributes``, ``created_at`` (RFC 3339 with milliseconds), ``sender``
  (``{"id", "type": "contact" | "user" | "agent_bot"}`` or null for automations),
  ``conversation`` (as above), ``account``, ``inbox``.
- A CSAT answer is a ``message_updated`` of the ``input_csat`` message whose
  ``content_attributes.submitted_values.csat_survey_response`` holds ``rating`` (1-5) and
  ``feedback_message``.

Chat or ticket: a conversation of an inbox whose ``channel`` is in ``ticket_channels``
(default ``Channel::Email``) is a ticket (``ticket.*``); every other channel is a chat
(``chat.*``). Queue: the inbox (``inboxes`` names them; else ``inbox-<id>``) -- the only
routing attribute every payload carries and that never changes for a conversation, so a chat's
outcome always names the queue its ``queued`` named.

Signatures (Chatwoot 4.11.2 and later, chatwoot/chatwoot#13573): ``X-Chatwoot-Signature:
sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with ``X-Chatwoot-Timestamp`` in epoch
seconds. Older Chatwoot signs nothing: the server then takes a secret token in the URL path.

Event ids derive from Chatwoot's ids and the payload's own times (``stable_id("cw", ...)``):
the same delivery twice publishes the same ids.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from streams.core.timestamps import format_us, parse_us
from streams.sources.base import Mapped, Skipped, stable_id

SIGNATURE_HEADER: Final = "X-Chatwoot-Signature"
TIMESTAMP_HEADER: Final = "X-Chatwoot-Timestamp"
MAX_AGE_S: Final = 300
CSAT_SCALE_MAX: Final = 5
TICKET_STATUS: Final = {"open": "open", "pending": "pending", "snoozed": "on_hold",
                        "resolved": "solved"}
PRIORITY: Final = {"low": "low", "medium": "normal", "high": "high", "urgent": "urgent"}
BOT_SENDERS: Final = frozenset({"agent_bot", "captain_assistant"})
CONFIG_KEYS: Final = ("signing_secret_file", "signing_secret", "url_token_file", "url_token",
                      "max_age_seconds", "inboxes", "ticket_channels")


@dataclass(frozen=True)
class ChatwootSettings:
    """``[connect.chatwoot]`` without the secrets (read by the server)."""

    max_age_s: int = MAX_AGE_S
    inboxes: Mapping[str, str] = field(default_factory=dict)
    ticket_channels: frozenset[str] = frozenset({"Channel::Email"})


def parse_settings(table: Mapping[str, Any]) -> ChatwootSettings:
    """Check ``[connect.chatwoot]``; raises :class:`~streams.errors.ConfigError` naming the key."""
    from streams.errors import ConfigError
    from streams.sources.settings import check_keys, names, whole_seconds

    check_keys("connect.chatwoot", table, CONFIG_KEYS)
    max_age = whole_seconds("connect.chatwoot.max_age_seconds",
                            table.get("max_age_seconds", MAX_AGE_S), 10, 3600)
    inboxes = names("connect.chatwoot.inboxes", table.get("inboxes", {}),
                    'inbox id = "queue name"')
    channels = table.get("ticket_channels", ["Channel::Email"])
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise ConfigError(f"connect.chatwoot.ticket_channels must be a list of Chatwoot "
                          f"channel types like \"Channel::Email\", got {channels!r}")
    return ChatwootSettings(max_age, inboxes, frozenset(channels))


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """Chatwoot's ``X-Chatwoot-Signature`` of ``body`` sent at ``timestamp`` (epoch seconds)."""
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body,
                                hashlib.sha256).hexdigest()


def check_signature(secret: bytes, body: bytes, signature: str | None, timestamp: str | None,
                    now_us: int, max_age_s: int = MAX_AGE_S) -> str | None:
    """``None`` when Chatwoot signed the request, else ``no_signature``, ``bad_timestamp``
    (not whole epoch seconds), ``stale_timestamp`` (more than ``max_age_s`` from ``now_us``)
    or ``bad_signature`` (constant-time comparison)."""
    if not signature or not timestamp:
        return "no_signature"
    if not timestamp.isdigit():
        return "bad_timestamp"
    if abs(now_us - int(timestamp) * 1_000_000) > max_age_s * 1_000_000:
        return "stale_timestamp"
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        return "bad_signature"
    return None


def map_payload(payload: Any, settings: ChatwootSettings) -> Mapped:
    """The contract events of one Chatwoot webhook body (JSON-decoded) and its skips.
    Never raises for bad input."""
    if not isinstance(payload, dict):
        return [Skipped("not_object", f"the body is a JSON {type(payload).__name__}")]
    event = payload.get("event")
    if event in _CONVERSATION:
        conv = _Conversation.of(payload, settings)
        if isinstance(conv, Skipped):
            return [conv]
        return _CONVERSATION[event](conv, payload)
    if event in ("message_created", "message_updated"):
        raw = payload.get("conversation")
        account = payload.get("account") if isinstance(payload.get("account"), dict) else {}
        if isinstance(raw, dict) and "account_id" not in raw and account.get("id") is not None:
            raw = {**raw, "account_id": account["id"]}
        conv = _Conversation.of(raw, settings)
        if isinstance(conv, Skipped):
            return [conv]
        if event == "message_created":
            return _message(conv, payload)
        return _message_updated(conv, payload)
    return [Skipped(f"ignored:{event}" if isinstance(event, str) else "unknown_payload",
                    "carries nothing ccpulse counts" if isinstance(event, str)
                    else "no \"event\" field")]


@dataclass(frozen=True)
class _Conversation:
    """One conversation's identity, kind, queue and current assignee."""

    data: Mapping[str, Any]
    id: str
    ticket: bool
    queue: str
    agent: str | None

    @staticmethod
    def of(data: Any, settings: ChatwootSettings) -> _Conversation | Skipped:
        if not isinstance(data, dict) or data.get("id") is None:
            return Skipped("no_conversation", "no conversation id in the payload")
        if data.get("account_id") is None:
            return Skipped("no_conversation", "no account id in the payload")
        inbox = str(data.get("inbox_id"))
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        assignee = meta.get("assignee") if isinstance(meta.get("assignee"), dict) else {}
        return _Conversation(data, f"cw-{data['account_id']}-{data['id']}",
                             data.get("channel") in settings.ticket_channels,
                             settings.inboxes.get(inbox) or f"inbox-{inbox}",
                             _id(assignee.get("id")))

    def event(self, kind: str, at_us: int, *parts: object, **fields: Any) -> dict[str, Any]:
        key = "ticket_id" if kind.startswith("ticket.") else "chat_id"
        body = {"event_id": stable_id("cw", self.id, kind, at_us, *parts), "type": kind,
                "occurred_at": format_us(at_us), "source": "chatwoot", key: self.id}
        body.update({k: v for k, v in fields.items() if v is not None})
        return body

    def updated_us(self) -> int | None:
        return _epoch_us(self.data.get("updated_at"))

    def customer(self) -> str | None:
        meta = self.data.get("meta") if isinstance(self.data.get("meta"), dict) else {}
        sender = meta.get("sender") if isinstance(meta.get("sender"), dict) else {}
        contact = _id(sender.get("id"))
        return f"cw-contact-{contact}" if contact else None


def _created(conv: _Conversation, payload: Mapping[str, Any]) -> Mapped:
    at = _epoch_us(conv.data.get("created_at"))
    if at is None:
        return [Skipped("bad_time", f"{conv.id}: created_at {conv.data.get('created_at')!r}")]
    if conv.ticket:
        out: Mapped = [conv.event("ticket.created", at, queue=conv.queue, channel="email",
                                  priority=PRIORITY.get(str(conv.data.get("priority"))),
                                  customer_id=conv.customer())]
        if conv.agent:
            out.append(conv.event("ticket.assigned", at, conv.agent, agent_id=conv.agent))
        return out
    out = [conv.event("chat.queued", at, queue=conv.queue, customer_id=conv.customer())]
    if conv.agent:
        out.append(conv.event("chat.answered", at, conv.agent, queue=conv.queue,
                              agent_id=conv.agent))
    return out


def _updated(conv: _Conversation, payload: Mapping[str, Any]) -> Mapped:
    changes = _changes(payload.get("changed_attributes"))
    at = conv.updated_us()
    if at is None:
        return [Skipped("bad_time", f"{conv.id}: updated_at {conv.data.get('updated_at')!r}")]
    out: Mapped = []
    if "assignee_id" in changes:
        before, after = (_id(v) for v in changes["assignee_id"])
        if after is None:
            out.append(Skipped("ignored:unassigned", f"{conv.id}: assignee removed"))
        elif conv.ticket:
            out.append(conv.event("ticket.assigned", at, after, agent_id=after))
        elif before is None:
            out.append(conv.event("chat.answered", at, after, queue=conv.queue, agent_id=after))
        else:
            out.append(conv.event("chat.transferred", at, before, after, agent_id=before,
                                  to_agent=after))
    if "priority" in changes and conv.ticket:
        out.append(conv.event("ticket.updated", at, "priority",
                              priority=PRIORITY.get(str(changes["priority"][1]), "normal")))
    return out or [Skipped("ignored:conversation_updated",
                           f"{conv.id}: changed {', '.join(sorted(changes)) or 'nothing'}")]


def _status(conv: _Conversation, payload: Mapping[str, Any]) -> Mapped:
    status = str(conv.data.get("status"))
    at = conv.updated_us()
    if at is None:
        return [Skipped("bad_time", f"{conv.id}: updated_at {conv.data.get('updated_at')!r}")]
    if conv.ticket:
        if status not in TICKET_STATUS:
            return [Skipped(f"ignored:status_{status}", f"{conv.id}: status {status!r}")]
        return [conv.event("ticket.status_changed", at, status, status=TICKET_STATUS[status])]
    if status != "resolved":
        return [Skipped(f"ignored:status_{status}", f"{conv.id}: a chat's status {status!r} "
                                                    "is no contract event")]
    if not conv.agent:
        return [Skipped("no_agent", f"{conv.id}: resolved without an assigned agent")]
    return [conv.event("chat.ended", at, conv.agent, agent_id=conv.agent),
            conv.event("chat.wrapup_ended", at, conv.agent, agent_id=conv.agent,
                       resolved=True)]


_CONVERSATION = {"conversation_created": _created, "conversation_updated": _updated,
                 "conversation_status_changed": _status}


def _message(conv: _Conversation, payload: Mapping[str, Any]) -> Mapped:
    message = _id(payload.get("id"))
    kind = payload.get("message_type")
    at = _epoch_us(payload.get("created_at"))
    if message is None or at is None:
        return [Skipped("bad_message", f"{conv.id}: message without id or created_at")]
    if kind == "activity":
        return [Skipped("ignored:activity", f"{conv.id}: activity message {message}")]
    sender = payload.get("sender") if isinstance(payload.get("sender"), dict) else {}
    if kind == "incoming":
        who = "customer"
    elif kind == "outgoing" and sender.get("type") == "user":
        who = "agent"
    elif kind in ("outgoing", "template"):
        who = "bot"
    else:
        return [Skipped("unknown_message_type", f"{conv.id}: message_type {kind!r}")]
    private = bool(payload.get("private"))
    if conv.ticket:
        return [conv.event("ticket.replied", at, message, author=who, public=not private,
                           agent_id=_id(sender.get("id")) if who == "agent" else None)]
    if private:
        return [Skipped("ignored:private_note", f"{conv.id}: private note {message}")]
    return [conv.event("chat.message", at, message, sender=who)]


def _message_updated(conv: _Conversation, payload: Mapping[str, Any]) -> Mapped:
    attributes = payload.get("content_attributes")
    submitted = attributes.get("submitted_values") if isinstance(attributes, dict) else None
    answer = submitted.get("csat_survey_response") if isinstance(submitted, dict) else None
    if payload.get("content_type") != "input_csat" or not isinstance(answer, dict):
        return [Skipped("ignored:message_updated", f"{conv.id}: not a CSAT answer")]
    rating = answer.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int | str) \
            or not str(rating).isdigit():
        return [Skipped("ignored:csat_without_rating", f"{conv.id}: rating {rating!r}")]
    at = conv.updated_us()
    if at is None:
        return [Skipped("bad_time", f"{conv.id}: updated_at {conv.data.get('updated_at')!r}")]
    key = "ticket_id" if conv.ticket else "contact_id"
    return [{"event_id": stable_id("cw", conv.id, "csat", payload.get("id"), rating),
             "type": "survey.responded", "occurred_at": format_us(at), "source": "chatwoot",
             "survey": "csat", "score": int(rating), "scale_max": CSAT_SCALE_MAX,
             "queue": conv.queue, key: conv.id,
             **({"agent_id": conv.agent} if conv.agent else {})}]


def _changes(raw: Any) -> dict[str, tuple[Any, Any]]:
    """``changed_attributes`` (a list of one-key tables, or one table) as attribute ->
    (previous, current)."""
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    out: dict[str, tuple[Any, Any]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        for name, change in item.items():
            if isinstance(change, dict):
                out[str(name)] = (change.get("previous_value"), change.get("current_value"))
    return out


def _epoch_us(value: Any) -> int | None:
    """Chatwoot's times: epoch seconds (integer or float) or RFC 3339 text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return round(value * 1_000_000) if value > 0 else None
    try:
        return parse_us(str(value))
    except ValueError:
        return None


def _id(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None
