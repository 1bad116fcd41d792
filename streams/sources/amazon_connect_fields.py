"""Reading the fields Amazon Connect's records share: timestamps, queue names, agent ids.

Amazon Connect writes every timestamp as ISO 8601 in UTC, ``2019-08-13T20:58:44.031Z`` in agent
events and ``2021-02-03T17:25:14Z`` (or with milliseconds) in contact records (sources: "Contact
records data model" and "Agent event streams data model", Amazon Connect Administrator Guide,
https://docs.aws.amazon.com/connect/latest/adminguide/ctr-data-model.html and
https://docs.aws.amazon.com/connect/latest/adminguide/agent-event-stream-model.html).

A queue is named by its ``Name``; an agent event's queue of an agent's own queue has
``Name: null`` and a contact record's queue may lack a name, so the id at the end of the queue
ARN (``arn:aws:connect:…:instance/<instance>/queue/<queue-id>``) stands in, unless the
configuration names it. An *agent queue* (``…/queue/agent/<agent-id>``: where a quick-connect
transfer to one agent waits) would give one label per agent; they are all named
:data:`AGENT_QUEUE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from streams.core.timestamps import parse_us
from streams.sources.base import rfc3339_us

#: The one queue name of every agent's personal queue (quick-connect transfers to an agent).
AGENT_QUEUE: Final = "agent-queue"
#: What an event says it came from (the envelope's ``source``).
SOURCE: Final = "amazon-connect"


class FieldError(ValueError):
    """A field the mapping needs is missing or malformed; ``reason`` is the skip code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def time_us(record: Mapping[str, Any], key: str, *, where: str = "") -> int | None:
    """``record[key]`` (an ISO 8601 UTC timestamp) as epoch microseconds; None when absent or
    null. Raises :class:`FieldError` (``bad_time``) when it is there but unreadable."""
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FieldError("bad_time", f"{where}{key} is {value!r}, not a timestamp")
    try:
        return parse_us(value)
    except ValueError as exc:
        raise FieldError("bad_time", f"{where}{key}: {exc}") from None


def stamp(epoch_us: int) -> str:
    """Epoch microseconds as the contract's RFC 3339 ``occurred_at``."""
    return rfc3339_us(epoch_us)


def arn_id(arn: Any) -> str | None:
    """The last path component of an ARN (``…/queue/4e1f…`` → ``4e1f…``), None if not a str."""
    if not isinstance(arn, str) or not arn:
        return None
    return arn.rstrip("/").rsplit("/", 1)[-1] or None


def is_agent_queue(arn: Any) -> bool:
    """An agent's own queue (``…/queue/agent/<agent-id>``)."""
    return isinstance(arn, str) and "/queue/agent/" in arn


def queue_name(queue: Any, names: Mapping[str, str]) -> str | None:
    """The ccpulse queue of a ``Queue`` object (``{"ARN", "Name", …}``): :data:`AGENT_QUEUE`
    for an agent queue, else the configured name of its ARN or id, else ``Name``, else the ARN's
    id. None when the object names no queue at all."""
    if not isinstance(queue, Mapping):
        return None
    arn = queue.get("ARN")
    if is_agent_queue(arn):
        return AGENT_QUEUE
    qid = arn_id(arn) or (queue.get("Id") if isinstance(queue.get("Id"), str) else None)
    for key in (arn, qid):
        if isinstance(key, str) and key in names:
            return names[key]
    name = queue.get("Name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    return qid
