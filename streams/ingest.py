"""The one ingest step the worker and the replay share: decode → validate → apply → count.

``ingest`` takes one message value (bytes) and an engine, and returns what happened; the
shells only decide where the bytes come from and what to do with an invalid event (the worker
dead-letters it, the replay reports its line). Keeping this in one place is what makes "the
replay exposes what the worker exposes" true by construction.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from streams.core.engine import Engine, Outcome
from streams.core.events import Event, topic_for_type
from streams.core.pipeline import PipelineStats
from streams.validation import Invalid, decode

#: Topic label of a line whose type names no topic (the replay only).
UNKNOWN_TOPIC = "unknown"
#: ``Ingested.outcome`` of a replay event after ``--as-of``: it has not happened yet.
AFTER_AS_OF = "after_as_of"
INVALID = "invalid"
#: ``Outcome`` member -> its value (a dict lookup; ``.value`` on an enum member is not cheap).
_VALUE_OF: dict[Outcome, str] = {outcome: outcome.value for outcome in Outcome}
#: Builds an :class:`Ingested` from a tuple of its fields without the named tuple's
#: Python-level ``__new__``.
_new = tuple.__new__


class Ingested(NamedTuple):
    """What one message did: ``outcome`` is an :class:`Outcome` value, :data:`INVALID` or
    :data:`AFTER_AS_OF`; ``event`` is set for a valid event, ``invalid`` for an invalid one."""

    outcome: str
    event: Event | None = None
    invalid: Invalid | None = None


def topic_of_line(raw: bytes) -> str:
    """Best-effort topic of a message read from a file (for the counters' ``topic`` label)."""
    try:
        obj = orjson.loads(raw)
        topic = topic_for_type(obj.get("type", "")) if isinstance(obj, dict) else None
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        topic = None
    return topic or UNKNOWN_TOPIC


def ingest(raw: bytes, engine: Engine, stats: PipelineStats, *, topic: str | None = None,
           now_us: int | None = None, as_of_us: int | None = None) -> Ingested:
    """Handle one message value.

    ``topic`` is the source topic (base name; the worker knows it, the replay derives it from
    the event type). ``now_us`` is the wall clock of a live worker: it bounds how far ahead an
    event may be (contract §1.1) and measures lag; the replay passes ``None``. ``as_of_us`` (the
    replay's ``--as-of``) leaves out events that occur after it.
    """
    result = decode(raw, now_us)
    if result.__class__ is Invalid:
        stats.count_invalid(topic or topic_of_line(raw), result.reason)  # type: ignore[union-attr]
        return Ingested(INVALID, invalid=result)  # type: ignore[arg-type]
    event_type = result.type  # type: ignore[union-attr]
    topic = topic or topic_for_type(event_type) or UNKNOWN_TOPIC
    occurred_us = result.occurred_us  # type: ignore[union-attr]
    if as_of_us is not None and occurred_us > as_of_us:
        return Ingested(AFTER_AS_OF, event=result)  # type: ignore[arg-type]
    outcome = engine.apply(result)  # type: ignore[arg-type]
    if outcome is Outcome.DUPLICATE:
        stats.count_duplicate(topic)
    else:
        if outcome is Outcome.LATE:
            stats.count_late(topic)
        stats.count_applied(topic, event_type, occurred_us, now_us)
    engine.maybe_prune()
    return _new(Ingested, (_VALUE_OF[outcome], result, None))
