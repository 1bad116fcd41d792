"""The entity-kind interface and the registry of kinds the engine keeps state for.

An entity kind (contact, agent, ticket, ...) owns one or more event families and says, for
its entities: the key of an event's entity, how an event changes the entity's record, what
the record contributes to the KPIs, how long the record is kept (in stream time), and how a
persisted record is read back — including records written by an older release (``version``).
The engine names no family: adding a kind is one module plus one line in :data:`KINDS`.

Records are plain dicts. The engine adds three envelope keys of its own: ``kind`` (the kind's
``name``), ``v`` (the record format version) and ``p`` (the engine's partition); the rest is
the kind's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from streams.core.config import Config
from streams.core.contributions import Contribution
from streams.core.entities.agent import AgentKind
from streams.core.entities.contact import ContactKind
from streams.core.entities.customer import CustomerKind
from streams.core.entities.feedback import FeedbackKind
from streams.core.entities.ticket import TicketKind
from streams.core.events import TOPIC_OF_FAMILY, Event

Record = dict[str, Any]


class EntityKind(Protocol):
    """What the engine needs of a kind. Times are epoch microseconds; "stream time" is the
    newest event time the engine has applied (docs/contract.md §2)."""

    name: str  #: persisted in every record as ``kind``
    families: tuple[str, ...]  #: event families (the part of ``type`` before the dot)
    version: int  #: format version of the records this release writes
    #: No event younger than this behind stream time is late (the engine asks
    #: :meth:`is_late` only for older ones).
    late_after_us: int

    def key(self, event: Event) -> str:
        """The entity's key, unique across kinds (``call:c1``, ``agent:a7``)."""
        ...

    def new_record(self, event: Event) -> Record:
        """An empty record for the entity ``event`` belongs to."""
        ...

    def add(self, record: Record, event: Event) -> str | None:
        """Put ``event`` into ``record`` (in place), keeping its deterministic order; returns
        ``None``, or why the event adds nothing ("duplicate" of state the kind folded, "late"):
        a customer's copy of a folded event (streams.core.entities.customer)."""
        ...

    def contributions(self, record: Record, config: Config) -> list[Contribution]:
        """Everything the entity contributes to the KPIs: a pure function of the record."""
        ...

    def newest_us(self, record: Record) -> int:
        """Event time of the newest event in the record."""
        ...

    def expired(self, record: Record, stream_us: int) -> bool:
        """Whether the entity is past its retention at ``stream_us``: then it is gone."""
        ...

    # Optional: ``expires_us(record) -> int | None``, the stream time after which
    # :meth:`expired` holds, a function of the record alone (``None``: not by time). A prune
    # visits such a kind's entities only when due; the others' at every prune. A kind whose
    # :meth:`trim` releases part of a kept record also has ``trim_due_us(record)``, the stream
    # time after which the trim has something to drop: its entities are due at the earlier
    # of the two (customers fold old events, streams.core.entities.customer).
    #
    # ``add`` may return ``"duplicate"`` or ``"late"`` instead of None: the event was taken
    # in but adds nothing (a customer's copy of an event it folded); the engine counts it so.

    def is_late(self, record: Record | None, event_us: int, stream_us: int) -> bool:
        """Whether an event at ``event_us`` is too old to change anything (``record`` is the
        entity's live record, or ``None``)."""
        ...

    def trim(self, record: Record, stream_us: int) -> list[str]:
        """Drop history past its retention from a kept record; returns the ids of the events
        dropped (none: the record is unchanged)."""
        ...

    def event_ids(self, record: Record) -> Iterable[str]:
        """The ids of the events in the record (for de-duplication after a restore)."""
        ...

    def queues_of(self, event: Event) -> Iterable[str]:
        """Queues the event names (for the ``max_queues`` label admission)."""
        ...

    def first_seen(self, record: Record) -> dict[str, int]:
        """Queue -> earliest event time in the record that names it."""
        ...

    def restore(self, record: Record, version: int) -> Record:
        """The in-memory form of a decoded persisted record of format ``version`` (without the
        envelope keys), upgrading older formats."""
        ...


#: Every kind the engine keeps state for.
KINDS: tuple[EntityKind, ...] = (ContactKind(), AgentKind(), TicketKind(), FeedbackKind(),
                                  CustomerKind())

KIND_OF_FAMILY: dict[str, EntityKind] = {f: kind for kind in KINDS for f in kind.families}
KIND_BY_NAME: dict[str, EntityKind] = {kind.name: kind for kind in KINDS}

#: Source topics (default names) whose events change entity state.
STATEFUL_TOPICS: tuple[str, ...] = tuple(
    dict.fromkeys(TOPIC_OF_FAMILY[f] for kind in KINDS for f in kind.families))


def kind_of_legacy_record(record: Record) -> EntityKind:
    """The kind of a format-1 record (written before records carried their kind)."""
    if "tl" in record:
        return KIND_BY_NAME["agent"]
    if record.get("kind") == "ticket":
        return KIND_BY_NAME["ticket"]
    return KIND_BY_NAME["contact"]
