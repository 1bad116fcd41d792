"""Calls and chats: from a contact's events to its samples (SPEC §1.2, §3.1–3.3).

A contact's record is the list of its events, kept sorted by event time. Everything here is
recomputed from that list, so the result does not depend on the order the events arrived in;
a value that needs two events (a wait needs ``queued`` and ``answered``) appears once both are
in the record.

Compact event form stored in records: ``(event_id, kind, occurred_ms, queue, extra)`` where
``kind`` is the type without its family (``queued``) and ``extra`` is the one type-specific
field the KPIs need (flow-out or block reason, message sender, ``resolved``).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from streams.core.config import Config
from streams.core.samples import (
    ABANDONED,
    ABANDONED_WITHIN,
    ANSWERED,
    ANSWERED_WITHIN,
    BLOCKED,
    CHAT_RESPONSE_MS,
    CHAT_RESPONSES,
    COUNTER,
    FLOWED_OUT,
    HANDLE_MS,
    HANDLED,
    OBSERVE,
    OFFERED,
    RESOLVED_FIRST_CONTACT,
    SHORT_ABANDONED,
    WAIT_ANSWERED_MS,
    WAITING,
    WINDOW,
    Sample,
)

UNKNOWN = "unknown"
OUTCOMES = ("answered", "abandoned", "flowed_out")

CompactEvent = tuple[str, str, int, str | None, Any]


def compact(kind: str, event_id: str, occurred_ms: int, body: dict[str, Any]) -> CompactEvent:
    """The fields of a call/chat event that the KPIs use."""
    extra: Any = None
    if kind in ("flowed_out", "blocked"):
        extra = body.get("reason")
    elif kind == "message":
        extra = body.get("sender")
    elif kind == "wrapup_ended":
        extra = body.get("resolved")
    queue = body.get("queue")
    return (event_id, kind, occurred_ms, queue if isinstance(queue, str) else None, extra)


class _Segment:
    __slots__ = ("outcome", "outcome_ms", "queue", "queued_ms")

    def __init__(self, queue: str, queued_ms: int) -> None:
        self.queue = queue
        self.queued_ms = queued_ms
        self.outcome: CompactEvent | None = None
        self.outcome_ms = 0


def _segments(events: list[CompactEvent]) -> tuple[list[_Segment], dict[str, list[_Segment]]]:
    """Segments in time order, and per queue, with their first outcome matched.

    An outcome belongs to the latest segment of its queue that started at or before it; an
    outcome stamped before every segment of its queue (clock skew between systems) belongs to
    the queue's first segment, with the wait clamped to zero.
    """
    ordered: list[_Segment] = []
    by_queue: dict[str, list[_Segment]] = {}
    for ev in events:
        if ev[1] == "queued" and ev[3] is not None:
            seg = _Segment(ev[3], ev[2])
            ordered.append(seg)
            by_queue.setdefault(ev[3], []).append(seg)
    if not ordered:
        return ordered, by_queue
    starts = {q: [s.queued_ms for s in segs] for q, segs in by_queue.items()}
    for ev in events:
        if ev[1] in OUTCOMES and ev[3] in by_queue:
            segs = by_queue[ev[3]]  # type: ignore[index]
            i = bisect_right(starts[ev[3]], ev[2]) - 1  # type: ignore[index]
            seg = segs[max(i, 0)]
            if seg.outcome is None:
                seg.outcome = ev
                seg.outcome_ms = ev[2]
    return ordered, by_queue


def _queue_at(ordered: list[_Segment], instant_ms: int) -> str:
    """The queue a contact was in at ``instant_ms``: its latest segment started by then."""
    current = None
    for seg in ordered:
        if seg.queued_ms <= instant_ms:
            current = seg.queue
        else:
            break
    if current is None:
        return ordered[0].queue if ordered else UNKNOWN
    return current


def contact_samples(channel: str, events: list[CompactEvent], config: Config) -> list[Sample]:
    """Every sample one contact contributes, given its events sorted by time."""
    out: list[Sample] = []
    ordered, _ = _segments(events)
    answered: list[_Segment] = []
    for seg in ordered:
        q = seg.queue
        labels = (q, channel)
        out.append((COUNTER, "offered", labels, 1))
        out.append((WINDOW, q, channel, seg.queued_ms, OFFERED, 1))
        outcome = seg.outcome
        if outcome is None:
            out.append((WAITING, q, channel, seg.queued_ms))
            continue
        kind, at = outcome[1], outcome[2]
        wait_ms = max(0, at - seg.queued_ms)
        policy = config.policy(q, channel)
        if kind == "answered":
            answered.append(seg)
            within = wait_ms <= policy.threshold_ms
            out.append((COUNTER, "answered", labels, 1))
            out.append((OBSERVE, "wait", (q, channel, "answered"), wait_ms))
            out.append((WINDOW, q, channel, at, ANSWERED, 1))
            out.append((WINDOW, q, channel, at, WAIT_ANSWERED_MS, wait_ms))
            if within:
                out.append((COUNTER, "answered_within", labels, 1))
                out.append((WINDOW, q, channel, at, ANSWERED_WITHIN, 1))
        elif kind == "abandoned":
            out.append((OBSERVE, "wait", (q, channel, "abandoned"), wait_ms))
            if wait_ms < policy.short_abandon_ms:
                out.append((COUNTER, "short_abandoned", labels, 1))
                out.append((WINDOW, q, channel, at, SHORT_ABANDONED, 1))
            else:
                out.append((COUNTER, "abandoned", labels, 1))
                out.append((WINDOW, q, channel, at, ABANDONED, 1))
                if wait_ms <= policy.threshold_ms:
                    out.append((WINDOW, q, channel, at, ABANDONED_WITHIN, 1))
        else:  # flowed_out
            reason = outcome[4] if isinstance(outcome[4], str) else UNKNOWN
            out.append((COUNTER, "flowed_out", (q, channel, reason), 1))
            out.append((WINDOW, q, channel, at, FLOWED_OUT, 1))

    _handled_samples(channel, events, answered, out)
    _blocked_samples(events, ordered, out)
    if channel == "chat":
        _chat_response_samples(events, ordered, out)
    return out


def _handled_samples(
    channel: str, events: list[CompactEvent], answered: list[_Segment], out: list[Sample]
) -> None:
    """A handled contact: booked at its last ``wrapup_ended`` in its last answered queue.

    Handle time runs from the first answer to the end of after-contact work, which equals
    talk + hold + ACW of SPEC §3.3 (holds and any transfer legs happen inside it).
    """
    if not answered:
        return
    wrapup: CompactEvent | None = None
    transferred = False
    for ev in events:
        if ev[1] == "wrapup_ended":
            wrapup = ev  # events are time-sorted: the last one wins
        elif ev[1] == "transferred":
            transferred = True
    if wrapup is None:
        return
    first_answer = min(seg.outcome_ms for seg in answered)
    last = max(answered, key=lambda seg: seg.outcome_ms)
    at = wrapup[2]
    handle_ms = max(0, at - first_answer)
    q = last.queue
    out.append((COUNTER, "handled", (q, channel), 1))
    out.append((OBSERVE, "handle", (q, channel), handle_ms))
    out.append((WINDOW, q, channel, at, HANDLED, 1))
    out.append((WINDOW, q, channel, at, HANDLE_MS, handle_ms))
    if wrapup[4] is True and not transferred:
        out.append((WINDOW, q, channel, at, RESOLVED_FIRST_CONTACT, 1))


def _blocked_samples(
    events: list[CompactEvent], ordered: list[_Segment], out: list[Sample]
) -> None:
    for ev in events:
        if ev[1] != "blocked":
            continue
        queue = ev[3] or (_queue_at(ordered, ev[2]) if ordered else UNKNOWN)
        reason = ev[4] if isinstance(ev[4], str) else "other"
        out.append((COUNTER, "blocked", (queue, reason), 1))
        out.append((WINDOW, queue, "voice", ev[2], BLOCKED, 1))


def _chat_response_samples(
    events: list[CompactEvent], ordered: list[_Segment], out: list[Sample]
) -> None:
    """Agent replies to waiting customer messages: reply time − oldest unanswered message."""
    unanswered_since: int | None = None
    for ev in events:
        if ev[1] != "message":
            continue
        sender = ev[4]
        if sender == "customer":
            if unanswered_since is None:
                unanswered_since = ev[2]
        elif sender == "agent" and unanswered_since is not None:
            queue = _queue_at(ordered, ev[2])
            out.append((WINDOW, queue, "chat", ev[2], CHAT_RESPONSE_MS, ev[2] - unanswered_since))
            out.append((WINDOW, queue, "chat", ev[2], CHAT_RESPONSES, 1))
            unanswered_since = None
