"""``ccpulse connect csv``: exports to contract events by a TOML mapping (docs/sources/csv.md).

Fixtures under tests/fixtures/sources/csv/: ``calls.csv`` (one row = one call with several
timestamps, a quoted field with a newline, a call across the 2026 DST change in Berlin, and one
row per skip reason), ``chats.jsonl`` (one row = one event, JSON lines with dotted paths and
epoch milliseconds) and ``tickets.csv`` (per-ticket memory: first row, changed values, status);
``bank_august_1999.txt`` and ``bank_august_1999_republished.csv``: the same hand-made Anonymous
Bank calls in the original layout (tab-separated, ``990801`` dates) and as re-published (commas,
``vru.line``, ``1999-08-01``), with calls across midnight and the log's own glitches.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import orjson
import pytest

from streams.cli import main as ccpulse
from streams.errors import ConfigError
from streams.sources.base import Record, Skipped
from streams.sources.checkpoint import CheckpointStore
from streams.sources.csv_mapping import (
    build,
    known_fields,
    load_mapping,
    mapping_path,
    required_fields,
    schema_fields,
    shipped_mappings,
)
from streams.sources.mapping import Row, RowMapper, parse_time
from streams.sources.mapping_spec import check_columns, parse_mapping
from streams.sources.mapping_template import RowError, parse_template, render
from streams.sources.run import ConnectReport, pump
from streams.sources.sinks import FileSink

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "csv"
BERLIN = ZoneInfo("Europe/Berlin")


def connect(mapping: str | Path, *files: str | Path, store: CheckpointStore | None = None
            ) -> tuple[list[dict[str, Any]], ConnectReport]:
    """``build`` + ``pump`` in-process: the events written and the run's report."""
    args = argparse.Namespace(files=[str(f) for f in files], mapping=str(mapping),
                              follow=False)
    connector = build(args, None)
    out = io.BytesIO()
    report = asyncio.run(pump(connector, FileSink(out, "memory"), store))
    return [orjson.loads(line) for line in out.getvalue().splitlines()], report


def store_for(tmp_path: Path, mapping: str | Path, *files: Path) -> CheckpointStore:
    args = argparse.Namespace(files=[str(f) for f in files], mapping=str(mapping),
                              follow=False)
    return CheckpointStore(tmp_path / "checkpoints", "csv", build(args, None).identity,
                           "file:test")


def mapper(doc: dict[str, Any]) -> RowMapper:
    base = {"input": {"timezone": "UTC"}, "times": {"at": "{at}"}}
    return RowMapper(parse_mapping({**base, **doc}, "test.toml"))


def row(n: int = 1, **values: str) -> Record:
    return Record(f"test.csv:{n + 1}", Row(values, n, n + 1), {})


def by_call(events: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for e in events:
        out.setdefault(e["call_id"], []).append((e["type"], e["occurred_at"]))
    return out


# --- templates and times --------------------------------------------------------------------

class TestTemplates:
    @pytest.mark.parametrize(("text", "values", "expected"), [
        ("section-{support_section|digits}", {"support_section": "Value 12"}, "section-12"),
        ("{Case ID}", {"Case ID": "Case 7"}, "Case 7"),
        ("{code|outcome}", {"code": "A"}, "answered"),
        ("{code|outcome}", {"code": "Z"}, "other"),
        ("{{literal}} {x|upper}", {"x": "ab"}, "{literal} AB"),
    ], ids=["digits", "space-in-name", "value-map", "value-map-otherwise", "braces-and-upper"])
    def test_renders(self, text, values, expected):
        maps = {"outcome": {"A": "answered", "*": "other"}}
        template = parse_template(text)
        assert render(template, lambda ref: values[ref.name], maps) == expected

    def test_a_value_no_map_names_is_an_unknown_value(self):
        with pytest.raises(RowError) as caught:
            render(parse_template("{code|outcome}"), lambda ref: "Z", {"outcome": {"A": "a"}})
        assert caught.value.reason == "unknown_value:outcome"

    @pytest.mark.parametrize("text", ["{open", "close}", "{}", "{a|}"],
                             ids=["open", "close", "empty", "empty-filter"])
    def test_a_malformed_template_is_refused(self, text):
        with pytest.raises(ValueError):
            parse_template(text)


class TestParseTime:
    @pytest.mark.parametrize(("text", "fmt", "zone", "expected"), [
        ("2026-01-15 09:00:00", "%Y-%m-%d %H:%M:%S", "Europe/Berlin", "2026-01-15T08:00:00+00:00"),
        ("2026-07-15 09:00:00", "%Y-%m-%d %H:%M:%S", "Europe/Berlin", "2026-07-15T07:00:00+00:00"),
        ("2010-08-01 9:05:03", "%Y-%m-%d %H:%M:%S", "Asia/Jerusalem", "2010-08-01T06:05:03+00:00"),
        ("2026-01-15T09:00:00.000001+05:30", "iso", "UTC", "2026-01-15T03:30:00.000001+00:00"),
        ("2026-01-15 09:00:00.123456", "iso", "UTC", "2026-01-15T09:00:00.123456+00:00"),
        ("1774857600123", "epoch_ms", "UTC", "2026-03-30T08:00:00.123000+00:00"),
        ("1774857600.000001", "epoch_s", "UTC", "2026-03-30T08:00:00.000001+00:00"),
        ("2026-10-25 02:30:00", "iso", "Europe/Berlin", "2026-10-25T00:30:00+00:00"),
    ], ids=["winter-offset", "summer-offset", "unpadded-hour", "iso-offset-kept",
            "iso-microseconds", "epoch-ms", "epoch-s-fraction", "repeated-hour-earlier"])
    def test_instants(self, text, fmt, zone, expected):
        assert parse_time(text, fmt, ZoneInfo(zone)).isoformat() == expected

    def test_the_later_of_a_repeated_hour_when_asked(self):
        moment = parse_time("2026-10-25 02:30:00", "iso", BERLIN, "later")
        assert moment.isoformat() == "2026-10-25T01:30:00+00:00"

    @pytest.mark.parametrize("text", ["2026-03-29 02:30:00", "2026-13-01 10:00:00", "", "soon"],
                             ids=["dst-gap", "no-month-13", "empty", "words"])
    def test_a_time_that_cannot_be_is_bad_time(self, text):
        with pytest.raises(RowError) as caught:
            parse_time(text, "iso", BERLIN)
        assert caught.value.reason == "bad_time"


# --- mapping files checked up front ---------------------------------------------------------

EVENT = {"type": "ticket.assigned", "fields": {"ticket_id": "{t}", "agent_id": "{a}"}}


class TestMappingChecks:
    @pytest.mark.parametrize(("doc", "message"), [
        ({"input": {"timezone": "Mars/Olympus"}, "event": [EVENT]},
         "[input] timezone 'Mars/Olympus' is not an IANA time zone"),
        ({"input": {}, "event": [EVENT]}, "[input] timezone is required"),
        ({"input": {"timezone": "UTC", "sep": ";"}, "event": [EVENT]},
         "[input] has no key 'sep'"),
        ({"input": {"timezone": "UTC"}, "times": {"at": "{x}"},
          "event": [{**EVENT, "type": "ticket.gone"}]},
         "[[event]] 1 (ticket.gone) type 'ticket.gone' is not an event type"),
        ({"input": {"timezone": "UTC"}, "times": {"at": "{x}", "b": "{y}"}, "event": [EVENT]},
         "[[event]] 1 (ticket.assigned) needs at, the name of one of [times] (at, b)"),
        ({"input": {"timezone": "UTC"}, "times": {"at": "{x}"},
          "event": [{**EVENT, "fields": {"ticket_id": "{t}", "agent_id": "{a|grade}"}}]},
         "fields.agent_id '{a|grade}': filter 'grade' is neither a [values] map nor"),
        ({"input": {"timezone": "UTC"}, "times": {"at": "{x}"},
          "event": [{**EVENT, "when": {"first": True}}]},
         "when: first needs an [entity] key"),
        ({"input": {"timezone": "UTC"}, "times": {"at": {"after": "at"}}, "event": [EVENT]},
         "[times] at depends on itself"),
        ({"input": {"timezone": "UTC", "time_format": "YYYY-MM-DD"}, "event": [EVENT]},
         "[input] time_format 'YYYY-MM-DD' is neither a strptime format"),
        ({"input": {"timezone": "UTC"}, "times": {"at": "{x}"},
          "event": [{"type": "ticket.assigned", "fields": {"ticket_id": "{t}"}}]},
         "[[event]] 1 (ticket.assigned) lacks required field(s) agent_id"),
        ({"input": {"timezone": "UTC"}, "times": {"at": "{x}"},
          "skip": [{"when": {"value": "{x}", "in": ["y"]}, "reason": "not a code"}],
          "event": [EVENT]},
         "[[skip]] 1 reason 'not a code' must be a short code"),
    ], ids=["zone", "no-zone", "unknown-key", "event-type", "which-time", "filter",
            "first-without-entity", "time-cycle", "time-format", "required-field",
            "skip-reason"])
    def test_a_mistake_is_one_line_naming_the_key(self, doc, message):
        required = {"ticket.assigned": frozenset({"ticket_id", "agent_id", "event_id"})}
        with pytest.raises(ConfigError) as caught:
            parse_mapping(doc, "m.toml", required)
        assert str(caught.value).startswith("mapping m.toml: ")
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)

    def test_a_column_the_file_lacks_is_named_with_the_columns_it_has(self):
        spec = parse_mapping({"input": {"timezone": "Asia/Jerusalem"},
                              "times": {"queued": "{date} {q_strt}"},
                              "event": [{"type": "call.queued", "at": "queued",
                                         "fields": {"call_id": "{call_id}", "queue": "{type}"}}]},
                             "bank.toml")
        with pytest.raises(ConfigError) as caught:
            check_columns(spec, ["call_id", "type", "date", "q_start"], "the file")
        assert str(caught.value) == (
            "mapping bank.toml: [times] queued names column 'q_strt', which the file does not "
            "have (columns: call_id, type, date, q_start)")

    def test_the_cli_says_so_in_one_line_before_reading(self, tmp_path, capsys):
        bad = tmp_path / "bad.toml"
        bad.write_text((FIXTURES / "calls.toml").read_text().replace("{waited}", "{wait_s}"))
        code = ccpulse(["connect", "csv", str(FIXTURES / "calls.csv"), "--mapping", str(bad),
                        "--to", str(tmp_path / "out.jsonl"),
                        "--checkpoint-dir", str(tmp_path / "ck")])
        assert code == 1
        err = capsys.readouterr().err
        assert err.startswith("Error: mapping bad.toml: [times] left.plus_seconds names column "
                              "'wait_s', which calls.csv's header does not have (columns: call, "
                              "queue, entered, waited, outcome, agent, ended, note)")
        assert not (tmp_path / "out.jsonl").exists()


class TestFieldsTheTypeLacks:
    """A field an event type's schema does not have is sent as an extra field (the contract
    allows them), so a misspelt optional field would be lost silently: it is a warning."""

    DOC: ClassVar[dict[str, Any]] = {
        "input": {"timezone": "UTC"}, "times": {"at": "{at}"},
        "common_fields": {"call_id": "{call}", "queue": "{q}"},
        "event": [{"type": "call.queued", "fields": {"priorty": "{prio}"}},
                  {"type": "call.ended", "fields": {"agent_id": "{agent}"}}]}

    def test_a_misspelt_field_is_a_warning_with_the_closest_field(self):
        spec = parse_mapping(self.DOC, "my.toml", required_fields(), known_fields())
        assert spec.warnings == (
            "mapping my.toml: [[event]] 1 (call.queued) sets 'priorty', which call.queued does "
            "not have (sent as an extra field; did you mean 'priority'?)",)
        # Not an error: the field still goes out, as an extra field.
        event = RowMapper(spec).map(row(at="2026-03-30T09:00:00Z", call="C1", q="web",
                                        prio="5", agent="a1"))[0]
        assert event["priorty"] == "5"

    def test_no_close_field_no_guess(self):
        doc = {**self.DOC, "event": [{"type": "call.queued", "fields": {"x_crm_ref": "{r}"}}]}
        (warning,) = parse_mapping(doc, "my.toml", known=known_fields()).warnings
        assert warning.endswith("sets 'x_crm_ref', which call.queued does not have (sent as "
                                "an extra field)")

    def test_common_fields_are_held_against_all_the_mappings_types(self):
        # queue is call.queued's, not call.ended's: no warning. quee is nobody's.
        doc = {**self.DOC, "event": [{"type": "call.queued"},
                                     {"type": "call.ended", "fields": {"agent_id": "{a}"}}]}
        assert parse_mapping(doc, "my.toml", known=known_fields()).warnings == ()
        doc = {**self.DOC, "common_fields": {"call_id": "{call}", "quee": "{q}"},
               "event": [{"type": "call.queued", "fields": {"queue": "{q}"}},
                         {"type": "call.ended", "fields": {"agent_id": "{a}"}}]}
        assert parse_mapping(doc, "my.toml", known=known_fields()).warnings == (
            "mapping my.toml: [common_fields] sets 'quee', which none of call.queued, "
            "call.ended has (sent as an extra field on every event; did you mean 'queue'?)",)

    def test_envelope_fields_are_known_to_every_type(self):
        doc = {**self.DOC, "common_fields": {"call_id": "{call}", "source": "pbx",
                                             "schema_version": 1},
               "event": [{"type": "call.ended", "fields": {"agent_id": "{a}"}}]}
        assert parse_mapping(doc, "my.toml", known=known_fields()).warnings == ()

    def test_schema_fields_follow_refs_and_combinators(self):
        schemas = {
            "envelope": {"properties": {"event_id": {}, "source": {}},
                         "$defs": {"extra": {"properties": {"from_def": {}}}}},
            "x.one": {"$ref": "envelope.json", "properties": {"own": {}},
                      "allOf": [{"$ref": "https://ccpulse.dev/schemas/envelope.json#/$defs/extra"},
                                {"$ref": "#/$defs/local"}],
                      "anyOf": [{"properties": {"in_any": {}}}],
                      "$defs": {"local": {"$ref": "#/$defs/local",
                                          "properties": {"from_local": {}}}}}}
        assert schema_fields(schemas) == {"x.one": frozenset(
            {"event_id", "source", "own", "from_def", "from_local", "in_any"})}
        # The real ones: qa.reviewed's score and categories are in its anyOf too.
        assert {"score", "categories", "source"} <= known_fields()["qa.reviewed"]

    def test_the_command_prints_one_line_per_field_before_it_starts(self, tmp_path, capsys):
        mine = tmp_path / "my.toml"
        mine.write_text((FIXTURES / "calls.toml").read_text().replace(
            'fields = { queue = "{queue}" }\n\n[[event]]\ntype = "call.answered"',
            'fields = { queue = "{queue}", priorty = "{note}" }\n\n[[event]]\n'
            'type = "call.answered"', 1))
        code = ccpulse(["connect", "csv", str(FIXTURES / "calls.csv"), "--mapping", str(mine),
                        "--to", str(tmp_path / "out.jsonl"),
                        "--checkpoint-dir", str(tmp_path / "ck")])
        assert code == 0
        lines = capsys.readouterr().err.splitlines()
        assert lines[0] == ("connect csv: mapping my.toml: [[event]] 1 (call.queued) sets "
                            "'priorty', which call.queued does not have (sent as an extra "
                            "field; did you mean 'priority'?)")
        assert lines[1].startswith("connect csv: 1 csv file(s) by mapping my.toml")
        assert sum("priorty" in line for line in lines) == 1


class TestShippedMappings:
    def test_a_shipped_mapping_is_found_by_name_and_checks(self):
        assert shipped_mappings() == ["anonymous-bank", "helpdesk-log"]
        for name in shipped_mappings():
            assert mapping_path(name).name == f"{name}.toml"
            assert load_mapping(name).events

    def test_the_shipped_mappings_set_only_fields_their_types_have(self):
        for name in shipped_mappings():
            assert load_mapping(name).warnings == ()

    def test_an_unknown_name_lists_the_shipped_ones(self):
        with pytest.raises(ConfigError, match="'bank' is neither a file nor a mapping that "
                                              "ships with ccpulse \\(anonymous-bank, "
                                              "helpdesk-log\\)"):
            mapping_path("bank")

    def test_follow_is_refused_for_a_sorting_mapping(self, tmp_path):
        args = argparse.Namespace(files=[str(FIXTURES / "tickets.csv")], mapping="helpdesk-log",
                                  follow=True)
        with pytest.raises(ConfigError, match="order_by"):
            build(args, None)


# --- one row = one contact ------------------------------------------------------------------

class TestRowPerContact:
    def test_a_row_gives_the_contacts_events_at_its_times(self):
        events, _ = connect(FIXTURES / "calls.toml", FIXTURES / "calls.csv")
        calls = by_call(events)
        # Queued at 01:58:30 CET, waited 120 s: answered at 03:00:30 CEST, one DST change later.
        assert calls["C1"] == [("call.queued", "2026-03-29T01:58:30+01:00"),
                               ("call.answered", "2026-03-29T03:00:30+02:00"),
                               ("call.wrapup_ended", "2026-03-29T03:10:00+02:00")]
        # Microseconds exact: 09:00:00.250001 + 19.75 s.
        assert calls["C2"][1] == ("call.answered", "2026-03-30T09:00:20.000001+02:00")
        assert calls["C3"] == [("call.queued", "2026-03-30T09:01:00+02:00"),
                               ("call.abandoned", "2026-03-30T09:01:45+02:00")]
        answered = next(e for e in events if e["type"] == "call.answered")
        assert answered["queue"] == "billing" and answered["agent_id"] == "a1"
        assert answered["source"] == "test-calls"

    def test_every_row_is_accounted_for_by_reason(self):
        events, report = connect(FIXTURES / "calls.toml", FIXTURES / "calls.csv")
        assert report.records == 8
        assert dict(report.skipped) == {"ignored:no_queue": 1, "bad_time": 2,
                                        "unknown_value:outcome": 1, "missing_column": 1}
        assert sorted(by_call(events)) == ["C1", "C2", "C3"]
        assert "does not exist in Europe/Berlin" in " ".join(report.examples["bad_time"])
        assert report.examples["missing_column"][0].endswith(":9: the row has no 'entered'")

    def test_a_row_that_fails_late_gives_none_of_its_events(self):
        # C6's queued event maps, but its outcome is unknown: the whole row is skipped.
        events, _ = connect(FIXTURES / "calls.toml", FIXTURES / "calls.csv")
        assert "C6" not in by_call(events)

    def test_a_quoted_field_may_hold_a_newline(self):
        events, report = connect(FIXTURES / "calls.toml", FIXTURES / "calls.csv")
        assert by_call(events)["C1"]
        # C1 takes lines 2-3, so C7 is on line 9: places count every line of the file.
        assert report.examples["missing_column"][0].startswith(f"{FIXTURES / 'calls.csv'}:9")


# --- one row = one event --------------------------------------------------------------------

class TestRowPerEvent:
    def test_json_lines_by_dotted_paths_and_epoch_milliseconds(self):
        events, report = connect(FIXTURES / "chats.toml", FIXTURES / "chats.jsonl")
        assert [(e["type"], e["occurred_at"], e["chat_id"]) for e in events] == [
            ("chat.queued", "2026-03-30T08:00:00.123000+00:00", "K1"),
            ("chat.answered", "2026-03-30T08:00:30.456000+00:00", "K1"),
            ("chat.message", "2026-03-30T08:00:50+00:00", "K1"),
        ]
        assert events[1]["agent_id"] == "a7" and events[2]["sender"] == "customer"
        assert dict(report.skipped) == {"ignored:typing": 1, "not_json": 1, "not_object": 1,
                                        "bad_time": 1, "missing_column": 1}
        assert report.records == 8  # the blank line is no record

    def test_typed_fields_and_empty_values(self):
        m = mapper({"event": [{"type": "call.wrapup_ended", "fields": {
            "call_id": "{c}", "agent_id": "{a}",
            "resolved": {"value": "{r}", "as": "bool"}}}]})
        first = m.map(row(1, c="C", a="x", r="Yes", at="2026-01-01T00:00:00Z"))
        assert first[0]["resolved"] is True
        blank = m.map(row(2, c="C", a="x", r="", at="2026-01-01T00:00:00Z"))
        assert "resolved" not in blank[0]
        bad = m.map(row(3, c="C", a="x", r="maybe", at="2026-01-01T00:00:00Z"))
        assert bad == [Skipped("bad_value", "resolved 'maybe' is not bool")]

    def test_a_row_no_event_applies_to_is_ignored_with_a_reason(self):
        m = mapper({"event": [{"type": "chat.message", "when": {"value": "{k}", "in": ["m"]},
                               "fields": {"chat_id": "{c}", "sender": "agent"}}]})
        assert m.map(row(1, k="x", c="K", at="2026-01-01T00:00:00Z")) == [
            Skipped("ignored:no_event", "no [[event]] applies to this row")]


# --- per-entity memory ----------------------------------------------------------------------

class TestEntityMemory:
    def test_first_row_changed_values_and_status(self):
        events, report = connect(FIXTURES / "tickets.toml", FIXTURES / "tickets.csv")
        t1 = [(e["type"], e.get("status") or e.get("priority")) for e in events
              if e["ticket_id"] == "T1"]
        assert t1 == [("ticket.created", "normal"),
                      ("ticket.status_changed", "solved"),
                      ("ticket.updated", "high"),          # solve after solve: no status
                      ("ticket.status_changed", "on_hold"),  # unblock while solved: nothing
                      ("ticket.status_changed", "open")]
        assert dict(report.skipped) == {"ignored:no_event": 1}
        assert [e["type"] for e in events if e["ticket_id"] == "T2"] == ["ticket.created"]

    def test_the_memory_is_json_and_restores(self):
        lines = (FIXTURES / "tickets.csv").read_text().splitlines()
        spec = load_mapping(str(FIXTURES / "tickets.toml"))
        header = lines[0].split(",")

        def rows(numbers: Sequence[int]) -> list[Record]:
            return [row(n, **dict(zip(header, lines[n].split(","), strict=True)))
                    for n in numbers]

        whole = RowMapper(spec)
        expected = [out for r in rows(range(1, 8)) for out in whole.map(r)]
        first = RowMapper(spec)
        got = [out for r in rows(range(1, 4)) for out in first.map(r)]
        state = orjson.loads(orjson.dumps(first.state()))
        second = RowMapper(spec)
        second.restore(state)
        got += [out for r in rows(range(4, 8)) for out in second.map(r)]
        assert got == expected


# --- ids and restarts -----------------------------------------------------------------------

class TestIdsAndResume:
    @pytest.mark.parametrize("name", ["calls", "tickets"])
    def test_connecting_twice_gives_identical_events(self, name):
        fixture = FIXTURES / f"{name}.csv"
        once, _ = connect(FIXTURES / f"{name}.toml", fixture)
        again, _ = connect(FIXTURES / f"{name}.toml", fixture)
        assert once == again
        assert len({e["event_id"] for e in once}) == len(once)

    def test_ids_come_from_the_row_not_its_place(self, tmp_path):
        lines = (FIXTURES / "calls.csv").read_text().splitlines(keepends=True)
        shuffled = tmp_path / "calls.csv"
        shuffled.write_text(lines[0] + "".join(lines[4:]) + "".join(lines[1:4]))
        once, _ = connect(FIXTURES / "calls.toml", FIXTURES / "calls.csv")
        moved, _ = connect(FIXTURES / "calls.toml", shuffled)
        assert sorted(e["event_id"] for e in once) == sorted(e["event_id"] for e in moved)

    def test_a_restart_resumes_after_the_checkpoint_with_the_entity_memory(self, tmp_path):
        lines = (FIXTURES / "tickets.csv").read_text().splitlines(keepends=True)
        growing = tmp_path / "tickets.csv"
        growing.write_text("".join(lines[:4]))
        store = store_for(tmp_path, FIXTURES / "tickets.toml", growing)
        first, _ = connect(FIXTURES / "tickets.toml", growing, store=store)
        with growing.open("a") as f:
            f.write("".join(lines[4:]))
        second, report = connect(FIXTURES / "tickets.toml", growing, store=store)
        assert report.resumed and report.records == 4
        whole, _ = connect(FIXTURES / "tickets.toml", FIXTURES / "tickets.csv")
        assert first + second == whole

    def test_a_restart_after_a_multi_line_row_goes_on_after_it(self, tmp_path):
        lines = (FIXTURES / "calls.csv").read_text().splitlines(keepends=True)
        growing = tmp_path / "calls.csv"
        growing.write_text("".join(lines[:3]))  # header and C1, whose note spans two lines
        store = store_for(tmp_path, FIXTURES / "calls.toml", growing)
        first, _ = connect(FIXTURES / "calls.toml", growing, store=store)
        with growing.open("a") as f:
            f.write("".join(lines[3:]))
        second, report = connect(FIXTURES / "calls.toml", growing, store=store)
        assert report.resumed and report.records == 7
        whole, _ = connect(FIXTURES / "calls.toml", FIXTURES / "calls.csv")
        assert first + second == whole

    def test_a_sorted_mapping_resumes_by_rows_done_and_restarts_on_a_changed_file(
            self, tmp_path):
        mapping = tmp_path / "sorted.toml"
        mapping.write_text((FIXTURES / "tickets.toml").read_text().replace(
            'time_format = "%Y-%m-%d %H:%M:%S"',
            'time_format = "%Y-%m-%d %H:%M:%S"\norder_by = "at"'))
        data = tmp_path / "tickets.csv"
        shutil.copy(FIXTURES / "tickets.csv", data)
        store = store_for(tmp_path, mapping, data)
        events, _ = connect(mapping, data, store=store)
        times = [e["occurred_at"] for e in events]
        assert times == sorted(times)  # T2's creation comes between T1's rows
        _, again = connect(mapping, data, store=store)
        assert again.resumed and again.records == 0
        with data.open("a") as f:
            f.write("T3,2026-01-04 08:00:00,new,P1\n")
        after_change, _ = connect(mapping, data, store=store)
        assert after_change[0]["ticket_id"] == "T3"  # read again, in time order
        assert {e["event_id"] for e in events} < {e["event_id"] for e in after_change}


class TestFollow:
    def test_a_followed_file_waits_for_the_rest_of_a_quoted_field(self, tmp_path):
        from streams.sources.base import IDLE
        from streams.sources.mapping_read import read_rows
        from streams.sources.mapping_spec import InputSpec

        growing = tmp_path / "live.csv"
        growing.write_text('a,b\n1,"half\n')
        rows = read_rows([str(growing)], None, InputSpec(), follow=True)
        assert next(rows) is IDLE  # the quoted field is not closed yet
        with growing.open("a") as f:
            f.write('done"\n2,z\n')
        first, second = next(rows), next(rows)
        assert first.data.values == {"a": "1", "b": "half\ndone"}
        assert (second.data.values, second.data.line) == ({"a": "2", "b": "z"}, 4)
        assert second.position["offset"] == growing.stat().st_size
        assert next(rows) is IDLE


# --- the Anonymous Bank log in every published form -----------------------------------------

#: The same eight hand-made calls (the original's 17 columns) as the SEE lab's monthly files
#: write them (tab-separated, header ``vru+line``, dates ``990801``) and as re-publications do
#: (commas, header ``vru.line``, dates ``1999-08-01``).
BANK_ORIGINAL = FIXTURES / "bank_august_1999.txt"
BANK_REPUBLISHED = FIXTURES / "bank_august_1999_republished.csv"


def without_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "event_id"} for e in events]


def wait_seconds(calls: dict[str, list[tuple[str, str]]], call: str) -> float:
    times = dict(calls[call])
    return (datetime.fromisoformat(times["call.answered"])
            - datetime.fromisoformat(times["call.queued"])).total_seconds()


class TestBankPublishedForms:
    def test_the_original_tab_file_and_a_comma_republication_give_the_same_events(self):
        original, report = connect("anonymous-bank", BANK_ORIGINAL)
        republished, again = connect("anonymous-bank", BANK_REPUBLISHED)
        # The ids hash the whole row, whose header and date are written differently.
        assert without_ids(original) == without_ids(republished)
        assert report.records == again.records == 8
        assert dict(report.skipped) == dict(again.skipped) == {"ignored:never_queued": 1}
        assert [e["type"] for e in original].count("call.queued") == 7
        first = by_call(original)["33116-1999-08-01T7:13:04"]
        assert first == [("call.queued", "1999-08-01T07:13:21+03:00"),
                         ("call.answered", "1999-08-01T07:13:35+03:00"),
                         ("call.ended", "1999-08-01T07:15:49+03:00"),
                         ("call.wrapup_ended", "1999-08-01T07:15:49+03:00")]

    def test_a_call_reaching_the_vru_before_midnight_is_queued_and_answered_the_next_day(self):
        events, _ = connect("anonymous-bank", BANK_ORIGINAL)
        calls = by_call(events)
        # date 990801, vru_entry 23:59:50, q_start 0:00:02, q_time 98, ser_exit 0:04:05.
        assert calls["43702-1999-08-01T23:59:50"] == [
            ("call.queued", "1999-08-02T00:00:02+03:00"),
            ("call.answered", "1999-08-02T00:01:40+03:00"),
            ("call.ended", "1999-08-02T00:04:05+03:00"),
            ("call.wrapup_ended", "1999-08-02T00:04:05+03:00")]
        assert wait_seconds(calls, "43702-1999-08-01T23:59:50") == 98

    def test_a_call_queued_before_midnight_is_answered_and_ends_after_it(self):
        events, _ = connect("anonymous-bank", BANK_REPUBLISHED)
        calls = by_call(events)
        assert calls["43678-1999-08-01T23:57:10"] == [
            ("call.queued", "1999-08-01T23:57:30+03:00"),
            ("call.answered", "1999-08-02T00:00:50+03:00"),
            ("call.ended", "1999-08-02T00:03:00+03:00"),
            ("call.wrapup_ended", "1999-08-02T00:03:00+03:00")]
        assert wait_seconds(calls, "43678-1999-08-01T23:57:10") == 200

    def test_the_logs_own_glitches_stay_on_their_day(self):
        calls = by_call(connect("anonymous-bank", BANK_ORIGINAL)[0])
        # q_start 87 s before vru_entry (vru_time -87): a clock a little behind, not tomorrow.
        assert calls["7039-1999-08-01T12:04:42"][0] == ("call.queued",
                                                        "1999-08-01T12:03:15+03:00")
        # An AGENT row with ser_exit 0:00:00 has no service time: it ends as the wait does,
        # not at the next midnight.
        assert calls["37823-1999-08-01T20:48:53"][2:] == [
            ("call.ended", "1999-08-01T20:53:47+03:00"),
            ("call.wrapup_ended", "1999-08-01T20:53:47+03:00")]


class TestTimeFormatList:
    FORMATS: ClassVar[list[str]] = ["%Y-%m-%d %H:%M:%S", "%y%m%d %H:%M:%S"]

    @pytest.mark.parametrize("text", ["1999-08-01 0:00:31", "990801 0:00:31"],
                             ids=["iso-date", "yymmdd"])
    def test_the_first_format_that_parses_wins(self, text):
        moment = parse_time(text, self.FORMATS, ZoneInfo("Asia/Jerusalem"))
        assert moment.isoformat() == "1999-07-31T21:00:31+00:00"

    def test_a_time_no_format_reads_is_bad_time_naming_the_formats_tried(self):
        with pytest.raises(RowError) as caught:
            parse_time("01/08/1999 0:00:31", self.FORMATS, BERLIN)
        assert caught.value.reason == "bad_time"
        assert caught.value.detail == ("'01/08/1999 0:00:31' is not a time in any of the "
                                       "formats '%Y-%m-%d %H:%M:%S', '%y%m%d %H:%M:%S'")

    def test_a_mapping_lists_them_under_input_or_per_time(self):
        m = mapper({"input": {"timezone": "UTC", "time_format": self.FORMATS},
                    "times": {"at": "{at}", "epoch": {"value": "{e}",
                                                      "format": ["epoch_ms", "iso"]}},
                    "event": [{"type": "call.queued", "at": "at",
                               "fields": {"call_id": "{c}", "queue": "q"}},
                              {"type": "call.abandoned", "at": "epoch",
                               "fields": {"call_id": "{c}", "queue": "q"}}]})
        out = m.map(row(at="990801 9:05:03", e="2026-01-01T00:00:00Z", c="C"))
        assert [e["occurred_at"] for e in out] == ["1999-08-01T09:05:03+00:00",
                                                  "2026-01-01T00:00:00+00:00"]


class TestRollsOverAfter:
    """A clock time with the date of another, earlier event (the day a call reached the VRU)
    that is earlier than that event's time has passed midnight."""

    DOC: ClassVar[dict[str, Any]] = {
        "input": {"timezone": "Europe/Berlin", "time_format": "%Y-%m-%d %H:%M:%S"},
        "times": {"entered": "{date} {entry}",
                  "queued": {"value": "{date} {queue_start}", "rolls_over_after": "entered"}},
        "event": [{"type": "call.queued", "at": "queued",
                   "fields": {"call_id": "{c}", "queue": "q"}}]}

    def queued(self, doc: dict[str, Any], date: str, entry: str, queue_start: str) -> str:
        out = RowMapper(parse_mapping(doc, "m.toml")).map(
            row(date=date, entry=entry, queue_start=queue_start, c="C"))
        return out[0]["occurred_at"]

    def test_an_earlier_clock_time_is_the_next_day(self):
        assert self.queued(self.DOC, "2026-03-30", "23:59:50", "0:00:02") == \
            "2026-03-31T00:00:02+02:00"
        assert self.queued(self.DOC, "2026-03-30", "9:00:00", "9:00:30") == \
            "2026-03-30T09:00:30+02:00"

    def test_the_next_day_is_a_calendar_day_across_a_dst_change(self):
        # Entered 23:50 CET on the night the clocks go forward; a 03:10 queue start is 03:10
        # CEST the next morning (3 h 20 min later), not 24 hours after 03:10 CET.
        assert self.queued(self.DOC, "2026-03-28", "23:50:00", "3:10:00") == \
            "2026-03-29T03:10:00+02:00"

    def test_within_the_slack_a_time_stays_on_its_day(self):
        doc = {**self.DOC, "times": {**self.DOC["times"], "queued": {
            **self.DOC["times"]["queued"], "slack_seconds": 43200}}}
        assert self.queued(doc, "1999-08-01", "12:04:42", "12:03:15") == \
            "1999-08-01T12:03:15+02:00"
        assert self.queued(doc, "1999-08-01", "23:59:50", "0:00:02") == \
            "1999-08-02T00:00:02+02:00"

    def test_a_placeholder_time_is_absent_and_takes_its_not_before_time(self):
        doc = {**self.DOC, "times": {**self.DOC["times"], "queued": {
            "value": "{date} {queue_start}", "not_before": "entered",
            "absent_when": {"value": "{queue_start}", "in": ["0:00:00"]}}}}
        assert self.queued(doc, "2026-03-30", "9:00:00", "0:00:00") == \
            "2026-03-30T09:00:00+02:00"

    @pytest.mark.parametrize(("times", "message"), [
        ({"at": {"value": "{a}", "rolls_over_after": "then"}},
         "[times] at rolls_over_after names time 'then', which [times] does not define"),
        ({"at": "{a}", "b": {"after": "at", "rolls_over_after": "at"}},
         "[times] b rolls_over_after goes with value"),
        ({"at": {"value": "{a}", "slack_seconds": 60}},
         "[times] at slack_seconds goes with rolls_over_after"),
        ({"at": "{a}", "b": {"value": "{b}", "rolls_over_after": "at", "slack_seconds": -1}},
         "[times] b slack_seconds must be a number of seconds >= 0"),
        ({"at": {"value": "{a}", "rolls_over_after": "at"}}, "[times] at depends on itself"),
        ({"at": {"value": "{a}", "absent_when": {"value": "{a}", "in": [""]}}},
         "[times] at absent_when goes with value and not_before"),
        ({"at": {"value": "{a}", "format": []}}, "[times] at format is an empty list"),
        ({"at": {"value": "{b} {=at:%H}"}}, "[times] at '{b} {=at:%H}' reads a time"),
    ], ids=["unknown-time", "with-after", "slack-alone", "negative-slack", "itself",
            "absent-without-not-before", "no-formats", "time-in-times"])
    def test_a_mistake_is_one_line_naming_the_key(self, times, message):
        doc = {"input": {"timezone": "UTC"}, "times": times,
               "event": [{"type": "call.queued", "at": "at",
                          "fields": {"call_id": "{c}", "queue": "q"}}]}
        with pytest.raises(ConfigError) as caught:
            parse_mapping(doc, "m.toml")
        assert message in str(caught.value) and "\n" not in str(caught.value)


class TestTimeInTemplates:
    def test_a_template_writes_a_time_of_the_row_in_its_zone(self):
        m = mapper({"input": {"timezone": "Asia/Jerusalem",
                              "time_format": ["%Y-%m-%d %H:%M:%S", "%y%m%d %H:%M:%S"]},
                    "event": [{"type": "call.queued", "fields": {
                        "call_id": "{c}-{=at:%Y-%m-%d}", "queue": "{=at}"}}]})
        (event,) = m.map(row(at="990801 9:05:03", c="7039"))
        assert event["call_id"] == "7039-1999-08-01"
        assert event["queue"] == "1999-08-01T09:05:03+03:00"

    def test_a_time_the_mapping_lacks_is_refused(self):
        with pytest.raises(ConfigError, match=r"reads time 'then', which \[times\] does not "
                                              r"define \(times: at\)"):
            parse_mapping({"input": {"timezone": "UTC"}, "times": {"at": "{at}"},
                           "event": [{"type": "call.queued", "fields": {
                               "call_id": "{=then}", "queue": "q"}}]}, "m.toml")


class TestDelimiterAuto:
    @pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"],
                             ids=["comma", "tab", "semicolon", "pipe"])
    def test_the_header_line_tells_the_delimiter(self, tmp_path, delimiter):
        from streams.sources.mapping_read import read_rows
        from streams.sources.mapping_spec import InputSpec

        data = tmp_path / "export.txt"
        # The values hold the other candidates: only the header decides.
        data.write_text(delimiter.join(["call", "note", "at"]) + "\n" +
                        delimiter.join(["C1", '"a, b; c | d"', "9:05:03"]) + "\n")
        (record,) = read_rows([str(data)], None, InputSpec(delimiter="auto"))
        assert record.data.values == {"call": "C1", "note": "a, b; c | d", "at": "9:05:03"}

    def test_a_header_no_candidate_splits_is_one_line_asking_for_the_delimiter(
            self, tmp_path, capsys):
        mapping = tmp_path / "auto.toml"
        mapping.write_text((FIXTURES / "calls.toml").read_text().replace(
            '[input]\n', '[input]\ndelimiter = "auto"\n'))
        data = tmp_path / "calls.txt"
        data.write_text("call queue entered\nC1 billing 2026-03-30T09:00:00\n")
        code = ccpulse(["connect", "csv", str(data), "--mapping", str(mapping),
                        "--to", str(tmp_path / "out.jsonl"),
                        "--checkpoint-dir", str(tmp_path / "ck")])
        assert code == 1
        err = capsys.readouterr().err.strip()
        assert err == (f"Error: cannot tell the delimiter of {str(data)!r}: none of ',', tab, "
                       "';', '|' splits its first line into more than one field; set [input] "
                       "delimiter in the mapping")

    def test_auto_reads_the_calls_fixture_as_its_comma(self, tmp_path):
        mapping = tmp_path / "auto.toml"
        mapping.write_text((FIXTURES / "calls.toml").read_text().replace(
            '[input]\n', '[input]\ndelimiter = "auto"\n'))
        fixed, _ = connect(FIXTURES / "calls.toml", FIXTURES / "calls.csv")
        auto, _ = connect(mapping, FIXTURES / "calls.csv")
        assert auto == fixed

    def test_a_delimiter_is_one_character_or_auto(self):
        with pytest.raises(ConfigError, match=r"\[input\] delimiter must be one character or "
                                              r"\"auto\", got 'tab'"):
            parse_mapping({"input": {"timezone": "UTC", "delimiter": "tab"},
                           "times": {"at": "{at}"}, "event": [EVENT]}, "m.toml")
