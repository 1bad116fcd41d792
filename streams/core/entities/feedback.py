"""Surveys and QA reviews (docs/contract.md §1.5, §3.3): NPS, CSAT, CES and IQS.

Each survey response or review is an entity of its own (``feedback:<event_id>``), so it is
de-duplicated, persisted and retained like every other event (48 h of stream time). A response
or review that names no queue takes the queue of the contact or ticket it references
(``contact_id`` / ``ticket_id``) when that is known, else ``unknown`` (contract §3): the engine
resolves it through its :class:`~streams.core.engine.Directory` and keeps the answer in the
record as ``rq``, also when the referenced entity arrives *after* the survey. A missing
channel is ``unknown`` (docs/contract.md §3).

Scores (contract §3.3): NPS promoters score 9–10 and detractors 0–6; CSAT and CES count a response
as satisfied/easy at ``scale_max − 1`` or more (defaults: nps 10, csat 5, ces 7). A review's
score is the weighted mean of its categories' ``(score − min) / (max − min)``, or its plain
``score`` / 100; a critical category under 50 % makes the review 0. Review scores are kept in
millionths so that sums are exact in any order.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable
from typing import Any, NamedTuple

from streams.core import contributions as F
from streams.core.config import Config
from streams.core.contributions import Booking, Contribution, Count
from streams.core.entities.event_log import EventLogKind
from streams.core.events import Event
from streams.core.timestamps import HOUR_US

UNKNOWN = "unknown"
RETENTION_US = 48 * HOUR_US
DEFAULT_SCALE_MAX = {"nps": 10, "csat": 5, "ces": 7}
SURVEY_RESPONSES, QA_REVIEWS = "survey_responses", "qa_reviews"
#: Counter of the reviews' scores, 0-1 each, in millionths (beside ``QA_REVIEWS``).
QA_SCORE_PPM = "qa_score_ppm"
PPM = 1_000_000


class FeedbackEvent(NamedTuple):
    """A survey response (``kind`` ``responded``) or a QA review (``reviewed``)."""

    at_us: int
    event_id: str
    kind: str
    queue: str | None
    channel: str | None
    contact_id: str | None
    ticket_id: str | None
    survey: str | None  # nps | csat | ces
    score: int  # survey score; for a review, its score 0-1 in millionths
    scale_max: int


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def review_score_ppm(body: dict[str, Any]) -> int:
    """A QA review's score, 0–1 in millionths (docs/contract.md §3.3 IQS)."""
    categories = body.get("categories")
    if not categories:
        return round(float(body["score"]) * PPM / 100)
    total = weights = 0.0
    for cat in categories:
        low, high = float(cat["min"]), float(cat["max"])
        share = (float(cat["score"]) - low) / (high - low)
        if cat.get("critical", False) and share < 0.5:
            return 0
        weight = float(cat.get("weight", 1))
        total += share * weight
        weights += weight
    return round(total / weights * PPM) if weights > 0 else 0


def compact(event: Event) -> FeedbackEvent:
    body = event.body
    kind = event.type.partition(".")[2]
    if kind == "responded":
        survey = body["survey"]
        score = int(body["score"])
        scale_max = int(body.get("scale_max") or DEFAULT_SCALE_MAX[survey])
    else:
        survey, score, scale_max = None, review_score_ppm(body), PPM
    return FeedbackEvent(event.occurred_us, event.event_id, kind, _text(body.get("queue")),
                         _text(body.get("channel")), _text(body.get("contact_id")),
                         _text(body.get("ticket_id")), survey, score, scale_max)


class FeedbackKind(EventLogKind):
    """Entity kind of survey responses and QA reviews: one record per event."""

    name = "feedback"
    families: tuple[str, ...] = ("survey", "qa")
    version = 2  # the first record format with the kind envelope (format 1 had none)
    late_after_us = RETENTION_US

    def key(self, event: Event) -> str:
        return f"feedback:{event.event_id}"

    def new_record(self, event: Event) -> dict[str, Any]:
        return {"ev": [], "rq": None}

    def add(self, record: dict[str, Any], event: Event) -> None:
        insort(record["ev"], compact(event))

    def expired(self, record: dict[str, Any], stream_us: int) -> bool:
        events = record["ev"]
        return bool(events) and stream_us - events[-1][0] > RETENTION_US

    def expires_us(self, record: dict[str, Any]) -> int | None:
        """The stream time after which :meth:`expired` holds (``None``: never, by time)."""
        events = record["ev"]
        return events[-1][0] + RETENTION_US if events else None

    def restore(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        return {"ev": sorted(FeedbackEvent(*e) for e in record["ev"]), "rq": record.get("rq")}

    def references(self, record: dict[str, Any]) -> tuple[str, ...]:
        """Keys of the entities whose queue this feedback takes when it names none."""
        out: list[str] = []
        for ev in record["ev"]:
            if ev.queue is not None:
                return ()
            if ev.contact_id is not None:
                out += [f"call:{ev.contact_id}", f"chat:{ev.contact_id}"]
            if ev.ticket_id is not None:
                out.append(f"ticket:{ev.ticket_id}")
        return tuple(out)

    def queues_of(self, event: Event) -> Iterable[str]:
        queue = event.body.get("queue")
        return (queue,) if isinstance(queue, str) else ()

    def contributions(self, record: dict[str, Any], config: Config) -> list[Contribution]:
        out: list[Contribution] = []
        for ev in record["ev"]:
            queue = ev.queue or record.get("rq") or UNKNOWN
            channel = ev.channel or UNKNOWN
            at = ev.at_us
            if ev.kind == "reviewed":
                out.append(Count(QA_REVIEWS, (queue, channel), 1))
                out.append(Booking(queue, channel, at, F.QA_REVIEWS, 1))
                out.append(Booking(queue, channel, at, F.IQS_PPM, ev.score))
                if ev.score:  # never a 0 (a retraction could not tell it from another's)
                    out.append(Count(QA_SCORE_PPM, (queue, channel), ev.score))
                continue
            survey, score = ev.survey, ev.score
            out.append(Count(SURVEY_RESPONSES, (queue, survey, channel, str(score)), 1))
            if survey == "nps":
                out.append(Booking(queue, channel, at, F.NPS_RESPONSES, 1))
                if score >= 9:
                    out.append(Booking(queue, channel, at, F.NPS_PROMOTERS, 1))
                elif score <= 6:
                    out.append(Booking(queue, channel, at, F.NPS_DETRACTORS, 1))
            elif survey == "csat":
                out.append(Booking(queue, channel, at, F.CSAT_RESPONSES, 1))
                if score >= ev.scale_max - 1:
                    out.append(Booking(queue, channel, at, F.CSAT_SATISFIED, 1))
            elif survey == "ces":
                out.append(Booking(queue, channel, at, F.CES_RESPONSES, 1))
                out.append(Booking(queue, channel, at, F.CES_SCORE_SUM, score))
                if score >= ev.scale_max - 1:
                    out.append(Booking(queue, channel, at, F.CES_EASY, 1))
        return out
