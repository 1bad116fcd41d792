"""Calls and chats: a contact's record and its contributions (docs/contract.md §1.2, §3.1–3.3).

A contact's record is the list of its events in one deterministic order: by event time, then
by life-cycle rank at equal times (queued, outcomes, transfer, holds, messages from the
customer before the agent's, ended, wrap-up), then by event id — the natural order of
:class:`ContactEvent`, whose first fields are exactly those. Everything here is recomputed
from that list, so the result does not depend on the order the events arrived in; a value
that needs two events (a wait needs ``queued`` and ``answered``) appears once both are in the
record.

Retention (contract §2): a contact is kept until 48 h of stream time after its newest event.
"""

from __future__ import annotations

import sys
from bisect import insort
from operator import itemgetter
from typing import Any, NamedTuple

from streams.core.config import Config
from streams.core.contributions import (
    ABANDONED,
    ABANDONED_WITHIN,
    ANSWERED,
    ANSWERED_WITHIN,
    BLOCKED,
    CHAT_RESPONSE_US,
    CHAT_RESPONSES,
    FLOWED_OUT,
    FLOWED_OUT_FOR,
    FLOWED_OUT_WITHIN,
    FLOWED_OUT_WITHIN_FOR,
    HANDLE_US,
    HANDLED,
    OFFERED,
    RESOLVED_FIRST_CONTACT,
    SHORT_ABANDONED,
    STALE,
    WAIT_ABANDONED_US,
    WAIT_ANSWERED_US,
    WAIT_FLOWED_OUT_US,
    AgentBooking,
    Booking,
    Contribution,
    Count,
    Observe,
    Waiting,
)
from streams.core.entities.event_log import EventLogKind
from streams.core.events import EVENT_TYPES, Event
from streams.core.timestamps import HOUR_US

UNKNOWN = "unknown"
#: Builds a contribution from a tuple of its fields without the named tuple's Python-level
#: ``__new__`` (this module builds ~10 per event: a third of the engine's per-event cost).
_new = tuple.__new__
OUTCOMES = frozenset({"answered", "abandoned", "flowed_out"})
CHANNEL_OF_FAMILY = {"call": "voice", "chat": "chat"}
RETENTION_US = 48 * HOUR_US
#: Counter metrics (since the start) beside the window fields of the same name: handled
#: contacts resolved at first contact, chat responses and their summed time in µs.
RESOLVED_FIRST_CONTACT_COUNT = "resolved_first_contact"
CHAT_RESPONSES_COUNT = "chat_responses"
CHAT_RESPONSE_US_COUNT = "chat_response_us"


class ContactEvent(NamedTuple):
    """The fields of a call/chat event the KPIs use, in sort order (a plain tuple comparison
    orders a contact's events; ``event_id`` is unique, so later fields never decide).
    ``extra`` is the one type-specific field: the flow-out or block ``reason``, a message's
    ``sender``, a wrap-up's ``resolved``. ``agent`` is a wrap-up's ``agent_id`` (the agent
    a handled contact is credited to in the per-agent views), ``None`` on every other event
    and on records persisted before it was kept."""

    at_us: int
    rank: int  # life-cycle order at equal times, see rank_of
    event_id: str
    kind: str  # the type without its family: "queued", "answered", ...
    queue: str | None
    extra: Any
    agent: str | None = None


#: Order of events at the same instant (lower first).
_RANK = {"queued": 0, "answered": 1, "abandoned": 1, "flowed_out": 1, "blocked": 1,
         "transferred": 2, "hold_started": 3, "hold_ended": 4, "message": 6, "ended": 8,
         "wrapup_ended": 9}
_MESSAGE_RANK = {"customer": 5, "bot": 6, "agent": 7}


def rank_of(kind: str, extra: Any) -> int:
    """Life-cycle order of an event among a contact's events at the same instant."""
    return _MESSAGE_RANK.get(extra, 6) if kind == "message" else _RANK.get(kind, 5)


#: Event type -> (entity key prefix, id field, kind): ``call.queued`` -> (``call:``,
#: ``call_id``, ``queued``).
_OF_TYPE: dict[str, tuple[str, str, str]] = {
    t: (f"{t.partition('.')[0]}:", f"{t.partition('.')[0]}_id", t.partition(".")[2])
    for t in EVENT_TYPES if t.partition(".")[0] in CHANNEL_OF_FAMILY}


def compact(event: Event) -> ContactEvent:
    of_type = _OF_TYPE.get(event.type)
    kind = of_type[2] if of_type is not None else event.type.partition(".")[2]
    body = event.body
    extra: Any = None
    agent = None
    if kind in ("flowed_out", "blocked"):
        extra = body.get("reason")
    elif kind == "message":
        extra = body.get("sender")
    elif kind == "wrapup_ended":
        extra = body.get("resolved")
        agent = body.get("agent_id")
    queue = body.get("queue")
    return _new(ContactEvent, (
        event.occurred_us,
        _MESSAGE_RANK.get(extra, 6) if kind == "message" else _RANK.get(kind, 5),  # rank_of
        event.event_id, kind, queue if isinstance(queue, str) else None, extra,
        agent if isinstance(agent, str) else None))


class _Segment:
    __slots__ = ("outcome", "queue", "queued_us")

    def __init__(self, queue: str, queued_us: int) -> None:
        self.queue = queue
        self.queued_us = queued_us
        self.outcome: ContactEvent | None = None


class _Scan:
    """One pass over a contact's events: its segments with their outcomes matched, and the
    events the other KPIs need."""

    __slots__ = ("blocked", "messages", "ordered", "transferred", "wrapup", "wrapups")

    def __init__(self, events: list[ContactEvent]) -> None:
        self.ordered: list[_Segment] = []
        self.blocked: list[ContactEvent] = []
        self.messages: list[ContactEvent] = []
        self.wrapup: ContactEvent | None = None  # the last one (events are time-sorted)
        self.wrapups = 0
        self.transferred = False
        by_queue: dict[str, list[_Segment]] = {}
        outcomes: list[ContactEvent] = []
        for ev in events:
            at_us, _, _, kind, queue, _, _ = ev
            if kind == "queued":
                if queue is not None:
                    seg = _Segment(queue, at_us)
                    self.ordered.append(seg)
                    by_queue.setdefault(queue, []).append(seg)
            elif kind in OUTCOMES:
                outcomes.append(ev)
            elif kind == "message":
                self.messages.append(ev)
            elif kind == "wrapup_ended":
                self.wrapup = ev
                self.wrapups += 1
            elif kind == "transferred":
                self.transferred = True
            elif kind == "blocked":
                self.blocked.append(ev)
        # contract §2: an outcome closes the oldest *open* segment of its queue that started at or
        # before it, so a timeout loop back into the same queue at the same instant leaves the
        # new segment open. Segments are in start order and outcomes in time order, so the
        # oldest open segment is the one the rule names when it started by then; when none did
        # (clock skew between systems) it is still the oldest open one, with the wait clamped
        # to zero. An outcome with no open segment left (a second outcome) is ignored.
        for ev in outcomes:
            for seg in by_queue.get(ev.queue, ()):  # type: ignore[arg-type]
                if seg.outcome is None:
                    seg.outcome = ev
                    break


def segments(events: list[ContactEvent]) -> list[_Segment]:
    """The contact's segments in time order, each with its outcome matched (contract §2)."""
    return _Scan(events).ordered


def queue_at(ordered: list[_Segment], instant_us: int) -> str:
    """The queue a contact was in at ``instant_us``: its latest segment started by then."""
    current = None
    for seg in ordered:
        if seg.queued_us <= instant_us:
            current = seg.queue
        else:
            break
    if current is None:
        return ordered[0].queue if ordered else UNKNOWN
    return current


class ContactKind(EventLogKind):
    """Entity kind of calls (channel ``voice``) and chats (channel ``chat``)."""

    name = "contact"
    families: tuple[str, ...] = ("call", "chat")
    version = 2
    late_after_us = RETENTION_US

    def key(self, event: Event) -> str:
        of_type = _OF_TYPE.get(event.type)
        if of_type is None:
            family = event.type.partition(".")[0]
            return sys.intern(f"{family}:{event.body[family + '_id']}")
        return sys.intern(f"{of_type[0]}{event.body[of_type[1]]}")  # one object a key

    def new_record(self, event: Event) -> dict[str, Any]:
        return {"ch": CHANNEL_OF_FAMILY[event.type.partition(".")[0]], "ev": []}

    def add(self, record: dict[str, Any], event: Event) -> None:
        insort(record["ev"], compact(event))

    def appended(self, record: dict[str, Any], previous: list[Contribution], event: Event,
                 config: Config) -> tuple[list[Contribution], list[Contribution]] | None:
        """What ``event``, just added to ``record``, changes in the contact's contributions
        (``previous``, those of the record without it), as ``(removed, added)`` when that
        is quick to tell; ``None`` means "recompute everything".

        Most events arrive after every other event of their contact, and then change little:

        * holds, ``ended`` and bot messages change nothing wherever they fall (no KPI reads
          them), nor does a customer message at the end (a later reply would);
        * an agent message at the end answers the customer messages since the last agent
          message, if any: one chat response, in the contact's latest queue;
        * ``queued`` at the end opens a waiting segment (unless an earlier outcome had no
          segment left, which this one would take);
        * an outcome at the end closes the oldest open segment of its queue: its
          :class:`Waiting` goes, the wait and outcome come;
        * ``wrapup_ended`` at the end, the contact's first: it is handled;
        * ``transferred`` at the end before any wrap-up only matters to a later one.

        Anything else (an event out of order, a second wrap-up, an outcome after the wrap-up,
        a block) is recomputed. The result equals :func:`contact_contributions` as a multiset
        (a unit test pins it); the order may differ, which nothing reads.
        """
        events: list[ContactEvent] = record["ev"]
        new = events[-1]
        if new.event_id != event.event_id:  # inserted before later events
            kind = event.type.partition(".")[2]
            sender = event.body.get("sender") if kind == "message" else None
            return ([], []) if _changes_nothing(kind, sender) else None
        kind = new.kind
        if kind in _NO_EFFECT:
            return [], []
        if kind == "message":  # only an agent's answers a customer (_changes_nothing)
            return [], (_reply(events) if new.extra == "agent" else [])
        if kind == "wrapup_ended":
            return _first_wrapup(record["ch"], events, config.limits.per_agent)
        if kind == "transferred":
            return None if _has_wrapup(events) else ([], [])
        if kind == "queued":
            return _queued_last(record["ch"], events)
        if kind in OUTCOMES:
            return _outcome_last(record["ch"], events, config)
        return None  # blocked

    def expired(self, record: dict[str, Any], stream_us: int) -> bool:
        events = record["ev"]
        return bool(events) and stream_us - events[-1][0] > RETENTION_US  # [0]: at_us

    def expires_us(self, record: dict[str, Any]) -> int | None:
        """The stream time after which :meth:`expired` holds (``None``: never, by time)."""
        events = record["ev"]
        return events[-1][0] + RETENTION_US if events else None

    def feedback_queue(self, record: dict[str, Any], at_us: int) -> str | None:
        """The queue a survey or review at ``at_us`` of this contact belongs to: that of its
        last segment answered by then (where its handling is booked), else of its last
        segment by then; a survey stamped before the contact began takes its first queue."""
        answered: str | None = None
        queued: str | None = None
        first: str | None = None
        for ev in record["ev"]:
            if ev.queue is None:
                continue
            if first is None and ev.kind == "queued":
                first = ev.queue
            if ev.at_us > at_us:
                break
            if ev.kind == "answered":
                answered = ev.queue
            elif ev.kind == "queued":
                queued = ev.queue
        return answered or queued or first

    def restore(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        if version < 2:  # format 1: (event_id, kind, occurred_ms, queue, extra)
            events = [ContactEvent(e[2] * 1000, rank_of(e[1], e[4]), e[0], e[1], e[3], e[4])
                      for e in record["ev"]]
        else:
            events = [ContactEvent(*e) for e in record["ev"]]
        events.sort()
        return {"ch": record["ch"], "ev": events}

    def contributions(self, record: dict[str, Any], config: Config) -> list[Contribution]:
        return contact_contributions(record["ch"], record["ev"], config)


def contact_contributions(
    channel: str, events: list[ContactEvent], config: Config
) -> list[Contribution]:
    """Every contribution of one contact, given its events in order (see the module doc)."""
    out: list[Contribution] = []
    scan = _Scan(events)
    ordered = scan.ordered
    answered: list[_Segment] = []
    for seg in ordered:
        q = seg.queue
        out.append(_new(Count, ("offered", (q, channel), 1)))
        out.append(_new(Booking, (q, channel, seg.queued_us, OFFERED, 1)))
        outcome = seg.outcome
        if outcome is None:
            out.append(_new(Waiting, (q, channel, seg.queued_us)))
            continue
        if outcome.kind == "answered":
            answered.append(seg)
        _closed(channel, seg, config, out)

    if answered and scan.wrapup is not None:
        _handled(channel, scan, answered, out, config.limits.per_agent)
    if scan.blocked:
        _blocked(scan, out)
    if scan.messages:
        _chat_responses(scan, out)
    return out


def _closed(channel: str, seg: _Segment, config: Config, out: list[Contribution]) -> None:
    """What a segment with its outcome adds besides being offered (wait, SL, outcome)."""
    q = seg.queue
    labels = (q, channel)
    outcome = seg.outcome
    assert outcome is not None
    settings = config.queue(q)
    at = outcome.at_us
    wait_us = max(0, at - seg.queued_us)
    if wait_us > settings.stale_after_us:
        out.append(_new(Count, (STALE, labels, 1)))  # it had left the live gauges as stale
    policy = settings.policy(channel)
    within = wait_us <= policy.threshold_us
    kind = outcome.kind
    if kind == "answered":
        out.append(_new(Count, ("answered", labels, 1)))
        out.append(_new(Observe, ("wait", (q, channel, "answered"), wait_us)))
        out.append(_new(Booking, (q, channel, at, ANSWERED, 1)))
        out.append(_new(Booking, (q, channel, at, WAIT_ANSWERED_US, wait_us)))
        if within:
            out.append(_new(Count, ("answered_within", labels, 1)))
            out.append(_new(Booking, (q, channel, at, ANSWERED_WITHIN, 1)))
    elif kind == "abandoned":
        out.append(_new(Observe, ("wait", (q, channel, "abandoned"), wait_us)))
        out.append(_new(Booking, (q, channel, at, WAIT_ABANDONED_US, wait_us)))
        if wait_us < policy.short_abandon_us:
            out.append(_new(Count, ("short_abandoned", labels, 1)))
            out.append(_new(Booking, (q, channel, at, SHORT_ABANDONED, 1)))
        else:
            out.append(_new(Count, ("abandoned", labels, 1)))
            out.append(_new(Booking, (q, channel, at, ABANDONED, 1)))
            if within:
                out.append(_new(Booking, (q, channel, at, ABANDONED_WITHIN, 1)))
    else:  # flowed_out
        reason = outcome.extra if isinstance(outcome.extra, str) else UNKNOWN
        out.append(_new(Count, ("flowed_out", (q, channel, reason), 1)))
        out.append(_new(Booking, (q, channel, at, FLOWED_OUT, 1)))
        out.append(_new(Booking, (q, channel, at, FLOWED_OUT_FOR + reason, 1)))
        out.append(_new(Booking, (q, channel, at, WAIT_FLOWED_OUT_US, wait_us)))
        if within:
            out.append(_new(Booking, (q, channel, at, FLOWED_OUT_WITHIN, 1)))
            out.append(_new(Booking, (q, channel, at, FLOWED_OUT_WITHIN_FOR + reason, 1)))


# --------------------------------------------------------------------------------------------
# One event after all the others (ContactKind.appended)

#: Kinds no contribution reads, and the senders whose messages count for chat responses.
_NO_EFFECT = frozenset({"hold_started", "hold_ended", "ended"})
_REPLY_SENDERS = ("customer", "agent")
Change = tuple[list[Contribution], list[Contribution]]


def _changes_nothing(kind: str, sender: Any) -> bool:
    """Whether an event of ``kind`` (a message from ``sender``) changes no contribution
    wherever it falls among its contact's events: no KPI reads it."""
    return kind in _NO_EFFECT or (kind == "message" and sender not in _REPLY_SENDERS)


def _has_wrapup(events: list[ContactEvent]) -> bool:
    return "wrapup_ended" in map(_KIND, events)


#: A contact event's ``kind`` (a C-level getter: the fast paths scan whole contacts with it).
_KIND = itemgetter(3)


def _latest_queue(events: list[ContactEvent]) -> str:
    """The queue of the contact's latest segment (its last ``queued`` event naming one), or
    ``unknown``."""
    kinds = list(map(_KIND, events))
    end = len(kinds)
    while "queued" in kinds[:end]:  # scanned from the end, in C
        end = end - 1 - kinds[end - 1::-1].index("queued")
        queue = events[end][4]  # queue
        if queue is not None:
            return queue
    return UNKNOWN


def _reply(events: list[ContactEvent]) -> list[Contribution]:
    """The chat response of the agent message ``events[-1]``: it answers the customer
    messages since the previous agent message (from the oldest of them), in the contact's
    latest queue (that of its latest segment: every segment started by then)."""
    reply = events[-1]
    since_us = None
    for i in range(len(events) - 2, -1, -1):
        ev = events[i]
        if ev[3] == "message":  # kind
            sender = ev[5]  # extra
            if sender == "agent":
                break
            if sender == "customer":
                since_us = ev[0]  # at_us
    if since_us is None:
        return []
    at_us = reply[0]
    out: list[Contribution] = []
    _chat_response(_latest_queue(events), at_us, at_us - since_us, out)
    return out


def _first_wrapup(channel: str, events: list[ContactEvent], per_agent: bool) -> Change | None:
    """A first ``wrapup_ended`` at the end: the contact is handled if it was answered."""
    scan = _Scan(events)
    if scan.wrapups > 1:
        return None  # the handled contact moves to the newer wrap-up
    answered = [seg for seg in scan.ordered
                if seg.outcome is not None and seg.outcome.kind == "answered"]
    out: list[Contribution] = []
    if answered:
        _handled(channel, scan, answered, out, per_agent)
    return [], out


def _queue_counts(events: list[ContactEvent], queue: str) -> tuple[list[int], int]:
    """The start times of ``queue``'s segments in ``events``, and how many outcomes name it."""
    starts = []
    n_outcomes = 0
    for ev in events:
        if ev[4] == queue:  # queue
            kind = ev[3]
            if kind == "queued":
                starts.append(ev[0])  # at_us
            elif kind in OUTCOMES:
                n_outcomes += 1
    return starts, n_outcomes


def _queued_last(channel: str, events: list[ContactEvent]) -> Change | None:
    """``queued`` at the end opens a waiting segment. Every other event is earlier (``queued``
    ranks first at equal times), so a block or message without a queue keeps the queue it
    had — unless this is the first segment, whose queue they take. An earlier outcome that
    found no open segment would close this one. In both cases: recompute."""
    new = events[-1]
    queue = new.queue
    if queue is None:
        return [], []
    starts: list[int] = []
    n_outcomes = 0
    segments_before = False  # an earlier segment, in any queue
    for i in range(len(events) - 1):
        ev = events[i]
        kind = ev[3]
        if kind == "queued":
            if ev[4] is not None:
                segments_before = True
                if ev[4] == queue:
                    starts.append(ev[0])
        elif ev[4] == queue and kind in OUTCOMES:
            n_outcomes += 1
    if n_outcomes > len(starts) or not segments_before:
        return None
    at_us = new.at_us
    return [], [_new(Count, ("offered", (queue, channel), 1)),
                _new(Booking, (queue, channel, at_us, OFFERED, 1)),
                _new(Waiting, (queue, channel, at_us))]


def _outcome_last(channel: str, events: list[ContactEvent], config: Config) -> Change | None:
    """An outcome at the end closes the oldest open segment of its queue: the i-th outcome of
    a queue closes its i-th segment (outcomes are matched in time order). After a wrap-up an
    answer changes the handled contact: then recompute."""
    new = events[-1]
    queue = new.queue
    if queue is None:
        return [], []  # names no segment
    starts: list[int] = []
    n_outcomes = 0
    for i in range(len(events) - 1):
        ev = events[i]
        kind = ev[3]
        if kind == "wrapup_ended":
            return None
        if ev[4] == queue:
            if kind == "queued":
                starts.append(ev[0])
            elif kind in OUTCOMES:
                n_outcomes += 1
    if n_outcomes >= len(starts):
        return [], []  # no open segment left: ignored
    seg = _Segment(queue, starts[n_outcomes])
    seg.outcome = new
    added: list[Contribution] = []
    _closed(channel, seg, config, added)
    return [_new(Waiting, (queue, channel, seg.queued_us))], added


def _handled(channel: str, scan: _Scan, answered: list[_Segment],
             out: list[Contribution], per_agent: bool = False) -> None:
    """A handled contact: booked at its last ``wrapup_ended`` in its last answered queue.

    Handle time (contract §3.3) = talk + hold + ACW = wrap-up end − the first answer, less the
    waits of the contact's later queue segments: after a transfer to a queue the caller waits
    again, and that wait belongs to the new queue's ASA, not to anybody's handling.

    With ``per_agent`` the same handled contact, handle time and resolution are also booked
    for the agent of that last wrap-up (:class:`AgentBooking`, docs/decisions.md "Per-agent
    views"), so the agents' sums equal the queues'.
    """
    wrapup = scan.wrapup
    assert wrapup is not None
    end = wrapup[0]  # at_us
    if len(answered) == 1:  # the usual contact
        last = answered[0]
        first_answer = last.outcome[0]  # type: ignore[index]
    else:
        first_answer = min(seg.outcome.at_us for seg in answered)  # type: ignore[union-attr]
        last = max(answered, key=lambda seg: seg.outcome.at_us)  # type: ignore[union-attr]
    waited_again = 0
    for seg in scan.ordered:
        if seg.queued_us >= first_answer:
            left = seg.outcome[0] if seg.outcome is not None else end
            waited_again += max(0, min(left, end) - seg.queued_us)
    handle_us = max(0, end - first_answer - waited_again)
    q = last.queue
    labels = (q, channel)
    out.append(_new(Count, ("handled", labels, 1)))
    out.append(_new(Observe, ("handle", labels, handle_us)))
    out.append(_new(Booking, (q, channel, end, HANDLED, 1)))
    out.append(_new(Booking, (q, channel, end, HANDLE_US, handle_us)))
    resolved = wrapup.extra is True and not scan.transferred
    if resolved:
        out.append(_new(Booking, (q, channel, end, RESOLVED_FIRST_CONTACT, 1)))
        out.append(_new(Count, (RESOLVED_FIRST_CONTACT_COUNT, labels, 1)))
    if per_agent and wrapup.agent is not None:
        agent = wrapup.agent
        out.append(_new(AgentBooking, (agent, end, HANDLED, 1)))
        out.append(_new(AgentBooking, (agent, end, HANDLE_US, handle_us)))
        if resolved:
            out.append(_new(AgentBooking, (agent, end, RESOLVED_FIRST_CONTACT, 1)))


def _blocked(scan: _Scan, out: list[Contribution]) -> None:
    ordered = scan.ordered
    for ev in scan.blocked:
        queue = ev.queue or (queue_at(ordered, ev.at_us) if ordered else UNKNOWN)
        reason = ev.extra if isinstance(ev.extra, str) else "other"
        out.append(_new(Count, ("blocked", (queue, reason), 1)))
        out.append(_new(Booking, (queue, "voice", ev.at_us, BLOCKED, 1)))


def _chat_responses(scan: _Scan, out: list[Contribution]) -> None:
    """Agent replies to waiting customer messages: reply time − oldest unanswered message.
    Bot messages count for neither side."""
    unanswered_since: int | None = None
    ordered = scan.ordered
    only_queue = ordered[0].queue if len(ordered) == 1 else None  # the usual chat
    for at_us, _, _, _, _, sender, _ in scan.messages:
        if sender == "customer":
            if unanswered_since is None:
                unanswered_since = at_us
        elif sender == "agent" and unanswered_since is not None:
            _chat_response(only_queue or queue_at(ordered, at_us), at_us,
                           at_us - unanswered_since, out)
            unanswered_since = None


def _chat_response(queue: str, at_us: int, response_us: int, out: list[Contribution]) -> None:
    """One chat response, booked at the agent's message in ``queue``: in the windows and in
    the counters since the start (their sum only when not 0: a counter never holds a 0 that a
    retraction could not tell from another entity's)."""
    out.append(_new(Booking, (queue, "chat", at_us, CHAT_RESPONSE_US, response_us)))
    out.append(_new(Booking, (queue, "chat", at_us, CHAT_RESPONSES, 1)))
    out.append(_new(Count, (CHAT_RESPONSES_COUNT, (queue, "chat"), 1)))
    if response_us:
        out.append(_new(Count, (CHAT_RESPONSE_US_COUNT, (queue, "chat"), response_us)))
