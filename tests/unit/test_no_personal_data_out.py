"""No personal data out (contract §4): after a simulated day of every event family, no customer,
contact, ticket, agent or event id appears in any label of ``/metrics`` nor anywhere in
``/wallboard.json`` — per-agent series are off by default. With ``[limits] per_agent = true``
(the opt-in, docs/security.md) agent ids appear only as the ``agent`` label of the per-agent
families, still never in ``/wallboard.json`` nor in the Grafana wallboard's queries, and no
customer, contact, ticket or event id appears anywhere.

The day runs through the replay (the worker's own ingest step and engine) and the wallboard
model the worker serves; a few invalid lines carrying ids go through the dead-letter path's
counters too. A planted leak (a customer id used as a queue name) proves the check can fail.
The page (``streams/web/wallboard.*``) is static and paints only ``/wallboard.json``, so the
JSON is what it can show.
"""

from __future__ import annotations

import io
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.core.config import Config, parse_config
from streams.replay import ReplayResult, replay_streams
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.wallboard import wallboard_model

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `grafana/` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO))

from grafana.queries import all_panel_queries  # noqa: E402

DAY_START_MS = 1_795_392_000_000  # 2026-11-23T00:00:00Z, a Monday
DAY_MS = 24 * 3_600_000
#: Fields that hold an id without ending in ``_id`` (schemas/*.json).
ID_FIELDS = frozenset({"to_agent", "referred_by"})


def is_id_field(key: str) -> bool:
    return key.endswith("_id") or key in ID_FIELDS


def ids_in(value: Any) -> Iterator[str]:
    """Every id value in an event, however deeply nested (``categories[]`` of a QA review)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if is_id_field(key) and isinstance(item, str):
                yield item
            else:
                yield from ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from ids_in(item)


def strings_in(value: Any) -> Iterator[str]:
    """Every string (keys included) of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str):
        yield value


@dataclass
class Outputs:
    exposition: str
    wallboard: dict[str, Any]


def outputs(result: ReplayResult, config: Config) -> Outputs:
    """What a scrape of ``/metrics`` and of ``/wallboard.json`` would show at the day's end."""
    families = result.families()
    return Outputs(result.exposition().decode(),
                   wallboard_model(families, config, now_s=result.now_us / 1e6))


def leaks(ids: set[str], out: Outputs) -> list[str]:
    """Where any of ``ids`` shows: as a label value or anywhere in the exposition's text, or
    as (part of) any string of the wallboard document."""
    found = []
    for family in text_string_to_metric_families(out.exposition):
        for sample in family.samples:
            for label, value in sample.labels.items():
                if value in ids:
                    found.append(f"/metrics {sample.name}{{{label}={value!r}}}")
    found += [f"/metrics text contains {i!r}" for i in sorted(ids) if i in out.exposition]
    board = list(strings_in(out.wallboard))
    found += [f"/wallboard.json contains {i!r}" for i in sorted(ids)
              if any(i in text for text in board)]
    return found


def replay(lines: list[bytes], config: Config) -> ReplayResult:
    return replay_streams([("day", io.BytesIO(b"\n".join(lines)))], config)


def simulated_day() -> list[dict[str, Any]]:
    """A day of the contact centre (calls, chats, agents, tickets, surveys, QA, customers,
    marketing); transfers also name the agent they went to (the simulator leaves the optional
    ``to_agent`` out)."""
    events = list(generate(contact_centre(), seed=7, start_ms=DAY_START_MS, duration_ms=DAY_MS))
    agents = sorted({e["agent_id"] for e in events if "agent_id" in e})
    transfers = [e for e in events if e["type"].endswith(".transferred")]
    for n, event in enumerate(transfers):
        event["to_agent"] = agents[n % len(agents)]
    return events


def invalid_lines() -> list[dict[str, Any]]:
    """Dead letters that carry ids: a call without its queue, an id where the type goes."""
    at = "2026-11-23T12:00:00Z"
    return [
        {"event_id": str(uuid.uuid4()), "type": "call.queued", "occurred_at": at,
         "call_id": "call-dead-letter-1", "customer_id": "cust-dead-letter-1"},
        {"event_id": str(uuid.uuid4()), "type": "cust-dead-letter-2", "occurred_at": at,
         "customer_id": "cust-dead-letter-2"},
        {"event_id": str(uuid.uuid4()), "type": "ticket.assigned", "occurred_at": "noon",
         "ticket_id": "ticket-dead-letter-3", "agent_id": "agent-dead-letter-3"},
    ]


@pytest.fixture(scope="module")
def day() -> tuple[list[dict[str, Any]], set[str], Outputs]:
    events = simulated_day()
    bad = invalid_lines()
    ids = {i for event in [*events, *bad] for i in ids_in(event)} | {
        event["type"] for event in bad if event["type"].startswith("cust-")}
    result = replay([orjson.dumps(e) for e in [*events, *bad]], Config())
    assert result.counts["invalid"] == len(bad)
    return events, ids, outputs(result, Config())


class TestNoPersonalDataOut:
    def test_the_day_has_every_event_family_and_every_kind_of_id(self, day):
        events, ids, _ = day
        families = {e["type"].split(".")[0] for e in events}
        assert families >= {"call", "chat", "agent", "ticket", "survey", "qa", "customer",
                            "marketing"}
        fields = {key for e in events for key in e if is_id_field(key)}
        assert fields >= {"event_id", "call_id", "chat_id", "ticket_id", "agent_id",
                          "customer_id", "contact_id", "to_agent"}
        assert len(ids) > 90_000  # every event id at least

    def test_no_id_is_a_label_value_or_text_of_the_exposition_or_wallboard(self, day):
        _, ids, out = day
        assert out.exposition.count("\n") > 1000, "not vacuous: a full exposition"
        assert out.wallboard["contacts"] and out.wallboard["tickets"], "tiles were drawn"
        assert leaks(ids, out) == []

    def test_per_agent_series_are_off_by_default(self):
        # The day above runs on the default configuration: it covers the default only while
        # per-agent series stay off by default (docs/contract.md §4).
        assert Config().limits.per_agent is False


#: The per-agent families: the only ones that may carry an agent id, as their ``agent`` label.
PER_AGENT_FAMILY = re.compile(r"^cc_(window_)?per_agent_")
PER_AGENT = parse_config({"limits": {"per_agent": True}})


@pytest.fixture(scope="module")
def opted_in(day) -> tuple[set[str], set[str], Outputs]:
    """The same day with per-agent series on: (agent ids, every other id, the outputs)."""
    events, ids, _ = day
    agents = {e[k] for e in events for k in ("agent_id", "to_agent") if k in e}
    result = replay([orjson.dumps(e) for e in events], PER_AGENT)
    return agents, ids - agents, outputs(result, PER_AGENT)


class TestPerAgentOptIn:
    def test_agent_ids_are_only_the_agent_label_of_per_agent_families(self, opted_in):
        agents, _, out = opted_in
        shown, elsewhere = set(), []
        for family in text_string_to_metric_families(out.exposition):
            for sample in family.samples:
                for label, value in sample.labels.items():
                    if value not in agents:
                        continue
                    if label == "agent" and PER_AGENT_FAMILY.match(sample.name):
                        shown.add(value)
                    else:
                        elsewhere.append(f"{sample.name}{{{label}={value!r}}}")
        assert elsewhere == []
        assert len(shown) > 20, "not vacuous: the day's agents are shown"
        lines = [line for line in out.exposition.splitlines()
                 if any(agent in line for agent in agents)]
        assert lines and all(PER_AGENT_FAMILY.match(line) for line in lines)

    def test_no_customer_contact_ticket_or_event_id_appears(self, opted_in):
        _, others, out = opted_in
        assert leaks(others, out) == []

    def test_the_wallboard_document_shows_no_agent_id(self, opted_in):
        agents, _, out = opted_in
        assert out.wallboard["contacts"], "tiles were drawn"
        board = list(strings_in(out.wallboard))
        assert [a for a in sorted(agents) if any(a in text for text in board)] == []

    def test_the_grafana_wallboard_reads_no_per_agent_family_nor_agent_label(self):
        exprs = [q.expr for q in all_panel_queries() if q.dashboard_uid == "ccpulse-wallboard"]
        assert exprs
        assert [e for e in exprs if "per_agent" in e or re.search(r"\bagent\s*=", e)] == []


class TestTheCheckFindsALeak:
    def test_a_customer_id_used_as_a_queue_name_is_found_in_both_outputs(self):
        planted = "cust-000042"
        events = list(generate(contact_centre(), seed=3, start_ms=DAY_START_MS + 9 * 3_600_000,
                               duration_ms=600_000))
        first_call = next(e for e in events if e["type"] == "call.queued")
        first_call["queue"] = planted
        ids = {i for e in events for i in ids_in(e)} | {planted}
        out = outputs(replay([orjson.dumps(e) for e in events], Config()), Config())
        found = leaks(ids, out)
        assert any(f.startswith("/metrics cc_") and f"queue='{planted}'" in f for f in found)
        assert f"/metrics text contains '{planted}'" in found
        assert f"/wallboard.json contains '{planted}'" in found

    def test_an_id_inside_a_longer_wallboard_string_is_found(self):
        out = Outputs("", {"contacts": [{"queue": "vip cust-7 line"}]})
        assert leaks({"cust-7"}, out) == ["/wallboard.json contains 'cust-7'"]
