"""The Amazon Connect connector: contact records and agent events → contract events.

The fixtures under tests/fixtures/sources/amazon-connect/ follow the record layouts Amazon
documents ("Contact records data model", "Agent event streams data model", "Example: Metrics
for a queued callback" in the Amazon Connect Administrator Guide): a voice call answered with a
hold and ACW, one abandoned in queue, one transferred by its agent to another queue, a queued
callback (the inbound record and the callback's), a chat with ACW, a call disconnected before
any queue, an outbound call, a short abandon, a queue without a name, and a record delivered
before its ACW ended, again with it, and once more in its first form.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.core.timestamps import parse_us
from streams.errors import ConfigError
from streams.replay import replay_streams
from streams.settings import load_config
from streams.sources.amazon_connect import (
    AmazonConnectMapper,
    build,
    json_objects,
    read_records,
    settings,
)
from streams.sources.base import Record, Skipped
from streams.sources.run import pump
from streams.sources.sinks import FileSink
from streams.validation import Invalid, decode_obj

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "amazon-connect"
CTRS = FIXTURES / "ctr.jsonl"
AGENT_EVENTS = FIXTURES / "agent-events.jsonl"
#: The Support queue's id: one of its records carries no Name.
SUPPORT_ID = "4c1d5f0e-2b1a-4e0c-9d8f-1a2b3c4d5e02"
CONFIG = f"""
[defaults.service_level]
threshold_seconds = 20
short_abandon_seconds = 0
abandons = "positive"
flow_outs = "positive"

[connect.amazon-connect]
queue_names = {{ "{SUPPORT_ID}" = "Support" }}
"""


def ctrs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CTRS.read_text().splitlines()]


def contact(n: int) -> dict[str, Any]:
    """The first delivery of fixture contact ``…0000000000nn``."""
    return next(c for c in ctrs() if c["ContactId"].endswith(f"{n:012d}"))


def mapped(obj: Any, names: dict[str, str] | None = None) -> list[Any]:
    line = obj if isinstance(obj, str) else json.dumps(obj)
    return AmazonConnectMapper(names).map(Record("test:1", line, {}))


def events(obj: Any) -> list[dict[str, Any]]:
    out = mapped(obj)
    assert all(not isinstance(e, Skipped) for e in out), out
    for e in out:
        assert not isinstance(decode_obj(e), Invalid), (e, decode_obj(e))
    return out


def timeline(obj: Any) -> list[tuple[str, str]]:
    return [(e["type"], e["occurred_at"]) for e in events(obj)]


def connect_to_file(tmp_path: Path, name: str) -> bytes:
    """``ccpulse connect amazon-connect`` of both fixture files into a file, in-process."""
    args = argparse.Namespace(contact_records=[str(CTRS)], agent_events=[str(AGENT_EVENTS)],
                              follow=False)
    config_file = tmp_path / "ccpulse.toml"
    config_file.write_text(CONFIG)
    connector = build(args, load_config(config_file, environ={}))
    out = tmp_path / name
    with out.open("wb") as f:
        report = asyncio.run(pump(connector, FileSink(f, name), None))
    assert report.sent > 0
    return out.read_bytes()


class TestContactRecords:
    def test_answered_call_queues_answers_at_dequeue_holds_ends_at_acw_start_and_wraps_up(self):
        assert timeline(contact(1)) == [
            ("call.queued", "2026-03-10T09:00:00.120000Z"),
            ("call.answered", "2026-03-10T09:00:12.480000Z"),
            ("call.hold_started", "2026-03-10T09:03:40Z"),
            ("call.hold_ended", "2026-03-10T09:04:10Z"),
            ("call.ended", "2026-03-10T09:04:10Z"),
            ("call.wrapup_ended", "2026-03-10T09:05:00.250000Z"),
        ]
        answered = events(contact(1))[1]
        assert (answered["queue"], answered["agent_id"]) == ("Sales", "alice")
        assert answered["call_id"] == contact(1)["ContactId"]

    def test_customer_disconnect_in_queue_is_an_abandon_at_dequeue(self):
        assert timeline(contact(2)) == [("call.queued", "2026-03-10T09:01:00Z"),
                                        ("call.abandoned", "2026-03-10T09:01:45.300000Z")]

    def test_a_transfer_chain_is_one_contact_with_a_segment_per_queue(self):
        first, second = events(contact(3)), events(contact(4))
        assert {e["call_id"] for e in first + second} == {contact(3)["ContactId"]}
        assert [e["type"] for e in first] == ["call.queued", "call.answered",
                                              "call.transferred", "call.ended",
                                              "call.wrapup_ended"]
        assert [(e["type"], e.get("queue")) for e in second[:2]] == [
            ("call.queued", "Support"), ("call.answered", "Support")]

    def test_queued_callback_flows_out_as_callback_and_the_callback_waits_in_its_queue(self):
        original, callback = events(contact(5)), events(contact(6))
        assert [(e["type"], e.get("reason"), e["occurred_at"]) for e in original] == [
            ("call.queued", None, "2026-03-10T09:03:00Z"),
            ("call.flowed_out", "callback", "2026-03-10T09:03:15Z")]
        assert callback[0]["call_id"] == original[0]["call_id"]
        assert [(e["type"], e.get("queue"), e["occurred_at"]) for e in callback[:2]] == [
            ("call.queued", "CallbackQueue", "2026-03-10T09:04:54Z"),
            ("call.answered", "CallbackQueue", "2026-03-10T09:05:20Z")]

    def test_chat_gives_chat_events_with_acw_and_no_holds(self):
        assert [t for t, _ in timeline(contact(7))] == [
            "chat.queued", "chat.answered", "chat.ended", "chat.wrapup_ended"]
        assert timeline(contact(7))[-1] == ("chat.wrapup_ended", "2026-03-10T09:16:30Z")

    @pytest.mark.parametrize(("n", "reason"), [(8, "ignored:not_queued"),
                                               (9, "ignored:outbound")],
                             ids=["disconnected before any queue", "outbound"])
    def test_contacts_never_offered_to_a_queue_are_ignored_with_a_reason(self, n, reason):
        assert [s.reason for s in mapped(contact(n))] == [reason]

    def test_a_queue_without_a_name_is_its_arn_id_unless_configured(self):
        assert events(contact(12))[0]["queue"] == SUPPORT_ID
        assert mapped(contact(12), {SUPPORT_ID: "Support"})[0]["queue"] == "Support"

    def test_flow_hang_up_without_a_next_contact_is_a_timeout_flow_out(self):
        record = contact(2) | {"DisconnectReason": "CONTACT_FLOW_DISCONNECT"}
        assert events(record)[-1]["reason"] == "timeout"

    def test_leaving_the_queue_for_another_contact_otherwise_is_an_overflow(self):
        record = contact(2) | {"NextContactId": "next", "DisconnectReason": None}
        assert events(record)[-1]["reason"] == "overflow"

    def test_an_agents_personal_queue_is_one_queue_label(self):
        record = contact(4)
        record["Queue"] = record["Queue"] | {
            "ARN": record["InstanceARN"] + "/queue/agent/0a7e1c2d", "Name": None}
        assert events(record)[0]["queue"] == "agent-queue"


class TestRedelivery:
    def test_a_record_delivered_again_with_acw_ended_adds_only_the_wrapup(self):
        copies = [c for c in ctrs() if c["ContactId"].endswith("000000000010")]
        first, update, again = (events(c) for c in copies)
        assert [e["type"] for e in first][-1] == "call.ended"  # ACW not over yet
        assert first == again
        new = [e for e in update if e not in first]
        assert [(e["type"], e["occurred_at"]) for e in new] == [
            ("call.wrapup_ended", "2026-03-10T09:16:45Z")]

    def test_connecting_the_same_files_twice_gives_identical_output(self, tmp_path):
        assert connect_to_file(tmp_path, "a.jsonl") == connect_to_file(tmp_path, "b.jsonl")


class TestAgentEvents:
    def agent_events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in AGENT_EVENTS.read_text().splitlines()]

    @pytest.mark.parametrize(("index", "state", "reason"), [
        (0, "offline", None), (1, "available", None), (2, "on_contact", None),
        (3, "on_contact", None), (4, "on_contact", None), (5, "after_contact_work", None),
        (7, "on_contact", None), (10, "not_ready", "Break"), (13, "offline", None)],
        ids=["login while offline", "available", "ringing", "connected", "on hold", "ACW",
             "callback pending", "custom status", "logout"])
    def test_state_follows_contacts_first_then_the_status_type(self, index, state, reason):
        (event,) = events(self.agent_events()[index])
        assert (event["agent_id"], event["state"], event.get("reason")) == \
            ("alice", state, reason)

    def test_queues_are_the_routing_profiles_inbound_queues_without_agent_queues(self):
        (event,) = events(self.agent_events()[1])
        assert event["queues"] == ["CallbackQueue", "Sales", "Support"]

    def test_heart_beats_are_ignored_with_a_reason(self):
        assert [s.reason for s in mapped(self.agent_events()[11])] == ["ignored:heart_beat"]


class TestSkips:
    @pytest.mark.parametrize(("line", "reason"), [
        ("{not json", "not_json"),
        ('{"hello": "world"}', "unknown_record"),
        ("[1, 2]", "unknown_record"),
        ('{"AWSContactTraceRecordFormatVersion": "2017-03-10", "Channel": "VOICE"}',
         "no_contact_id"),
        ('{"ContactId": "t-1", "Channel": "TASK"}', "ignored:task"),
        ('{"ContactId": "v-1", "Channel": "VOICE", "Queue": {"Name": "Sales", '
         '"EnqueueTimestamp": "yesterday"}}', "bad_time"),
        ("", "ignored:blank_line"),
    ], ids=["not JSON", "neither kind", "not an object", "CTR without ContactId", "task",
            "unreadable timestamp", "blank line"])
    def test_a_record_that_gives_no_event_says_why(self, line, reason):
        assert [s.reason for s in mapped(line)] == [reason]

    def test_firehose_objects_back_to_back_on_one_line_are_each_mapped(self):
        line = json.dumps(contact(2)) + json.dumps(contact(8)) + "\n"
        assert [type(o).__name__ for o in json_objects(line)] == ["dict", "dict"]
        out = mapped(line)
        assert [getattr(e, "reason", None) or e["type"] for e in out] == [
            "call.queued", "call.abandoned", "ignored:not_queued"]


QUEUE_LOG = "".join(f"17645270{i:02d}|1700.{i}|support|NONE|ENTERQUEUE||5551234|1\n"
                    for i in range(21))


def connect_lines(tmp_path: Path, text: str) -> tuple[Any, list[dict[str, Any]]]:
    """The report and the events of ``ccpulse connect amazon-connect`` of a file of ``text``."""
    source = tmp_path / "input"
    source.write_text(text)
    config_file = tmp_path / "ccpulse.toml"
    config_file.write_text(CONFIG)
    args = argparse.Namespace(contact_records=[str(source)], agent_events=[], follow=False)
    connector = build(args, load_config(config_file, environ={}))
    out = tmp_path / "out.jsonl"
    with out.open("wb") as f:
        report = asyncio.run(pump(connector, FileSink(f, "out"), None))
    return report, [json.loads(line) for line in out.read_text().splitlines()]


class TestCounting:
    def test_a_queue_log_file_is_one_not_json_skip_per_line_and_nothing_else(self, tmp_path):
        report, sent = connect_lines(tmp_path, QUEUE_LOG)
        assert (report.records, sent, dict(report.skipped)) == (21, [], {"not_json": 21})
        assert report.examples["not_json"][0] == (
            f"{tmp_path / 'input'}:1: not JSON: a contact record or agent event is a JSON "
            "object per line ('1764527000|1700.0|support|NONE|ENTERQUEU'…)")

    def test_a_line_starting_with_a_number_is_never_read_as_a_json_number(self):
        (skip,) = mapped(QUEUE_LOG.splitlines()[0])
        assert (skip.reason, skip.detail.startswith("not JSON: ")) == ("not_json", True)

    def test_back_to_back_objects_are_each_a_record_read(self, tmp_path):
        text = (json.dumps(contact(2)) + json.dumps(contact(8)) + "\n"
                + json.dumps(contact(1)) + "\n")
        report, sent = connect_lines(tmp_path, text)
        ids = {e["call_id"] for e in sent}
        assert ids == {contact(1)["ContactId"], contact(2)["ContactId"]}
        assert dict(report.skipped) == {"ignored:not_queued": 1}
        assert report.records == 3 == len(ids) + sum(report.skipped.values())

    def test_an_unreadable_rest_after_back_to_back_objects_is_one_more_record(self, tmp_path):
        text = json.dumps(contact(2)) + json.dumps(contact(8)) + '{"ContactId": "cut off'
        report, sent = connect_lines(tmp_path, text)
        assert {e["call_id"] for e in sent} == {contact(2)["ContactId"]}
        assert dict(report.skipped) == {"ignored:not_queued": 1, "not_json": 1}
        assert report.records == 3
        assert report.examples["not_json"][0].startswith(
            f"{tmp_path / 'input'}:1 object 3: not JSON: a contact record or agent event is a "
            "JSON object per line (after 2 objects, from character ")

    @pytest.mark.parametrize(("text", "reason"), [
        ('{"hello": "world"}', "unknown_record"), ("[1, 2]", "unknown_record"),
        ('"a string"', "unknown_record"), ("", "ignored:blank_line"),
        ("{not json", "not_json"), ("12|not json", "not_json")],
        ids=["neither kind", "an array", "a string", "blank", "broken object", "number first"])
    def test_every_line_is_one_record_skipped_for_one_reason(self, tmp_path, text, reason):
        report, sent = connect_lines(tmp_path, text + "\n")
        assert (report.records, sent, dict(report.skipped)) == (1, [], {reason: 1})

    def test_a_restart_between_objects_of_one_line_reads_the_whole_line_again(self, tmp_path):
        source = tmp_path / "input"
        source.write_text(json.dumps(contact(1)) + "\n" + json.dumps(contact(2))
                          + json.dumps(contact(8)) + "\n")
        line_1, object_1, object_2 = read_records([str(source)], None)
        assert [r.where.rsplit("/", 1)[1] for r in (line_1, object_1, object_2)] == [
            "input:1", "input:2 object 1", "input:2 object 2"]
        assert object_1.position == line_1.position  # before line 2: nothing of it is lost
        again = list(read_records([str(source)], object_1.position))
        assert [r.data for r in again] == [contact(2), contact(8)]
        assert list(read_records([str(source)], object_2.position)) == []


class TestSettings:
    def test_an_unknown_key_is_a_config_error_naming_it(self, tmp_path):
        path = tmp_path / "c.toml"
        path.write_text('[connect.amazon-connect]\nqueue_name = {}\n')
        with pytest.raises(ConfigError, match=r"connect\.amazon-connect\.queue_name "):
            settings(load_config(path, environ={}))

    def test_queue_names_must_map_ids_to_names(self, tmp_path):
        path = tmp_path / "c.toml"
        path.write_text('[connect.amazon-connect]\nqueue_names = { a = 1 }\n')
        with pytest.raises(ConfigError, match="queue_names"):
            settings(load_config(path, environ={}))


# ------------------------------------------------------------------------------------------
# Amazon's own metrics, computed from the contact records as Amazon defines them, against
# ccpulse's KPIs after connecting the records and replaying the events.


def amazon_service_level(records: list[dict[str, Any]], x_seconds: int) -> dict[tuple, float]:
    """"Service level X" per (queue, channel): contacts removed from the queue within X
    seconds of being added to it (an agent answers, the customer abandons, or the customer
    requests a callback) / contacts queued. Source: Amazon Connect Administrator Guide,
    Historical metrics definitions, "Service level X"
    (https://docs.aws.amazon.com/connect/latest/adminguide/historical-metrics-definitions.html#service-level-historical).
    A record delivered again counts once (the newest copy, by LastUpdateTimestamp)."""
    queued: dict[tuple, int] = defaultdict(int)
    removed: dict[tuple, int] = defaultdict(int)
    for ctr in newest_copies(records):
        queue = ctr.get("Queue") or {}
        if ctr["InitiationMethod"] == "OUTBOUND" or not queue.get("EnqueueTimestamp"):
            continue
        key = (queue.get("Name") or "Support", ctr["Channel"].lower())
        queued[key] += 1
        answered = (ctr.get("Agent") or {}).get("ConnectedToAgentTimestamp")
        abandoned = ctr.get("DisconnectReason") == "CUSTOMER_DISCONNECT" and not answered
        callback = bool(ctr.get("NextContactId")) and not answered and \
            ctr.get("DisconnectReason") == "CONTACT_FLOW_DISCONNECT"
        waited = parse_us(queue["DequeueTimestamp"]) - parse_us(queue["EnqueueTimestamp"])
        if (answered or abandoned or callback) and waited <= x_seconds * 1_000_000:
            removed[key] += 1
    return {key: removed[key] / n for key, n in queued.items()}


def amazon_queue_answer_and_abandons(records: list[dict[str, Any]]) -> dict[tuple, tuple]:
    """Per (queue, channel): "Average queue answer time" (the mean time answered contacts
    waited in the queue, Enqueue → Dequeue, here to the millisecond the records carry instead
    of Queue.Duration's whole seconds) and "Contacts abandoned" (disconnected by the customer
    while in queue). Source: Historical metrics definitions, "Average queue answer time",
    "Contacts abandoned" (same page as above)."""
    waits: dict[tuple, list[int]] = defaultdict(list)
    abandoned: dict[tuple, int] = defaultdict(int)
    for ctr in newest_copies(records):
        queue = ctr.get("Queue") or {}
        if ctr["InitiationMethod"] == "OUTBOUND" or not queue.get("EnqueueTimestamp"):
            continue
        key = (queue.get("Name") or "Support", ctr["Channel"].lower())
        waited = parse_us(queue["DequeueTimestamp"]) - parse_us(queue["EnqueueTimestamp"])
        if (ctr.get("Agent") or {}).get("ConnectedToAgentTimestamp"):
            waits[key].append(waited)
        elif ctr.get("DisconnectReason") == "CUSTOMER_DISCONNECT":
            abandoned[key] += 1
    return {key: (sum(w) / len(w) / 1e6 if w else None, abandoned[key])
            for key, w in (waits | {k: waits[k] for k in abandoned}).items()}


def newest_copies(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for ctr in records:
        seen = newest.get(ctr["ContactId"])
        if seen is None or ctr["LastUpdateTimestamp"] > seen["LastUpdateTimestamp"]:
            newest[ctr["ContactId"]] = ctr
    return list(newest.values())


def replayed(tmp_path: Path) -> dict[tuple[str, tuple], float]:
    """``today`` values per (family, (queue, channel)) of the replay of the connector's file."""
    data = connect_to_file(tmp_path, "events.jsonl")
    config_file = tmp_path / "ccpulse.toml"
    result = replay_streams([("events.jsonl", io.BytesIO(data))],
                            load_config(config_file, environ={}))
    out: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(result.exposition().decode()):
        for s in family.samples:
            if s.labels.get("window") == "today" and {"queue", "channel"} <= set(s.labels):
                out[(s.name, (s.labels["queue"], s.labels["channel"]))] = s.value
    return out


def test_amazon_service_level_x_equals_ccpulse_with_positive_abandons_and_flow_outs(tmp_path):
    expected = amazon_service_level(ctrs(), 20)
    values = replayed(tmp_path)
    got = {key: v for (name, key), v in values.items() if name == "cc_service_level_ratio"}
    assert expected == {("Sales", "voice"): 3 / 4, ("Support", "voice"): 2 / 4,
                        ("CallbackQueue", "voice"): 0.0, ("Support", "chat"): 0.0}
    assert got == pytest.approx(expected)


def test_amazon_queue_answer_time_and_abandons_equal_ccpulse_asa_and_abandons(tmp_path):
    values = replayed(tmp_path)
    for key, (answer_s, abandoned) in amazon_queue_answer_and_abandons(ctrs()).items():
        assert values[("cc_window_contacts_abandoned", key)] == abandoned, key
        if answer_s is not None:
            assert values[("cc_average_speed_of_answer_seconds", key)] == \
                pytest.approx(answer_s, abs=1e-6), key
