"""The simulator's back office: tickets, surveys, QA reviews and customers that exercise the
engine's ticket, feedback and customer-lifecycle KPIs — valid line by line, and realistic.

Runs: one simulated day of the demo centre written by ``ccpulse simulate --out`` (the file the
benchmarks and the demo use), three days of its tickets alone (lifetimes of days need days),
and a short-staffed peak (long waits, to see them in the survey scores).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any

import orjson
import pytest

from streams.cli import main
from streams.core.events import entity_key
from streams.core.timestamps import parse_us
from streams.simulate import FeedbackPolicy, IntradayProfile, contact_centre, timed_events
from streams.simulate.customers import DAYS_PER_MONTH
from streams.simulate.model import PRIORITIES
from streams.validation import Invalid, decode

DAY_START_MS = 1_795_305_600_000          # 2026-11-22T00:00:00Z
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SURVEY_SCALE = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
TICKET_CHANNELS = {"email", "web", "social", "phone", "chat", "other"}
DEFAULT_CATEGORIES = {"billing", "technical", "shipping", "returns", "sales", "cancellation"}
TimedEvents = list[tuple[int, dict[str, Any]]]


def of_type(events: TimedEvents, *types: str) -> TimedEvents:
    return [(ms, event) for ms, event in events if event["type"] in types]


@pytest.fixture(scope="module")
def day_lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """One day of the demo centre, written at full speed by the command line."""
    path = tmp_path_factory.mktemp("simulate") / "day.jsonl"
    assert main(["simulate", "--duration", "1d", "--seed", "5", "--start",
                 "2026-11-22T00:00:00Z", "--out", str(path)]) == 0
    return path.read_bytes().splitlines()


@pytest.fixture(scope="module")
def day(day_lines: list[bytes]) -> TimedEvents:
    events = [orjson.loads(line) for line in day_lines]
    return [(_ms(event), event) for event in events]


@pytest.fixture(scope="module")
def ticket_days() -> TimedEvents:
    """Three days of the demo centre's tickets and feedback, without calls, chats or
    customer activity."""
    scenario = replace(contact_centre(), contact_streams=(), customers=None)
    return list(timed_events(scenario, seed=8, start_ms=DAY_START_MS, duration_ms=3 * DAY_MS))


@pytest.fixture(scope="module")
def short_staffed() -> TimedEvents:
    """Six peak hours with two thirds of the agents: many long waits, every customer surveyed."""
    base = contact_centre()
    scenario = replace(
        base, profile=IntradayProfile(((0.0, 1.0),)), trunks=None,
        agent_groups=tuple(replace(g, count=g.count * 2 // 3, follows_profile=False)
                           for g in base.agent_groups),
        feedback=FeedbackPolicy(survey_probability=1.0, qa_reviews_per_hour=300),
        ticket_streams=(), customers=None)
    return list(timed_events(scenario, seed=4, start_ms=DAY_START_MS, duration_ms=6 * HOUR_MS))


def _ms(event: dict[str, Any]) -> int:
    return parse_us(event["occurred_at"]) // 1000


def normalised(event: dict[str, Any]) -> float:
    """A survey score as a share of its scale, 0 (worst) to 1 (best)."""
    low, default_high = SURVEY_SCALE[event["survey"]]
    return (event["score"] - low) / (event.get("scale_max", default_high) - low)


def is_existing_customer(customer_id: str, population: int) -> bool:
    """A customer from before the run: ``cust-000042`` within the population."""
    prefix, _, number = customer_id.partition("-")
    return prefix == "cust" and number.isdigit() and 1 <= int(number) <= population


class Ticket:
    """What a ticket's events say about it."""

    def __init__(self) -> None:
        self.created_ms = -1
        self.statuses: list[tuple[int, str]] = []
        self.replies: list[tuple[int, dict[str, Any]]] = []
        self.updates: list[dict[str, Any]] = []
        self.assigned: list[tuple[int, str]] = []
        self.created: dict[str, Any] = {}

    @property
    def status(self) -> str:
        return self.statuses[-1][1] if self.statuses else "open"

    @property
    def reopens(self) -> int:
        pairs = zip(self.statuses, self.statuses[1:], strict=False)
        return sum(a in ("solved", "closed") and b in ("open", "pending", "on_hold")
                   for (_, a), (_, b) in pairs)

    def first_response_ms(self) -> int | None:
        for ms, reply in self.replies:
            if reply["author"] == "agent" and reply.get("public", True):
                return ms - self.created_ms
        return None


def tickets_of(events: TimedEvents) -> dict[str, Ticket]:
    tickets: dict[str, Ticket] = defaultdict(Ticket)
    for ms, event in events:
        kind = event["type"]
        if not kind.startswith("ticket."):
            continue
        ticket = tickets[event["ticket_id"]]
        if kind == "ticket.created":
            ticket.created_ms, ticket.created = ms, event
        elif kind == "ticket.status_changed":
            ticket.statuses.append((ms, event["status"]))
        elif kind == "ticket.replied":
            ticket.replies.append((ms, event))
        elif kind == "ticket.updated":
            ticket.updates.append(event)
        elif kind == "ticket.assigned":
            ticket.assigned.append((ms, event["agent_id"]))
    return tickets


# -- the file: valid line by line -----------------------------------------------------------

class TestSimulatedDayFile:
    def test_every_line_decodes_as_a_valid_event(self, day_lines):
        for line in day_lines:
            event = orjson.loads(line)
            result = decode(line, now_us=_ms(event) * 1000)
            assert not isinstance(result, Invalid), f"{result.reason}: {result.message}: {line!r}"

    def test_a_day_has_every_back_office_event_type(self, day):
        seen = Counter(event["type"] for _, event in day)
        for kind in ("ticket.created", "ticket.assigned", "ticket.replied",
                     "ticket.status_changed", "ticket.updated", "survey.responded",
                     "qa.reviewed", "customer.acquired", "customer.churned",
                     "customer.revenue", "customer.interaction", "marketing.spend"):
            assert seen[kind] > 0, kind

    def test_feedback_is_keyed_by_the_contact_or_ticket_it_is_about(self, day):
        for _, event in of_type(day, "survey.responded", "qa.reviewed"):
            key = entity_key(event["type"], event)
            assert key in (event.get("contact_id"), event.get("ticket_id")), event


# -- tickets --------------------------------------------------------------------------------

class TestTicketLife:
    def test_some_tickets_are_reopened_by_the_customer_writing_again(self, ticket_days):
        tickets = tickets_of(ticket_days).values()
        reopened = [t for t in tickets if t.reopens]
        assert 0.01 * len(tickets) < len(reopened) < 0.2 * len(tickets)
        for ticket in reopened:
            for (_, before), (at, after) in zip(ticket.statuses, ticket.statuses[1:],
                                                strict=False):
                if before == "solved" and after == "open":
                    assert any(r_ms == at and r["author"] == "customer"
                               for r_ms, r in ticket.replies)

    def test_some_tickets_stay_open_for_more_than_a_day(self, ticket_days):
        end_ms = DAY_START_MS + 3 * DAY_MS
        tickets = tickets_of(ticket_days).values()
        old = [t for t in tickets if t.status not in ("solved", "closed")
               and end_ms - t.created_ms > DAY_MS]
        assert len(old) >= 10
        assert {t.status for t in old} >= {"open", "pending"}

    def test_first_responses_are_long_tailed(self, ticket_days):
        hours = sorted(frt / HOUR_MS for t in tickets_of(ticket_days).values()
                       if (frt := t.first_response_ms()) is not None)
        median, p90 = hours[len(hours) // 2], hours[len(hours) * 9 // 10]
        assert 0.5 < median < 8 and p90 > 3 * median and hours[-1] > 24

    def test_urgent_tickets_are_answered_sooner_than_low_ones(self, ticket_days):
        by_priority: dict[str, list[int]] = defaultdict(list)
        for ticket in tickets_of(ticket_days).values():
            frt = ticket.first_response_ms()
            if frt is not None:
                by_priority[ticket.created.get("priority", "normal")].append(frt)
        assert statistics.median(by_priority["urgent"]) < statistics.median(by_priority["low"])

    def test_agents_work_tickets_only_while_the_floor_is_staffed(self, ticket_days):
        # the demo profile is at half its peak or more from 08:00 to 19:00 UTC
        hours = {(ms // HOUR_MS) % 24 for ms, event in of_type(ticket_days, "ticket.replied")
                 if event["author"] == "agent"}
        assert hours and min(hours) >= 8 and max(hours) < 20

    def test_pending_tickets_reopen_when_the_customer_replies(self, ticket_days):
        tickets = tickets_of(ticket_days).values()
        answered = 0
        for ticket in tickets:
            for (_, before), (at, after) in zip(ticket.statuses, ticket.statuses[1:],
                                                strict=False):
                if before == "pending" and after == "open":
                    assert any(ms == at and r["author"] == "customer" for ms, r in ticket.replies)
                    answered += 1
        assert answered > 0.1 * len(tickets)

    def test_a_closed_ticket_never_changes_status_again(self, ticket_days):
        for ticket in tickets_of(ticket_days).values():
            statuses = [status for _, status in ticket.statuses]
            if "closed" in statuses:
                assert statuses.index("closed") == len(statuses) - 1

    def test_every_solve_follows_a_public_agent_reply(self, ticket_days):
        for ticket in tickets_of(ticket_days).values():
            for ms, status in ticket.statuses:
                if status == "solved":
                    assert ticket.first_response_ms() is not None
                    assert ticket.first_response_ms() <= ms - ticket.created_ms

    def test_some_solved_tickets_close_and_some_get_one_touch_resolution(self, ticket_days):
        tickets = list(tickets_of(ticket_days).values())
        solved = [t for t in tickets if any(s == "solved" for _, s in t.statuses)]
        closed = [t for t in tickets if t.status == "closed"]
        one_touch = [t for t in solved
                     if sum(r["author"] == "agent" and r.get("public", True)
                            for _, r in t.replies) == 1 and len({a for _, a in t.assigned}) == 1]
        assert closed and 0.3 * len(solved) < len(one_touch) < 0.8 * len(solved)

    def test_bots_acknowledge_and_agents_write_private_notes(self, ticket_days):
        replies = [event for _, event in of_type(ticket_days, "ticket.replied")]
        bots = [r for r in replies if r["author"] == "bot"]
        notes = [r for r in replies if r["author"] == "agent" and r["public"] is False]
        assert bots and notes
        assert not any("agent_id" in r for r in bots)
        assert all(r["agent_id"] for r in replies if r["author"] == "agent")

    def test_escalations_raise_the_priority_move_the_queue_and_reassign(self, ticket_days):
        tickets = tickets_of(ticket_days)
        escalated = 0
        for ticket_id, ticket in tickets.items():
            priority = ticket.created.get("priority", "normal")
            for update in ticket.updates:
                if "priority" in update:
                    assert PRIORITIES.index(update["priority"]) == PRIORITIES.index(priority) + 1
                    priority = update["priority"]
                if "queue" in update:
                    escalated += 1
                    assert update["queue"] != ticket.created["queue"], ticket_id
        assert escalated > 0

    def test_channels_priorities_and_categories_cover_the_spec(self, ticket_days):
        created = [event for _, event in of_type(ticket_days, "ticket.created")]
        channels = Counter(event["channel"] for event in created)
        assert set(channels) == TICKET_CHANNELS
        assert channels.most_common(1)[0][0] == "email"
        assert {event.get("priority") for event in created} == {*PRIORITIES, None}
        categories = Counter(event["category"] for event in created)
        outside = sum(n for name, n in categories.items() if name not in DEFAULT_CATEGORIES)
        assert 0 < outside < 0.15 * len(created)
        assert set(categories) >= DEFAULT_CATEGORIES


# -- surveys and QA -------------------------------------------------------------------------

class TestSurveys:
    def test_surveys_reference_contacts_and_tickets_seen_before(self, day):
        seen: set[str] = set()
        subjects = Counter()
        for _, event in day:
            if event["type"] == "survey.responded":
                subject = event.get("contact_id") or event["ticket_id"]
                assert subject in seen, event
                subjects["contact" if "contact_id" in event else "ticket"] += 1
            else:
                seen.update(event[f] for f in ("call_id", "chat_id", "ticket_id") if f in event)
        assert subjects["contact"] > subjects["ticket"] > 0

    def test_most_surveys_carry_no_queue(self, day):
        surveys = [event for _, event in of_type(day, "survey.responded")]
        with_queue = sum("queue" in event for event in surveys)
        assert 0 < with_queue < 0.4 * len(surveys)

    def test_some_answers_come_hours_after_the_contact(self, day):
        wrapped = {event.get("call_id") or event["chat_id"]: ms for ms, event in day
                   if event["type"].endswith(".wrapup_ended")}
        delays = [ms - wrapped[event["contact_id"]]
                  for ms, event in of_type(day, "survey.responded") if "contact_id" in event]
        assert min(delays) < 60_000
        assert sum(delay > 2 * HOUR_MS for delay in delays) > 0.1 * len(delays)

    def test_scales_vary_by_survey_source(self, day):
        surveys = [event for _, event in of_type(day, "survey.responded")]
        scales = Counter((event["survey"], event.get("scale_max")) for event in surveys)
        assert scales["csat", 10] and scales["csat", None] and scales["csat", 5]
        assert scales["nps", 10] and scales["nps", None] and scales["ces", None]

    def test_scores_are_lower_after_long_waits(self, short_staffed):
        queued, answered = {}, {}
        for ms, event in short_staffed:
            kind = event["type"]
            cid = event.get("call_id") or event.get("chat_id")
            if kind.endswith(".queued"):
                queued.setdefault(cid, ms)
            elif kind.endswith(".answered"):
                answered.setdefault(cid, ms)
        short, long = [], []
        for _, event in of_type(short_staffed, "survey.responded"):
            wait_ms = answered[event["contact_id"]] - queued[event["contact_id"]]
            if wait_ms <= 10_000:
                short.append(normalised(event))
            elif wait_ms >= 120_000:
                long.append(normalised(event))
        assert len(short) > 100 and len(long) > 100
        assert statistics.mean(long) < statistics.mean(short) - 0.1, (
            statistics.mean(long), statistics.mean(short))

    def test_unresolved_contacts_score_lower(self, short_staffed):
        resolved = {event.get("call_id") or event["chat_id"]: event["resolved"]
                    for _, event in short_staffed if event["type"].endswith(".wrapup_ended")}
        scores: dict[bool, list[float]] = defaultdict(list)
        for _, event in of_type(short_staffed, "survey.responded"):
            scores[resolved[event["contact_id"]]].append(normalised(event))
        assert statistics.mean(scores[False]) < statistics.mean(scores[True]) - 0.2


class TestQaReviews:
    def test_reviews_are_about_handled_contacts_or_solved_tickets(self, day):
        handled: set[str] = set()
        solved: set[str] = set()
        for _, event in day:
            kind = event["type"]
            if kind.endswith(".wrapup_ended"):
                handled.add(event.get("call_id") or event["chat_id"])
            elif kind == "ticket.status_changed" and event["status"] == "solved":
                solved.add(event["ticket_id"])
            elif kind == "qa.reviewed":
                assert event.get("contact_id") in handled or event.get("ticket_id") in solved
                assert event["agent_id"]

    def test_weighted_forms_with_a_critical_category_that_sometimes_fails(self, short_staffed):
        reviews = [event for _, event in of_type(short_staffed, "qa.reviewed")]
        forms = [event["categories"] for event in reviews if "categories" in event]
        plain = [event["score"] for event in reviews if "score" in event]
        assert plain and all(0 <= score <= 100 for score in plain)
        assert all(any(c.get("weight", 1) > 1 for c in form) for form in forms)
        critical = [c for form in forms for c in form if c.get("critical")]
        failed = [c for c in critical if c["score"] < (c["min"] + c["max"]) / 2]
        assert len(critical) == len(forms) and 0 < len(failed) < 0.15 * len(critical)


# -- customers ------------------------------------------------------------------------------

class TestCustomers:
    def test_contacts_and_tickets_name_active_customers(self, day):
        population = contact_centre().customers.population
        acquired: set[str] = set()
        churned: set[str] = set()
        for _, event in day:
            kind = event["type"]
            customer = event.get("customer_id")
            if kind == "customer.acquired":
                acquired.add(customer)
            elif kind == "customer.churned":
                churned.add(customer)
            elif customer is not None:
                assert customer not in churned, event
                assert customer in acquired or is_existing_customer(customer, population), event
        named = {event["customer_id"] for _, event in day
                 if event["type"] in ("call.queued", "ticket.created", "customer.revenue")}
        assert named & acquired

    def test_churn_and_acquisition_are_a_few_percent_a_month(self, day):
        population = contact_centre().customers.population
        kinds = Counter(event["type"] for _, event in day)
        for kind in ("customer.churned", "customer.acquired"):
            monthly_share = kinds[kind] * DAYS_PER_MONTH / population
            assert 0.01 < monthly_share < 0.06, (kind, monthly_share)

    def test_every_customer_is_invoiced_about_monthly_mostly_in_euros(self, day):
        revenue = [event for _, event in of_type(day, "customer.revenue")]
        population = contact_centre().customers.population
        assert 0.7 < len(revenue) * DAYS_PER_MONTH / population < 1.4
        currencies = Counter(event["currency"] for event in revenue)
        assert currencies["EUR"] > 4 * currencies["USD"] > 0
        by_customer: dict[str, set[str]] = defaultdict(set)
        for event in revenue:
            by_customer[event["customer_id"]].add(event["currency"])
        assert all(len(currencies) == 1 for currencies in by_customer.values())

    def test_referrals_channels_interactions_and_daily_campaign_spend(self, day):
        acquired = [event for _, event in of_type(day, "customer.acquired")]
        assert any("referred_by" in event for event in acquired)
        assert any(event.get("acquisition_channel") not in (None, "referral")
                   for event in acquired)
        kinds = {event["kind"] for _, event in of_type(day, "customer.interaction")}
        assert kinds == {"web_visit", "email_open", "social"}
        spend = Counter(event["campaign"] for _, event in of_type(day, "marketing.spend"))
        assert len(spend) > 1 and set(spend.values()) == {1}


class TestDeterminism:
    def test_the_back_office_is_the_same_for_the_same_seed(self, ticket_days):
        scenario = replace(contact_centre(), contact_streams=(), customers=None)
        again = list(timed_events(scenario, seed=8, start_ms=DAY_START_MS,
                                  duration_ms=3 * DAY_MS))
        assert orjson.dumps(again) == orjson.dumps(ticket_days)

