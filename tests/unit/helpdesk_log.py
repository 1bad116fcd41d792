"""The "Helpdesk" ticket log of an Italian software company as docs/contract.md §1.3 ticket events.

The log (4TU.ResearchData, DOI 10.4121/uuid:0c60edf1-6f83-4e75-9367-4c63b3e9d5bb) is read from
``../shared/data`` at test time and never copied into the repository. Every mapping decision
and its reason is in ``docs/helpdesk-data.md``; in short:

- a ticket's first row creates it (queue = support section, category = product, priority =
  ``seriousness_2``, channel ``other``, the customer);
- *Take in charge ticket* assigns the row's resource, and (re)opens a ticket that is not open;
- *Wait* is an agent's public reply and the status ``pending``; *Resolve ticket* an agent's
  public reply and ``solved``; *Closed* is ``closed``; *Require upgrade*, *Create SW anomaly*
  and *Schedule intervention* put it ``on_hold``; *Resolve SW anomaly* takes it off hold;
- a later *Assign seriousness*, or a row whose priority or product differs from the row
  before, is a ``ticket.updated``;
- a status is sent only when it changes (a resolve after a resolve is no event of its own).

Events come out in time order (the order a ticketing system publishes them), ties by ticket
and event id, with unique deterministic ids ``hd-<case>-<row>-<n>``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

DATA = (Path(__file__).resolve().parents[3] / "shared" / "data"
        / "helpdesk-italian-software-company" / "helpdesk_log.csv")
#: The log's times are local, without an offset; the company is Italian.
ZONE = ZoneInfo("Europe/Rome")

#: ``seriousness_2`` values (anonymised, no order given) onto ticket priorities; see the docs.
PRIORITY = {"Value 1": "normal", "Value 2": "low", "Value 3": "high", "Value 4": "urgent"}

#: The status an activity puts the ticket in; ``None``: the activity says nothing of it.
STATUS = {
    "Take in charge ticket": "open",
    "Wait": "pending",
    "Resolve ticket": "solved",
    "Closed": "closed",
    "Require upgrade": "on_hold",
    "Create SW anomaly": "on_hold",
    "Schedule intervention": "on_hold",
}
#: Activities that are a public message of the agent to the customer.
AGENT_REPLIES = frozenset({"Wait", "Resolve ticket"})
#: Statuses an open ticket can be in.
OPEN_STATUSES = frozenset({"open", "pending", "on_hold"})


@dataclass(frozen=True)
class Row:
    """One line of the log, with its time made an aware local time."""

    case: int  # "Case 1820" -> 1820
    activity: str
    resource: str
    at: datetime
    priority: str
    product: str
    customer: str
    section: str


def local_time(stamp: str) -> datetime:
    """``2012-10-09 14:50:17`` as Europe/Rome wall time (``fold=0`` in a repeated hour)."""
    return datetime.fromisoformat(stamp).replace(tzinfo=ZONE)


def _number(value: str) -> str:
    """``Value 12`` -> ``12``: the anonymised value's number."""
    return value.removeprefix("Value ").strip()


def read_log(path: Path = DATA) -> dict[int, list[Row]]:
    """Tickets by case number, each with its rows in log order (which is time order)."""
    tickets: dict[int, list[Row]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for line in csv.DictReader(f):
            case = int(line["Case ID"].removeprefix("Case "))
            tickets.setdefault(case, []).append(Row(
                case=case, activity=line["Activity"], resource=line["Resource"],
                at=local_time(line["Complete Timestamp"]),
                priority=PRIORITY[line["seriousness_2"]],
                product=f"product-{_number(line['product'])}",
                customer=f"customer-{_number(line['customer'])}",
                section=f"section-{_number(line['support_section'])}",
            ))
    return tickets


def _next_status(activity: str, status: str) -> str | None:
    """The status after ``activity`` on a ticket in ``status``, if it changes."""
    if activity == "Resolve SW anomaly":
        target = "open" if status == "on_hold" else None  # the blocking defect is fixed
    else:
        target = STATUS.get(activity)
    return target if target is not None and target != status else None


def ticket_events(rows: list[Row]) -> list[dict]:
    """One ticket's rows as events, in row order."""
    first = rows[0]
    ticket = f"HD-{first.case}"
    out: list[dict] = []
    per_row: dict[int, int] = {}

    def emit(row_no: int, at: datetime, type_: str, **fields: object) -> None:
        n = per_row[row_no] = per_row.get(row_no, -1) + 1
        out.append({"event_id": f"hd-{first.case}-{row_no:02d}-{n}", "type": type_,
                    "occurred_at": at.isoformat(), "source": "helpdesk-log",
                    "ticket_id": ticket, **fields})

    emit(1, first.at, "ticket.created", queue=first.section, channel="other",
         priority=first.priority, category=first.product, customer_id=first.customer)
    status = "open"
    previous = first
    for row_no, row in enumerate(rows[1:], start=2):
        changed: dict[str, object] = {}
        if row.activity == "Assign seriousness" or row.priority != previous.priority:
            changed["priority"] = row.priority
        if row.product != previous.product:
            changed["category"] = row.product
        if changed:
            emit(row_no, row.at, "ticket.updated", **changed)
        agent = f"agent-{_number(row.resource)}"
        new_status = _next_status(row.activity, status)
        if row.activity in AGENT_REPLIES:  # the message goes out with the status change
            emit(row_no, row.at, "ticket.replied", author="agent", public=True, agent_id=agent)
        if new_status is not None:
            emit(row_no, row.at, "ticket.status_changed", status=new_status)
            status = new_status
        if row.activity == "Take in charge ticket":
            emit(row_no, row.at, "ticket.assigned", agent_id=agent)
        previous = row
    return out


def events_from_log(path: Path = DATA) -> list[dict]:
    """Every ticket's events, in time order; ties by ticket, then by event order."""
    tagged = [(e["occurred_at"], rows[0].case, i, e)
              for rows in read_log(path).values()
              for i, e in enumerate(ticket_events(rows))]
    tagged.sort(key=lambda t: (datetime.fromisoformat(t[0]), t[1], t[2]))
    return [e for *_, e in tagged]


def write_jsonl(events: Iterable[dict], path: Path) -> Path:
    """The events as a JSON-lines file for ``ccpulse replay``."""
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path
