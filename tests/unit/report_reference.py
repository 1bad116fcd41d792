"""An independent computation of the monthly report from raw events, for the report tests.

Written from the contract's definitions (§1, §3.2, §3.3, §3.4), not through the engine: the
events are read as JSON, grouped by contact, ticket and customer, and counted. A month here
is what the report's snapshots give: the events with start < occurred_at ≤ end (a snapshot at
T holds the events at or before T), the live state at the end, and the customer months of
[customers] timezone.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from streams.core.timestamps import parse_us

THRESHOLD_US = 20_000_000
SHORT_US = 5_000_000
BACKLOG_US = 86_400_000_000
CONTACT_KEPT_US = 48 * 3_600_000_000
CATEGORIES = ("billing", "technical", "shipping", "returns", "sales", "cancellation")


#: Order of a contact's or ticket's events at the same instant (contract §2, decisions.md:
#: lower first, then event id; messages by sender, below).
CONTACT_RANK = {"queued": 0, "answered": 1, "abandoned": 1, "flowed_out": 1, "blocked": 1,
                "transferred": 2, "hold_started": 3, "hold_ended": 4, "message": 6,
                "ended": 8, "wrapup_ended": 9}
TICKET_RANK = {"created": 0, "updated": 1, "assigned": 2, "replied": 3, "status_changed": 4}


#: Chat messages at one instant: the customer's, the bot's, then the agent's (decisions.md),
#: so a customer message and an agent reply stamped together are a response of 0 s.
MESSAGE_RANK = {"customer": 5, "bot": 6, "agent": 7}


def in_order(events: list[dict], rank: dict[str, int]) -> list[dict]:
    def key(e: dict) -> tuple:
        kind = e["type"].split(".")[1]
        r = MESSAGE_RANK.get(e.get("sender"), 6) if kind == "message" else rank.get(kind, 5)
        return (e["t"], r, e["event_id"])

    return sorted(events, key=key)


def read_events(path: str) -> list[dict]:
    with open(path, "rb") as f:
        events = [json.loads(line) for line in f if line.strip()]
    for e in events:
        e["t"] = parse_us(e["occurred_at"])
    return events


def _div(a: float, b: float, scale: float = 1.0) -> float | None:
    return scale * a / b if b else None


@dataclass
class Tally:
    n: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, key: str, v: float = 1.0) -> None:
        self.n[key] += v


def contact_month(events: Iterable[dict], start: int, end: int) -> dict[str, Tally]:
    """scope ("centre" or queue) -> counts of the month (start, end]."""
    out: dict[str, Tally] = defaultdict(Tally)
    by_contact: dict[str, list[dict]] = defaultdict(list)
    tickets: dict[str, list[dict]] = defaultdict(list)

    def add(queue: str, key: str, v: float = 1.0) -> None:
        out["centre"].add(key, v)
        out[queue].add(key, v)

    def inside(t: int) -> bool:
        return start < t <= end

    feedback = []
    for e in events:
        kind = e["type"]
        if kind.startswith(("call.", "chat.")):
            by_contact[e.get("call_id") or e["chat_id"]].append(e)
        elif kind.startswith("ticket."):
            tickets[e["ticket_id"]].append(e)
        elif kind in ("survey.responded", "qa.reviewed") and inside(e["t"]):
            feedback.append(e)
    for e in feedback:
        queue = e.get("queue") or _referenced_queue(e, by_contact, tickets, end)
        if e["type"] == "qa.reviewed":
            add(queue, "qa")
            add(queue, "qa_score", review_score(e))
        else:
            add(queue, f"{e['survey']}:{e['score']}")
    for evs in by_contact.values():
        evs = in_order(evs, CONTACT_RANK)
        channel = "voice" if evs[0]["type"].startswith("call.") else "chat"
        open_segments: dict[str, list[int]] = defaultdict(list)
        segments: list[list] = []  # [queue, queued_us, outcome_us or None, outcome]
        wrapup = None
        resolved = transferred = False
        waiting_since = None  # the oldest customer chat message no agent has answered
        first_queue = next((e["queue"] for e in evs
                            if e["type"].endswith(".queued") and e["t"] <= end), "unknown")
        for e in evs:
            kind = e["type"].split(".")[1]
            if e["t"] > end:
                break
            if kind == "message" and e["sender"] == "customer":
                waiting_since = e["t"] if waiting_since is None else waiting_since
            elif kind == "message" and e["sender"] == "agent" and waiting_since is not None:
                if inside(e["t"]):  # in the queue of the contact's latest segment by then
                    queue = segments[-1][0] if segments else first_queue
                    add(queue, "responses")
                    add(queue, "response", (e["t"] - waiting_since) / 1e6)
                waiting_since = None
            elif kind == "transferred":
                transferred = True
            if kind == "queued":
                seg = [e["queue"], e["t"], None, None]
                segments.append(seg)
                open_segments[e["queue"]].append(len(segments) - 1)
                if inside(e["t"]):
                    add(e["queue"], f"offered:{channel}")
            elif kind == "blocked":
                if inside(e["t"]):
                    add(e.get("queue", "unknown"), "blocked")
            elif kind in ("answered", "abandoned", "flowed_out"):
                seg = segments[open_segments[e["queue"]].pop(0)]
                seg[2], seg[3] = e["t"], kind
                wait = e["t"] - seg[1]
                if not inside(e["t"]):
                    continue
                if kind == "answered":
                    add(e["queue"], "answered")
                    add(e["queue"], "wait", wait / 1e6)
                    if wait <= THRESHOLD_US:
                        add(e["queue"], "within")
                elif kind == "abandoned":
                    add(e["queue"], "short" if wait < SHORT_US else "abandoned")
                else:
                    add(e["queue"], "flowed")
            elif kind == "wrapup_ended":
                wrapup = e["t"]
                resolved = e.get("resolved") is True
        answered = [s for s in segments if s[3] == "answered"]
        if wrapup is not None and answered and inside(wrapup):
            first = min(s[2] for s in answered)
            again = sum(max(0, min(s[2] if s[2] is not None else wrapup, wrapup) - s[1])
                        for s in segments if s[1] >= first)
            queue = max(answered, key=lambda s: s[2])[0]
            add(queue, "handled")
            add(queue, "handle", max(0, wrapup - first - again) / 1e6)
            if resolved and not transferred:
                add(queue, "fcr")
    for evs in tickets.values():
        evs = in_order(evs, TICKET_RANK)
        created = next((e for e in evs if e["type"] == "ticket.created"), None)
        if created is None or created["t"] > end:
            continue
        queue, channel = created["queue"], created["channel"]
        category = created.get("category")
        category = "unknown" if category is None else (
            category if category in CATEGORIES else "other")
        if inside(created["t"]):
            add(queue, f"created:{channel}")
            add(queue, f"category:{category}")
        solved = replied = False
        state_open = True
        waiting_since = created["t"]  # created is the customer's first message
        agent_replies = 0  # public agent replies before the first solve
        agents: set[str] = set()  # assigned or replying (private notes too) before it
        for e in evs:
            if e["t"] > end:
                break
            public = e.get("public", True)
            if e["type"] == "ticket.assigned" and not solved and e.get("agent_id"):
                agents.add(e["agent_id"])
            if e["type"] == "ticket.replied" and e["author"] == "agent":
                if not solved and e.get("agent_id"):
                    agents.add(e["agent_id"])
                if public and not solved:
                    agent_replies += 1
                if public and waiting_since is not None:
                    if inside(e["t"]):
                        add(queue, "responses")
                        add(queue, "response", (e["t"] - waiting_since) / 1e6)
                    waiting_since = None
            elif e["type"] == "ticket.replied" and e["author"] == "customer" and public:
                waiting_since = e["t"] if waiting_since is None else waiting_since
            if e["type"] == "ticket.updated" and e.get("queue"):
                queue = e["queue"]
            elif (e["type"] == "ticket.replied" and e["author"] == "agent"
                  and e.get("public", True) and not replied):
                replied = True
                if inside(e["t"]):
                    add(queue, "first_responses")
                    add(queue, "frt", (e["t"] - created["t"]) / 1e6)
            elif e["type"] == "ticket.status_changed":
                closing = e["status"] in ("solved", "closed")
                if closing and not solved:
                    solved = True
                    if inside(e["t"]):
                        add(queue, "solved")
                        add(queue, "resolution", (e["t"] - created["t"]) / 1e6)
                        add(queue, "replies", agent_replies)
                        if agent_replies == 1 and len(agents) <= 1:
                            add(queue, "ticket_fcr")
                elif not closing and not state_open and inside(e["t"]):
                    add(queue, "reopened")
                state_open = not closing
        if state_open:
            add(queue, "open")
            if end - created["t"] > BACKLOG_US:
                add(queue, "backlog")
    return out


def review_score(e: dict) -> float:
    """A QA review's score as a share, 0–1 (contract §3.3 IQS): the 0–100 score / 100, or
    its categories' weighted mean of (score − min) / (max − min), 0 when a critical one is
    under 50 %."""
    if not e.get("categories"):
        return e["score"] / 100
    shares = [((c["score"] - c["min"]) / (c["max"] - c["min"]), c.get("weight", 1),
               c.get("critical", False)) for c in e["categories"]]
    if any(critical and share < 0.5 for share, _, critical in shares):
        return 0.0
    return sum(share * w for share, w, _ in shares) / sum(w for _, w, _ in shares)


def _referenced_queue(e: dict, contacts: dict[str, list[dict]],
                      tickets: dict[str, list[dict]], end: int) -> str:
    """Contract §3: the queue at the feedback's time of the contact (its last segment
    answered by then, else its last queued by then, else its first) or ticket it names."""
    t = e["t"]
    evs = [x for x in contacts.get(e.get("contact_id") or "", []) if x["t"] <= end]
    if evs and max(x["t"] for x in evs) + CONTACT_KEPT_US < t:
        evs = []  # the contact is no longer kept (contract §2, retention)
    if evs:
        evs = in_order(evs, CONTACT_RANK)
        answered = [x["queue"] for x in evs if x["type"].endswith(".answered") and x["t"] <= t]
        queued = [x["queue"] for x in evs if x["type"].endswith(".queued")]
        before = [x["queue"] for x in evs if x["type"].endswith(".queued") and x["t"] <= t]
        if answered or queued:
            return (answered or before or queued)[-1 if (answered or before) else 0]
    evs = [x for x in tickets.get(e.get("ticket_id") or "", []) if x["t"] <= end]
    queue = None
    for x in in_order(evs, TICKET_RANK):
        names = x["type"] == "ticket.created" or (x["type"] == "ticket.updated"
                                                   and x.get("queue"))
        if names and (x["t"] <= t or queue is None):
            queue = x["queue"]
    return queue or "unknown"


#: Counts that are "no data" in a scope where their family never had a series: the keys of
#: ``ever`` (the tally from the stream's start) that say whether it had.
_FAMILY_OF = {"contacts_offered": ("offered:",), "contacts_handled": ("offered:",),
              "tickets_created": ("created:",), "tickets_solved": ("created:",),
              "reopened": ("created:",), "open_tickets": ("created:",),
              "backlog": ("created:",), "blocked_calls": ("blocked", "offered:voice"),
              "survey_responses": ("nps:", "csat:", "ces:"), "qa_reviews": ("qa",)}


def month_kpis(t: Tally, ever: Tally | None = None) -> dict[str, float | None]:
    """The report's values from a month's tally; with ``ever`` (the tally from the start of
    the stream to the month's end), a count whose family never had a series is None."""
    n = t.n
    a, b, f = n["answered"], n["abandoned"], n["flowed"]
    voice = n["offered:voice"]
    requests = {k.split(":")[1]: v for k, v in n.items() if k.startswith(("offered:", "created:"))}
    merged: dict[str, float] = defaultdict(float)
    for k, v in n.items():
        if k.startswith(("offered:", "created:")):
            merged[k.split(":")[1]] += v
    merged["voice"] += n["blocked"]
    del requests

    def scores(survey: str) -> dict[int, float]:
        return {int(k.split(":")[1]): v for k, v in n.items() if k.startswith(survey + ":")}

    nps, csat, ces = scores("nps"), scores("csat"), scores("ces")
    out: dict[str, float | None] = {
        "requests_total": sum(merged.values()),
        "contacts_offered": n["offered:voice"] + n["offered:chat"],
        "contacts_handled": n["handled"],
        "tickets_created": sum(v for k, v in n.items() if k.startswith("created:")),
        "tickets_solved": n["solved"], "reopened": n["reopened"],
        "open_tickets": n["open"], "backlog": n["backlog"],
        "service_level": _div(n["within"], a + b),
        "asa": _div(n["wait"], a),
        "abandon_ratio": _div(b, a + b + f),
        "blocked_calls": n["blocked"],
        "blocking_ratio": _div(n["blocked"], n["blocked"] + voice),
        "aht": _div(n["handle"], n["handled"]),
        "frt": _div(n["frt"], n["first_responses"]),
        "frt_business": _div(n["frt"], n["first_responses"]),
        "resolution_time": _div(n["resolution"], n["solved"]),
        "resolution_time_business": _div(n["resolution"], n["solved"]),
        "resolution_ratio": _div(n["solved"],
                                 sum(v for k, v in n.items() if k.startswith("created:"))),
        "nps": _div(sum(v for s, v in nps.items() if s >= 9)
                    - sum(v for s, v in nps.items() if s <= 6), sum(nps.values()), 100),
        "csat": _div(sum(v for s, v in csat.items() if s >= 4), sum(csat.values())),
        "ces": _div(sum(v for s, v in ces.items() if s >= 6), sum(ces.values())),
        "ces_average": _div(sum(s * v for s, v in ces.items()), sum(ces.values())),
        "survey_responses": sum(nps.values()) + sum(csat.values()) + sum(ces.values()),
        "qa_reviews": n["qa"],
        "response_time": _div(n["response"], n["responses"]),
        "fcr_contacts": _div(n["fcr"], n["handled"]),
        "fcr_tickets": _div(n["ticket_fcr"], n["solved"]),
        "replies_per_ticket": _div(n["replies"], n["solved"]),
        "iqs": _div(n["qa_score"], n["qa"]),
    }
    for channel, v in merged.items():
        if v:
            out[f"requests:{channel}"] = v
    if ever is not None:
        for key, prefixes in _FAMILY_OF.items():
            if not any(v for k, v in ever.n.items() if k.startswith(prefixes)):
                out[key] = None
    return out


def customer_month(events: Iterable[dict], month: str, timezone: str) -> dict[str, float | None]:
    """Contract §3.4 for ``month`` in ``timezone``, from the events before its end."""
    tz = ZoneInfo(timezone)

    def label(t: int) -> str:
        return datetime.fromtimestamp(t / 1e6, UTC).astimezone(tz).strftime("%Y-%m")

    year, mon = int(month[:4]), int(month[5:7])
    nxt = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=tz)
    end_us = int((nxt - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6)
    acquired: dict[str, int] = defaultdict(int)
    lost: dict[str, int] = defaultdict(int)
    existing: dict[str, int] = defaultdict(int)
    referred = interactions = 0
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    spend: dict[str, Decimal] = defaultdict(Decimal)
    customers: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        if e["t"] >= end_us:
            continue
        if e["type"] == "marketing.spend" and label(e["t"]) == month:
            spend[e["currency"]] += Decimal(str(e["amount"]))
        elif e["type"].startswith("customer."):
            customers[e["customer_id"]].append(e)
    for evs in customers.values():
        evs.sort(key=lambda e: (e["t"], e["event_id"]))
        lifecycle = [e for e in evs if e["type"] in ("customer.acquired", "customer.churned")]
        active = not lifecycle or lifecycle[0]["type"] == "customer.churned"
        if active:
            existing[label(evs[0]["t"])] += 1
        for e in evs:
            m = label(e["t"])
            if e["type"] == "customer.acquired" and not active:
                active = True
                acquired[m] += 1
                if m == month and e.get("referred_by"):
                    referred += 1
            elif e["type"] == "customer.churned" and active:
                active = False
                lost[m] += 1
            elif e["type"] == "customer.revenue" and m == month:
                revenue[e["currency"]] += Decimal(str(e["amount"]))
            elif e["type"] == "customer.interaction" and m == month:
                interactions += 1
    start = (sum(acquired[m] - lost[m] for m in set(acquired) | set(lost) if m < month)
             + sum(v for m, v in existing.items() if m <= month))
    n, gone = acquired[month], lost[month]
    stop = start + n - gone
    out: dict[str, float | None] = {
        "retention": _div(stop - n, start), "churn": _div(gone, start),
        "referral_ratio": _div(referred, n), "engagement": _div(interactions, start + n),
    }
    for cur in set(revenue) | set(spend):
        s, r = float(spend[cur]), float(revenue[cur])
        cac = s / n if n else (0.0 if not s else None)
        out[f"cac:{cur}"] = s / n if n else None
        life = 10.0 if not gone else min(10.0, start / (12 * gone))
        out[f"clv:{cur}"] = (12 * r / ((start + stop) / 2) * life - cac
                             if start and cac is not None else None)
    return out
