"""What the kinds whose record is a sorted list of their events (``record["ev"]``) share.

Contacts and tickets keep each entity's events as named tuples whose first field is the event
time (``at_us``), with ``event_id`` and ``queue`` fields; the list is kept sorted by plain
tuple comparison. A kind built on this says only how an event becomes such a tuple, what the
list contributes, and when the entity expires.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streams.core.events import Event


class EventLogKind:
    """Shared behaviour; subclasses set ``late_after_us`` and implement the rest of
    :class:`~streams.core.entities.kinds.EntityKind`."""

    late_after_us: int

    def newest_us(self, record: dict[str, Any]) -> int:
        events = record["ev"]
        return events[-1][0] if events else 0  # [0]: at_us, the sort field

    def is_late(self, record: dict[str, Any] | None, event_us: int, stream_us: int) -> bool:
        """Late: older than the retention behind stream time, and not part of the kept entity:
        either none is kept, or the event lies more than the retention before the kept
        record's oldest event — it belongs to an earlier life of the entity that was (or, in
        another arrival order, would have been) dropped. So a chat idle since Monday gives the
        same Friday numbers whether Monday's lines arrive first or last."""
        if stream_us - event_us <= self.late_after_us:
            return False
        return record is None or record["ev"][0][0] - event_us > self.late_after_us

    def trim(self, record: dict[str, Any], stream_us: int) -> list[str]:
        return []  # an entity is kept or dropped whole

    def event_ids(self, record: dict[str, Any]) -> Iterable[str]:
        return (ev.event_id for ev in record["ev"])

    def queues_of(self, event: Event) -> Iterable[str]:
        queue = event.body.get("queue")
        return (queue,) if isinstance(queue, str) else ()

    def first_seen(self, record: dict[str, Any]) -> dict[str, int]:
        out: dict[str, int] = {}
        for ev in record["ev"]:  # time-sorted: the first naming a queue is the earliest
            if ev.queue is not None and ev.queue not in out:
                out[ev.queue] = ev.at_us
        return out
