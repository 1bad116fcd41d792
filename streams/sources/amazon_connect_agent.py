"""One Amazon Connect agent event stream record as ``agent.state_changed`` (contract §1.4). Pure.

Source: "Agent event streams data model" and "About contact states", Amazon Connect
Administrator Guide (https://docs.aws.amazon.com/connect/latest/adminguide/agent-event-stream-model.html,
https://docs.aws.amazon.com/connect/latest/adminguide/about-contact-states.html).

``EventType`` ``LOGIN`` and ``STATE_CHANGE`` give the state of ``CurrentAgentSnapshot``,
``LOGOUT`` gives ``offline``; ``HEART_BEAT`` (every 120 s without another event, and for an hour
after logout) repeats the snapshot and is ignored. The state, in this order:

1. a contact in ``Contacts`` is ``CONNECTED``, ``CONNECTED_ONHOLD``, ``CONNECTING`` (ringing),
   ``INCOMING`` or ``PENDING`` (a callback offered or reserved) → ``on_contact``;
2. else one is ``ENDED`` (the agent is in ACW for it) → ``after_contact_work``;
3. else ``AgentStatus.Type``: ``ROUTABLE`` → ``available``, ``CUSTOM`` → ``not_ready`` with
   ``reason`` = ``AgentStatus.Name`` (Break, Training, …), ``OFFLINE`` → ``offline``.

``MISSED``, ``REJECTED`` and ``ERROR`` contacts occupy nobody. ``queues`` are the names of
``Configuration.RoutingProfile.InboundQueues`` (agent queues left out), sent with every event.
``agent_id`` is ``Configuration.Username`` (the ``Agent.Username`` of contact records), else the
id of ``AgentARN``. The event id is ``stable_id("connect", EventId)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from streams.sources.amazon_connect_fields import (
    SOURCE,
    FieldError,
    arn_id,
    is_agent_queue,
    queue_name,
    stamp,
    time_us,
)
from streams.sources.base import Mapped, Skipped, stable_id

EVENT_TYPES: Final = ("STATE_CHANGE", "LOGIN", "LOGOUT", "HEART_BEAT")
BUSY: Final = frozenset({"CONNECTED", "CONNECTED_ONHOLD", "CONNECTING", "INCOMING", "PENDING"})
STATUS_TYPES: Final = {"ROUTABLE": "available", "CUSTOM": "not_ready", "OFFLINE": "offline"}


def is_agent_event(obj: Mapping[str, Any]) -> bool:
    """Has the shape of an agent event stream record."""
    return "EventType" in obj and ("AgentARN" in obj or "CurrentAgentSnapshot" in obj)


def map_agent_event(record: Mapping[str, Any], queue_names: Mapping[str, str]) -> Mapped:
    """The ``agent.state_changed`` of one agent event (module docstring), or why none."""
    kind = record.get("EventType")
    event_id = record.get("EventId")
    if kind not in EVENT_TYPES:
        return [Skipped("unknown_event", f"agent event type {kind!r}")]
    if kind == "HEART_BEAT":
        return [Skipped("ignored:heart_beat", f"agent event {event_id}: no change")]
    if not isinstance(event_id, str) or not event_id:
        return [Skipped("no_event_id", f"a {kind} agent event without EventId")]
    try:
        at_us = time_us(record, "EventTimestamp")
    except FieldError as exc:
        return [Skipped(exc.reason, f"agent event {event_id}: {exc.detail}")]
    if at_us is None:
        return [Skipped("bad_time", f"agent event {event_id} has no EventTimestamp")]
    snapshot = record.get("CurrentAgentSnapshot")
    snapshot = snapshot if isinstance(snapshot, Mapping) else {}
    config = snapshot.get("Configuration")
    config = config if isinstance(config, Mapping) else {}
    agent_id = config.get("Username") or arn_id(record.get("AgentARN"))
    if not isinstance(agent_id, str) or not agent_id:
        return [Skipped("no_agent", f"agent event {event_id}: neither Username nor AgentARN")]
    event: dict[str, Any] = {"event_id": stable_id("connect", event_id),
                             "type": "agent.state_changed", "occurred_at": stamp(at_us),
                             "source": SOURCE, "agent_id": agent_id}
    if kind == "LOGOUT":
        event["state"] = "offline"
        return [event]
    state = _state(snapshot)
    if state is None:
        return [Skipped("unknown_status", f"agent event {event_id}: AgentStatus "
                                          f"{snapshot.get('AgentStatus')!r}")]
    event["state"], reason = state
    if reason:
        event["reason"] = reason
    queues = _queues(config, queue_names)
    if queues is not None:
        event["queues"] = queues
    return [event]


def _state(snapshot: Mapping[str, Any]) -> tuple[str, str | None] | None:
    contacts = snapshot.get("Contacts")
    states = {c.get("State") for c in contacts if isinstance(c, Mapping)} \
        if isinstance(contacts, list) else set()
    if states & BUSY:
        return "on_contact", None
    if "ENDED" in states:
        return "after_contact_work", None
    status = snapshot.get("AgentStatus")
    if not isinstance(status, Mapping):
        return None
    state = STATUS_TYPES.get(status.get("Type"))  # type: ignore[arg-type]
    name = status.get("Name")
    if state is None and isinstance(name, str) and name:
        # no Type (older records): the two built-in statuses by name, any other is custom
        state = {"Available": "available", "Offline": "offline"}.get(name, "not_ready")
    if state is None:
        return None
    return state, (name if state == "not_ready" and isinstance(name, str) and name else None)


def _queues(config: Mapping[str, Any], names: Mapping[str, str]) -> list[str] | None:
    profile = config.get("RoutingProfile")
    if not isinstance(profile, Mapping) or not isinstance(profile.get("InboundQueues"), list):
        return None
    out = {queue_name(q, names) for q in profile["InboundQueues"]
           if isinstance(q, Mapping) and not is_agent_queue(q.get("ARN"))}
    return sorted(q for q in out if q)
