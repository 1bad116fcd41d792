"""The one small interface of a connector: read native records, yield events, remember where.

A connector is a :class:`Connector`: an input ``identity`` (what a checkpoint belongs to), a
``read`` function and a :class:`Mapper`.

- ``read(position)`` yields :class:`Record` items (a native record and the position just after
  it, a JSON-able mapping) from ``position`` on (``None``: the beginning), and :data:`IDLE` when
  it is following an input that has nothing new yet (the driver then flushes, saves its
  checkpoint and waits before asking again). It never blocks.
- ``Mapper.map(record)`` turns one record into a list of contract events (plain dicts) and
  :class:`Skipped` notes, never raising for bad input: a record it cannot map is a
  :class:`Skipped` with a bounded ``reason`` code (counted in the summary) and a one-line
  ``detail``. A mapper that needs memory across records (an agent's queues, a ticket's status)
  keeps it JSON-able: ``state()`` is saved with the checkpoint and ``restore()`` gets it back.

Event ids are derived from the source record (:func:`stable_id`), never from a counter or a
clock, so reading the same input again publishes the same ids, which the engine drops as
duplicates (docs/contract.md §2, de-duplication).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple, Protocol

#: Longest ``event_id`` the contract allows (docs/contract.md §1.1).
MAX_ID_LENGTH: Final = 128


class Record(NamedTuple):
    """One native record: ``where`` it is (``FILE:LINE``, for messages), the record itself
    (a line, a parsed JSON object, a CSV row, ...) and the reader ``position`` just after it."""

    where: str
    data: Any
    position: Mapping[str, Any]


class _Idle:
    """The reader has nothing new yet (following a file): flush, checkpoint, wait."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "IDLE"


IDLE: Final = _Idle()


@dataclass(frozen=True)
class Skipped:
    """A record, or part of one, that gives no event, and why.

    ``reason`` is a short bounded code (``unknown_event``, ``no_queue``, ``bad_time``, ...)
    the summary counts by; ``detail`` says what was wrong in one line; ``where`` locates the
    record (``FILE:LINE``). Records that carry nothing the contract has a use for are skipped
    with a reason too (``ignored:<what>``), so the summary accounts for every record.
    """

    reason: str
    detail: str
    where: str = ""


Mapped = list[dict[str, Any] | Skipped]


class Mapper(Protocol):
    """Native records to contract events (see the module docstring)."""

    def map(self, record: Record) -> Mapped:
        """The events of one record (in the order they happened) and its skipped parts."""
        ...

    def state(self) -> dict[str, Any]:
        """What the mapper remembers across records, JSON-able (saved with the checkpoint)."""
        ...

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back what :meth:`state` returned before a restart."""
        ...


class StatelessMapper:
    """Base of a mapper that needs no memory across records."""

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: Mapping[str, Any]) -> None:
        return None


Reader = Callable[[Mapping[str, Any] | None], Iterator[Record | _Idle]]


@dataclass(frozen=True)
class Connector:
    """A connector ready to run: its system, what it reads, how, and the mapping."""

    system: str          # "asterisk", "amazon-connect", "csv", ...
    identity: str        # the input, e.g. an absolute path: a checkpoint belongs to it
    read: Reader
    mapper: Mapper
    describe: str = ""   # for the first progress line, e.g. "queue_log /var/log/...: follow"


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic ``event_id``: ``prefix`` and a 24-hex-digit BLAKE2b digest of ``parts``.

    Same parts, same id, across runs and machines; different parts, different ids (96 bits).
    ``prefix`` names the system (``ast``, ``connect``, ``zd``) so ids of two systems never meet.
    """
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=12)
    text = f"{prefix}-{digest.hexdigest()}"
    assert len(text) <= MAX_ID_LENGTH, prefix
    return text


def rfc3339_us(epoch_us: int) -> str:
    """Epoch microseconds as an RFC 3339 UTC timestamp keeping every digit
    (``2026-11-22T09:15:02.120001Z``; no fraction when it is zero)."""
    seconds, micros = divmod(epoch_us, 1_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def iso(moment: datetime) -> str:
    """An aware datetime as RFC 3339 with its offset, microseconds kept when not zero."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no offset; attach the source's timezone first")
    return moment.isoformat()
