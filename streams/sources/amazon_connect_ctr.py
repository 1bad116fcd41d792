"""One Amazon Connect contact record (CTR) as contract events (docs/contract.md §1.2). Pure.

Source of every field: "Contact records data model", Amazon Connect Administrator Guide
(https://docs.aws.amazon.com/connect/latest/adminguide/ctr-data-model.html); how records of one
customer chain: "Events in the contact record" (about-contact-states.html#ctr-events) and
"Example: Metrics for a queued callback" (queued-callback-example.html).

Connect writes one record per *contact*; a transfer or a callback starts a new contact with
``PreviousContactId`` → the old one, ``InitialContactId`` → the first. ccpulse's ``call_id`` /
``chat_id`` is ``InitialContactId`` (else ``ContactId``), so a chain is one ccpulse contact with
one queue segment per record that waited in a queue (contract §1.2, §3.3 AHT after a transfer).

A record that waited in ``Queue`` gives:

==========================================  ==================================================
``queued``                                  at ``Queue.EnqueueTimestamp`` in the queue
``answered`` (agent ``Agent.Username``)     at ``Queue.DequeueTimestamp`` when
                                            ``Agent.ConnectedToAgentTimestamp`` is set
``flowed_out`` ``callback``                 not connected, ``NextContactId`` set and
                                            ``DisconnectReason`` ``CONTACT_FLOW_DISCONNECT``
                                            (the queue flow made a callback and hung up)
``flowed_out`` ``overflow``                 not connected, ``NextContactId`` set otherwise
                                            (a flow moved it to another queue)
``flowed_out`` ``timeout``                  not connected, no next contact, the flow hung up
``abandoned``                               not connected, any other disconnect (the customer)
``hold_started`` / ``hold_ended`` (voice)   one span of ``CustomerHoldDuration`` s ending when
                                            the agent's conversation ended
``transferred``                             connected, and ``NextContactId`` or
                                            ``TransferredToEndpoint`` set
``ended``                                   ``Agent.AfterContactWorkStartTimestamp``, else
                                            ``DisconnectTimestamp``
``wrapup_ended``                            ``Agent.AfterContactWorkEndTimestamp``; the
                                            ``ended`` time when the record has no ACW at all;
                                            none while ACW has started but not ended
==========================================  ==================================================

Every event id is ``stable_id("connect", ContactId, kind)``: a record delivered again (Connect
delivers "at least once", and again when it is updated) gives the same ids, so what was sent
stays and only events new in the update (say ``wrapup_ended`` once ACW ended) are added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from streams.sources.amazon_connect_fields import (
    SOURCE,
    FieldError,
    arn_id,
    queue_name,
    stamp,
    time_us,
)
from streams.sources.base import Mapped, Skipped, stable_id

#: Channel → (event family, id field). TASK and EMAIL contacts are not contacts of §1.2.
FAMILIES: Final = {"VOICE": ("call", "call_id"), "CHAT": ("chat", "chat_id")}
#: Initiation methods that are not a customer reaching the centre (never offered).
NOT_OFFERED: Final = {"OUTBOUND": "ignored:outbound", "MONITOR": "ignored:monitor"}
FLOW_DISCONNECT: Final = "CONTACT_FLOW_DISCONNECT"
SECOND_US: Final = 1_000_000


def is_contact_record(obj: Mapping[str, Any]) -> bool:
    """Has the shape of a contact record (a ``ContactId`` or the CTR format version)."""
    return "ContactId" in obj or "AWSContactTraceRecordFormatVersion" in obj


def map_contact_record(ctr: Mapping[str, Any], queue_names: Mapping[str, str]) -> Mapped:
    """The contract events of one contact record (see the module docstring), or one
    :class:`Skipped` saying why it gives none."""
    contact_id = ctr.get("ContactId")
    if not isinstance(contact_id, str) or not contact_id:
        return [Skipped("no_contact_id", "a contact record without ContactId")]
    try:
        return _map(ctr, contact_id, queue_names)
    except FieldError as exc:
        return [Skipped(exc.reason, f"contact {contact_id}: {exc.detail}")]


def _map(ctr: Mapping[str, Any], contact_id: str, names: Mapping[str, str]) -> Mapped:
    channel = ctr.get("Channel")
    if channel not in FAMILIES:
        known = {"TASK": "ignored:task", "EMAIL": "ignored:email"}
        reason = known.get(channel, "unknown_channel") if isinstance(channel, str) else \
            "unknown_channel"
        return [Skipped(reason, f"contact {contact_id}: Channel {channel!r}")]
    family, id_field = FAMILIES[channel]
    method = ctr.get("InitiationMethod")
    if method in NOT_OFFERED or (method == "API" and channel == "VOICE"):
        return [Skipped(NOT_OFFERED.get(method, "ignored:outbound"),
                        f"contact {contact_id}: InitiationMethod {method} (not offered to a "
                        "queue by a customer)")]
    queue = ctr.get("Queue")
    enqueued = time_us(queue, "EnqueueTimestamp", where="Queue.") \
        if isinstance(queue, Mapping) else None
    if enqueued is None:
        return [Skipped("ignored:not_queued",
                        f"contact {contact_id} never waited in a queue (self-service, or "
                        "disconnected in the flow)")]
    qname = queue_name(queue, names)
    if qname is None:
        return [Skipped("no_queue", f"contact {contact_id}: Queue has neither Name nor ARN")]
    call_id = ctr.get("InitialContactId")
    if not isinstance(call_id, str) or not call_id:
        call_id = contact_id

    def event(kind: str, at_us: int, **fields: Any) -> dict[str, Any]:
        return {"event_id": stable_id("connect", contact_id, kind),
                "type": f"{family}.{kind}", "occurred_at": stamp(at_us), "source": SOURCE,
                id_field: call_id, **fields}

    assert isinstance(queue, Mapping)
    dequeued = time_us(queue, "DequeueTimestamp", where="Queue.")
    disconnected = time_us(ctr, "DisconnectTimestamp")
    agent = ctr.get("Agent") if isinstance(ctr.get("Agent"), Mapping) else None
    connected = time_us(agent, "ConnectedToAgentTimestamp", where="Agent.") if agent else None
    out: Mapped = [event("queued", enqueued, queue=qname)]
    if connected is None:
        left = dequeued if dequeued is not None else disconnected
        if left is not None:
            out.append(_unanswered(event, ctr, max(left, enqueued), qname))
        return out
    assert agent is not None
    agent_id = agent.get("Username") or arn_id(agent.get("ARN"))
    if not isinstance(agent_id, str) or not agent_id:
        raise FieldError("no_agent", "connected to an agent with neither Username nor ARN")
    answered = max(enqueued, dequeued if dequeued is not None else connected)
    out.append(event("answered", answered, queue=qname, agent_id=agent_id))
    acw_start = time_us(agent, "AfterContactWorkStartTimestamp", where="Agent.")
    acw_end = time_us(agent, "AfterContactWorkEndTimestamp", where="Agent.")
    talk_end = acw_start if acw_start is not None else disconnected
    if talk_end is None:
        return out  # still talking as far as this delivery says
    talk_end = max(talk_end, answered)
    if family == "call":
        out.extend(_hold(event, agent, answered, talk_end, agent_id))
    if _transferred(ctr):
        out.append(event("transferred", talk_end, agent_id=agent_id))
    out.append(event("ended", talk_end, agent_id=agent_id))
    if acw_end is not None:
        out.append(event("wrapup_ended", max(acw_end, talk_end), agent_id=agent_id))
    elif acw_start is None:
        out.append(event("wrapup_ended", talk_end, agent_id=agent_id))  # no ACW at all
    return out


def _unanswered(event: Any, ctr: Mapping[str, Any], left_us: int, qname: str) -> dict[str, Any]:
    """The outcome of a segment that left its queue without an agent."""
    flow_hung_up = ctr.get("DisconnectReason") == FLOW_DISCONNECT
    if isinstance(ctr.get("NextContactId"), str) and ctr.get("NextContactId"):
        return event("flowed_out", left_us, queue=qname,
                     reason="callback" if flow_hung_up else "overflow")
    if flow_hung_up:
        return event("flowed_out", left_us, queue=qname, reason="timeout")
    return event("abandoned", left_us, queue=qname)


def _hold(event: Any, agent: Mapping[str, Any], answered_us: int, talk_end_us: int,
          agent_id: str) -> list[dict[str, Any]]:
    """``CustomerHoldDuration`` (whole seconds, all holds together) as one span that ends when
    the conversation ends: the record has no hold times, and no ccpulse KPI needs them (hold
    is part of talk + hold in AHT, contract §3.3)."""
    seconds = agent.get("CustomerHoldDuration")
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        return []
    start = max(answered_us, talk_end_us - seconds * SECOND_US)
    if start >= talk_end_us:
        return []
    return [event("hold_started", start, agent_id=agent_id),
            event("hold_ended", talk_end_us, agent_id=agent_id)]


def _transferred(ctr: Mapping[str, Any]) -> bool:
    """The agent handed the contact on: to another contact (a quick-connect transfer to a queue
    or an agent) or out of Connect (``TransferredToEndpoint``)."""
    return bool(ctr.get("NextContactId")) or bool(ctr.get("TransferredToEndpoint")) or \
        bool(ctr.get("TransferCompletedTimestamp"))
