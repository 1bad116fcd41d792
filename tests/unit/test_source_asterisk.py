"""``ccpulse connect asterisk``: queue_log lines to contract events.

Mapping rules are pinned on small hand-written lines (formats from ``apps/app_queue.c``);
Asterisk's own SL and SL2 are recomputed here from the three-queue fixture exactly as
``app_queue.c`` counts them and compared with the replay of the connector's output; the CLI is
run as a subprocess for determinism, resume and ``--follow`` through a log rotation.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.core.config import parse_config
from streams.errors import ConfigError
from streams.replay import replay_streams
from streams.settings import load_config
from streams.sources.asterisk import settings
from streams.sources.asterisk_ql_map import AsteriskMapper
from streams.sources.asterisk_ql_parse import clean_agent, parse_time
from streams.sources.base import Connector, Record, Skipped
from streams.sources.files import read_lines
from streams.sources.run import pump
from streams.sources.sinks import FileSink
from streams.validation import Invalid, decode_obj

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "sources" / "asterisk" / "three_queues.queue_log"
#: queues.conf ``servicelevel`` of the fixture's queues.
SERVICELEVEL = {"sales": 20, "support": 30, "billing": 60}
T = 1773133200  # 2026-03-10T09:00:00Z
#: How long a subprocess test waits for an expected output.
DEADLINE_S = 20.0


def run_lines(lines: list[str], mapper: AsteriskMapper | None = None) -> list[Any]:
    """Map ``lines`` with one mapper; every event is also checked with the engine's decoder."""
    mapper = mapper or AsteriskMapper(UTC)
    out: list[Any] = []
    for number, line in enumerate(lines, 1):
        for item in mapper.map(Record(f"queue_log:{number}", line, {})):
            if not isinstance(item, Skipped):
                decoded = decode_obj(item, (T + 86400) * 1_000_000)
                assert not isinstance(decoded, Invalid), (item, decoded)
            out.append(item)
    return out


def events(lines: list[str], mapper: AsteriskMapper | None = None) -> list[dict[str, Any]]:
    return [e for e in run_lines(lines, mapper) if not isinstance(e, Skipped)]


def brief(event: dict[str, Any]) -> tuple:
    """(type, time, the fields that matter) of an event, for compact expectations."""
    keep = ("queue", "agent_id", "reason", "state", "queues")
    return (event["type"], event["occurred_at"],
            *(f"{k}={event[k]}" for k in keep if k in event))


def at(seconds: int) -> str:
    return f"{T + seconds}"


def iso(seconds: int) -> str:
    from streams.sources.base import rfc3339_us
    return rfc3339_us((T + seconds) * 1_000_000)


ENTER = f"{at(0)}|1773133200.7|sales|NONE|ENTERQUEUE||4165551212|1"


class TestCallerEvents:
    def test_enterqueue_is_queued_in_its_queue_with_the_uniqueid_as_call_id(self):
        [event] = events([ENTER])
        assert brief(event) == ("call.queued", iso(0), "queue=sales")
        assert event["call_id"] == "1773133200.7" and event["source"] == "asterisk"

    def test_connect_is_answered_at_queued_time_plus_its_holdtime(self):
        # holdtime 21 while the line is 20 s after ENTERQUEUE: Asterisk's qe->start was a
        # second earlier, and its SL test uses 21
        out = events([ENTER, f"{at(20)}|1773133200.7|sales|PJSIP/1001|CONNECT|21|1773133219.8|3"])
        assert [brief(e) for e in out[1:]] == [
            ("call.answered", iso(21), "queue=sales", "agent_id=1001"),
            ("agent.state_changed", iso(21), "agent_id=1001", "state=on_contact",
             "queues=['sales']")]

    def test_connect_without_its_enterqueue_is_answered_at_the_lines_time(self):
        out = events([f"{at(20)}|1773133200.7|sales|PJSIP/1001|CONNECT|21|1773133219.8|3"])
        assert brief(out[0]) == ("call.answered", iso(20), "queue=sales", "agent_id=1001")

    @pytest.mark.parametrize("line,expected", [
        ("ABANDON|1|1|14", ("call.abandoned", iso(14), "queue=sales")),
        ("EXITWITHTIMEOUT|1|1|14", ("call.flowed_out", iso(14), "queue=sales", "reason=timeout")),
        ("EXITEMPTY|1|1|14", ("call.flowed_out", iso(14), "queue=sales", "reason=overflow")),
        ("EXITWITHKEY|5|1|1|14", ("call.flowed_out", iso(14), "queue=sales",
                                  "reason=caller_choice")),
        ("WITHDRAW|1|1|14|callback", ("call.flowed_out", iso(14), "queue=sales",
                                      "reason=overflow")),
        ("SYSCOMPAT|", ("call.abandoned", iso(15), "queue=sales")),
    ], ids=["abandon", "timeout", "exitempty", "exitwithkey", "withdraw", "syscompat"])
    def test_unanswered_exits_close_the_segment_after_the_logged_wait(self, line, expected):
        out = events([ENTER, f"{at(15)}|1773133200.7|sales|NONE|{line}"])
        assert brief(out[1]) == expected

    @pytest.mark.parametrize("event,reason", [
        ("FULL", "no_capacity"), ("JOINEMPTY", "no_agents"), ("JOINUNAVAIL", "no_agents"),
        ("CLOSED", "closed")])
    def test_a_caller_that_could_not_join_is_blocked(self, event, reason):
        [out] = events([f"{at(0)}|1773133200.7|sales|NONE|{event}|"])
        assert brief(out) == ("call.blocked", iso(0), "queue=sales", f"reason={reason}")

    @pytest.mark.parametrize("end", ["COMPLETEAGENT|10|60|1", "COMPLETECALLER|10|60|1"])
    def test_complete_ends_the_call_and_frees_the_agent_with_no_wrapup(self, end):
        out = events([ENTER, f"{at(10)}|1773133200.7|sales|PJSIP/1001|CONNECT|10|x.1|2",
                      f"{at(70)}|1773133200.7|sales|PJSIP/1001|{end}"])
        assert [brief(e) for e in out[3:]] == [
            ("call.ended", iso(70), "agent_id=1001"),
            ("call.wrapup_ended", iso(70), "agent_id=1001"),
            ("agent.state_changed", iso(70), "agent_id=1001", "state=available",
             "queues=['sales']")]

    @pytest.mark.parametrize("end", [
        "TRANSFER|2002|from-internal|10|60",
        "BLINDTRANSFER|2001|from-internal|10|60|1",
        "ATTENDEDTRANSFER|BRIDGE|4f1c0e2a|10|60|1",
        "ATTENDEDTRANSFER|LINK|PJSIP/1001-01|PJSIP/2001-02|10|60|1"],
        ids=["transfer", "blind", "attended-bridge", "attended-link"])
    def test_a_transfer_is_transferred_then_ended_by_the_transferring_agent(self, end):
        out = events([ENTER, f"{at(10)}|1773133200.7|sales|PJSIP/1001|CONNECT|10|x.1|2",
                      f"{at(70)}|1773133200.7|sales|PJSIP/1001|{end}"])
        assert [e["type"] for e in out[3:]] == ["call.transferred", "call.ended",
                                                "call.wrapup_ended", "agent.state_changed"]
        assert out[3]["agent_id"] == "1001"

    def test_a_queues_wrapup_seconds_delay_wrapup_and_the_agents_return(self):
        mapper = AsteriskMapper(UTC, default_wrapup_us=0, wrapup_us={"sales": 30_000_000})
        out = events([ENTER, f"{at(10)}|1773133200.7|sales|PJSIP/1001|CONNECT|10|x.1|2",
                      f"{at(70)}|1773133200.7|sales|PJSIP/1001|COMPLETECALLER|10|60|1",
                      f"{at(99)}|NONE|NONE|NONE|INFO|",
                      f"{at(100)}|NONE|NONE|NONE|INFO|"], mapper)
        assert [brief(e) for e in out[3:]] == [
            ("call.ended", iso(70), "agent_id=1001"),
            ("call.wrapup_ended", iso(100), "agent_id=1001"),
            ("agent.state_changed", iso(70), "agent_id=1001", "state=after_contact_work",
             "queues=['sales']"),
            # emitted with the first line at or after the end of wrap-up
            ("agent.state_changed", iso(100), "agent_id=1001", "state=available",
             "queues=['sales']")]

    def test_a_timeout_looping_back_into_the_queue_in_the_same_second_opens_a_new_segment(self):
        out = events([ENTER, f"{at(18)}|1773133200.7|sales|NONE|EXITWITHTIMEOUT|1|1|18",
                      f"{at(18)}|1773133200.7|sales|NONE|ENTERQUEUE||4165551212|1",
                      f"{at(25)}|1773133200.7|sales|PJSIP/1001|CONNECT|7|x.1|2"])
        assert [brief(e)[:2] for e in out] == [
            ("call.queued", iso(0)), ("call.flowed_out", iso(18)), ("call.queued", iso(18)),
            ("call.answered", iso(25)), ("agent.state_changed", iso(25))]


class TestAgentEvents:
    def test_membership_pauses_and_logins_give_the_agents_state_and_queues(self):
        lines = [
            f"{at(0)}|1773133200.1|NONE|Agent/1002|AGENTLOGIN|PJSIP/1002-00000001",
            f"{at(1)}|MANAGER|sales|Agent/1002|ADDMEMBER|",
            f"{at(2)}|MANAGER|support|Agent/1002|ADDMEMBER|PAUSED",
            f"{at(3)}|NONE|sales|Agent/1002|PAUSE|Lunch",
            f"{at(4)}|NONE|sales|Agent/1002|UNPAUSE|",
            f"{at(5)}|NONE|NONE|Agent/1002|PAUSEALL|Break",
            f"{at(6)}|NONE|NONE|Agent/1002|UNPAUSEALL|",
            f"{at(7)}|MANAGER|support|Agent/1002|REMOVEMEMBER|",
            f"{at(8)}|1773133200.1|NONE|Agent/1002|AGENTLOGOFF|PJSIP/1002-00000001|8",
        ]
        assert [(e["state"], e.get("queues"), e.get("reason")) for e in events(lines)] == [
            ("available", None, None),
            ("available", ["sales"], None),
            ("available", ["sales", "support"], None),      # paused in support only
            ("not_ready", ["sales", "support"], "Lunch"),    # now paused in every queue
            ("available", ["sales", "support"], None),
            ("not_ready", ["sales", "support"], "Break"),
            ("available", ["sales", "support"], None),
            ("available", ["sales"], None),
            ("offline", ["sales"], None)]

    def test_removing_the_last_queue_makes_the_agent_offline_in_no_queue(self):
        out = events([f"{at(0)}|MANAGER|sales|PJSIP/1004|ADDMEMBER|",
                      f"{at(1)}|MANAGER|sales|PJSIP/1004|REMOVEMEMBER|"])
        assert (out[-1]["state"], out[-1]["queues"]) == ("offline", [])

    def test_a_static_member_is_learnt_from_its_first_line_in_a_queue(self):
        out = run_lines([f"{at(0)}|1773133200.7|sales|PJSIP/1001|RINGNOANSWER|15000",
                         f"{at(9)}|1773133200.7|sales|PJSIP/1001|RINGNOANSWER|15000"])
        assert brief(out[0]) == ("agent.state_changed", iso(0), "agent_id=1001",
                                 "state=available", "queues=['sales']")
        assert isinstance(out[1], Skipped) and out[1].reason == "ignored:ringnoanswer"

    def test_pausing_during_a_call_keeps_on_contact_and_returns_not_ready(self):
        out = events([ENTER, f"{at(10)}|1773133200.7|sales|PJSIP/1001|CONNECT|10|x.1|2",
                      f"{at(20)}|NONE|sales|PJSIP/1001|PAUSE|After call",
                      f"{at(70)}|1773133200.7|sales|PJSIP/1001|COMPLETEAGENT|10|60|1"])
        states = [e["state"] for e in out if e["type"] == "agent.state_changed"]
        assert states == ["on_contact", "on_contact", "not_ready"]

    def test_an_agents_events_in_one_second_keep_the_lines_order(self):
        out = events([ENTER, f"{at(10)}|1773133200.7|sales|PJSIP/1001|CONNECT|10|x.1|2",
                      f"{at(10)}|1773133200.7|sales|PJSIP/1001|COMPLETECALLER|10|0|1"])
        agent = [(e["occurred_at"], e["state"]) for e in out
                 if e["type"] == "agent.state_changed"]
        assert agent == [(iso(10), "on_contact"),
                         (iso(10).replace("Z", ".000001Z"), "available")]

    @pytest.mark.parametrize("raw,expected", [
        ("PJSIP/1001", "1001"), ("SIP/1001", "1001"), ("Agent/1002", "1002"),
        ("Local/1003@from-queue/n", "1003"), ("IAX2/2001", "2001"),
        ("Alice Smith", "Alice Smith"), ("NONE", None)])
    def test_agent_fields_become_clean_agent_ids(self, raw, expected):
        assert clean_agent(raw) == expected

    def test_an_alias_maps_a_member_name_to_the_interfaces_id(self):
        assert clean_agent("Alice Smith", {"Alice Smith": "1001"}) == "1001"


class TestSkipsAndTime:
    @pytest.mark.parametrize("line,reason", [
        ("", "ignored:blank"),
        ("garbage without pipes", "bad_line"),
        ("1773133200|x|sales|NONE|", "bad_line"),
        ("yesterday|1.2|sales|NONE|ENTERQUEUE||1|1", "bad_time"),
        ("17731332OO|1.2|sales|NONE|ENTERQUEUE||1|1", "bad_time"),
        ("2026-02-30 10:00:00|1.2|sales|NONE|ENTERQUEUE||1|1", "bad_time"),
        ("1773133200|1.2|sales|NONE|NOSUCHEVENT|", "unknown_event"),
        ("1773133200|NONE|sales|NONE|ENTERQUEUE||1|1", "no_call"),
        ("1773133200|1.2|NONE|NONE|ENTERQUEUE||1|1", "no_queue"),
        ("1773133200|1.2|sales|NONE|CONNECT|3|x|1", "no_agent"),
        ("1773133200|NONE|NONE|NONE|CONFIGRELOAD|", "ignored:configreload"),
        ("1773133200|NONE|NONE|NONE|QUEUESTART|", "ignored:queuestart"),
        ("1773133200|1.2|sales|PJSIP/1001|AGENTDUMP|", "ignored:agentdump"),
        ("1773133200|1.2|sales|PJSIP/1001|RINGCANCELED|1200", "ignored:ringcanceled"),
    ], ids=lambda v: v if isinstance(v, str) and len(v) < 25 else None)
    def test_a_line_that_gives_no_event_says_why(self, line, reason):
        [out] = run_lines([line])
        assert isinstance(out, Skipped) and out.reason == reason, out

    @pytest.mark.parametrize("text,expected_us", [
        ("1773133200", 1773133200_000000),
        ("1773133200.5", 1773133200_500000),
        ("1773133200.1234567", 1773133200_123456),
        ("2026-03-10 10:00:00.000250", 1773133200_000250),   # Europe/Berlin, CET
        ("2026-07-10 11:00:00", 1783674000_000000),          # CEST
        ("2026-10-25 02:30:00", 1792888200_000000),          # repeated hour: the first one
    ], ids=["epoch", "fraction", "nanoseconds-truncated", "datetime-cet", "datetime-cest",
            "dst-end-ambiguous"])
    def test_times_are_epoch_or_local_datetimes_exact_to_the_microsecond(self, text, expected_us):
        assert parse_time(text, ZoneInfo("Europe/Berlin")) == expected_us

    def test_two_identical_lines_in_one_second_get_distinct_ids(self):
        line = f"{at(0)}|NONE|sales|PJSIP/1001|PAUSE|Break"
        first, second = events([line, line])
        assert first["event_id"] != second["event_id"]

    def test_the_same_lines_map_to_the_same_ids(self):
        lines = FIXTURE.read_text().splitlines()
        assert events(lines) == events(lines)


class TestSettings:
    def _config(self, tmp_path: Path, body: str) -> Any:
        path = tmp_path / "ccpulse.toml"
        path.write_text(body)
        return load_config(path, environ={})

    def test_timezone_wrapup_per_queue_and_aliases_are_read(self, tmp_path):
        got = settings(self._config(tmp_path, """
[connect.asterisk]
timezone = "Europe/Berlin"
wrapup_seconds = 5
agents = { "Alice Smith" = "1001" }
[connect.asterisk.queues.sales]
wrapup_seconds = 15
"""))
        assert (str(got["zone"]), got["default_wrapup_us"], got["wrapup_us"], got["aliases"]) == (
            "Europe/Berlin", 5_000_000, {"sales": 15_000_000}, {"Alice Smith": "1001"})

    def test_the_timezone_flag_wins_over_the_config(self, tmp_path):
        config = self._config(tmp_path, '[connect.asterisk]\ntimezone = "Europe/Berlin"\n')
        assert str(settings(config, "America/New_York")["zone"]) == "America/New_York"

    @pytest.mark.parametrize("body,names", [
        ('wrapup = 5', "connect.asterisk.wrapup is not a setting"),
        ('timezone = "Mars/Olympus"', "connect.asterisk.timezone 'Mars/Olympus'"),
        ('wrapup_seconds = 600', "connect.asterisk.wrapup_seconds must be whole seconds"),
        ('queues = { sales = { sl = 20 } }', "connect.asterisk.queues.sales takes only"),
        ('agents = { x = 1 }', "connect.asterisk.agents must be a table"),
    ], ids=["unknown-key", "timezone", "wrapup-range", "queue-key", "agents"])
    def test_a_bad_setting_is_a_one_line_error_naming_the_key(self, tmp_path, body, names):
        with pytest.raises(ConfigError, match="^" + names.replace(".", r"\.")
                           .replace("(", r"\(").replace("'", "'")):
            settings(self._config(tmp_path, f"[connect.asterisk]\n{body}\n"))


# -- Asterisk's own service level ----------------------------------------------------------


def asterisk_counters(lines: list[str]) -> dict[str, dict[str, int]]:
    """Per queue, the counters ``app_queue.c`` keeps, recomputed from queue_log lines:

    - ``callscompleted`` / ``callscompletedinsl``: ``update_queue()``, called when a bridged
      call ends (COMPLETEAGENT, COMPLETECALLER, BLINDTRANSFER, ATTENDEDTRANSFER; TRANSFER in
      older versions); in SL when the wait at the answer was ``<= servicelevel``
      (``callcompletedinsl = ((now - qe->start) <= qe->parent->servicelevel)``), the wait
      CONNECT logs as its holdtime;
    - ``callsabandoned`` / ``callsabandonedinsl``: ``record_abandoned()``, called for ABANDON,
      EXITWITHTIMEOUT, EXITEMPTY, WITHDRAW and SYSCOMPAT, in SL when
      ``(now - qe->start) <= servicelevel`` (the logged waittime; SYSCOMPAT logs none: its
      line time less the ENTERQUEUE time);
    - EXITWITHKEY calls neither (``keyexits`` here, for the one documented difference).
    """
    counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    entered: dict[tuple[str, str], int] = {}
    in_sl_at_answer: dict[tuple[str, str], bool] = {}
    for line in lines:
        when, callid, queue, _agent, event, *data = line.split("|")
        sl = SERVICELEVEL.get(queue)
        c = counters[queue]
        if event == "ENTERQUEUE":
            entered[(callid, queue)] = int(when)
        elif event == "CONNECT":
            in_sl_at_answer[(callid, queue)] = int(data[0]) <= sl
        elif event in ("COMPLETEAGENT", "COMPLETECALLER", "TRANSFER", "BLINDTRANSFER",
                       "ATTENDEDTRANSFER"):
            c["callscompleted"] += 1
            c["callscompletedinsl"] += in_sl_at_answer.pop((callid, queue))
        elif event in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "WITHDRAW", "SYSCOMPAT"):
            wait = int(when) - entered[(callid, queue)] if event == "SYSCOMPAT" else int(data[2])
            c["callsabandoned"] += 1
            c["callsabandonedinsl"] += wait <= sl
        elif event == "EXITWITHKEY":
            c["keyexits"] += 1
            c["keyexitsinsl"] += int(data[3]) <= sl
    return {q: dict(v) for q, v in counters.items() if q in SERVICELEVEL}


def asterisk_sl(c: dict[str, int]) -> float:
    """``queue show``'s SL: callscompletedinsl / callscompleted."""
    return c["callscompletedinsl"] / c["callscompleted"]


def asterisk_sl2(c: dict[str, int]) -> float:
    """SL2 (ASTERISK-26559): (abandoned in SL + completed in SL) / (abandoned + completed)."""
    return ((c["callsabandonedinsl"] + c["callscompletedinsl"])
            / (c["callsabandoned"] + c["callscompleted"]))


def connect_fixture(tmp_path: Path) -> bytes:
    """The fixture through the connector into a file, in-process (no checkpoint)."""
    mapper = AsteriskMapper(UTC)
    connector = Connector("asterisk", str(FIXTURE),
                          lambda position: read_lines([FIXTURE], position), mapper)
    out = tmp_path / "events.jsonl"
    with out.open("wb") as f:
        report = asyncio.run(pump(connector, FileSink(f, "events.jsonl"), None))
    assert not {r for r in report.skipped if not r.startswith("ignored:")}, report.skipped
    return out.read_bytes()


#: Asterisk's SL2 policy: app_queue.c's record_abandoned() counts a caller who hung up, timed
#: out (EXITWITHTIMEOUT), was sent out of an empty queue (EXITEMPTY) or withdrawn as abandoned;
#: a caller who left with a key (EXITWITHKEY, flowed_out caller_choice) is in neither counter.
SL2_FLOW_OUTS = {"timeout": "positive", "overflow": "positive", "callback": "positive",
                 "caller_choice": "ignored"}


def replayed_service_level(data: bytes, abandons: str,
                           flow_outs: str | dict[str, str]) -> dict[str, float]:
    config = parse_config({
        "defaults": {"service_level": {"abandons": abandons, "flow_outs": flow_outs,
                                       "short_abandon_seconds": 0}},
        "queues": {q: {"service_level": {"threshold_seconds": s}}
                   for q, s in SERVICELEVEL.items()}})
    result = replay_streams([("events.jsonl", io.BytesIO(data))], config)
    assert not result.problems, result.problems
    return {s.labels["queue"]: s.value
            for family in text_string_to_metric_families(result.exposition().decode())
            for s in family.samples
            if s.name == "cc_service_level_ratio" and s.labels["window"] == "today"}


class TestAsteriskServiceLevel:
    def test_the_fixture_exercises_every_counter_in_every_queue(self):
        counters = asterisk_counters(FIXTURE.read_text().splitlines())
        assert counters["sales"] == {"callscompleted": 5, "callscompletedinsl": 3,
                                     "callsabandoned": 5, "callsabandonedinsl": 3}
        assert counters["support"] == {"callscompleted": 3, "callscompletedinsl": 2,
                                       "callsabandoned": 3, "callsabandonedinsl": 2,
                                       "keyexits": 1, "keyexitsinsl": 1}
        assert counters["billing"] == {"callscompleted": 2, "callscompletedinsl": 1,
                                       "callsabandoned": 1, "callsabandonedinsl": 0}

    def test_asterisk_sl_equals_ccpulse_with_abandons_and_flow_outs_ignored(self, tmp_path):
        counters = asterisk_counters(FIXTURE.read_text().splitlines())
        got = replayed_service_level(connect_fixture(tmp_path), "ignored", "ignored")
        assert got == pytest.approx({q: asterisk_sl(c) for q, c in counters.items()})

    def test_asterisk_sl2_equals_ccpulse_with_abandons_positive_and_key_exits_ignored(
            self, tmp_path):
        counters = asterisk_counters(FIXTURE.read_text().splitlines())
        got = replayed_service_level(connect_fixture(tmp_path), "positive", SL2_FLOW_OUTS)
        assert got == pytest.approx({q: asterisk_sl2(c) for q, c in counters.items()})
        assert got == pytest.approx({"sales": 0.6, "support": 4 / 6, "billing": 1 / 3})

    def test_counting_key_exits_as_flow_outs_is_what_makes_sl2_differ(self, tmp_path):
        # every flow-out positive counts the EXITWITHKEY caller Asterisk leaves out
        c = asterisk_counters(FIXTURE.read_text().splitlines())["support"]
        got = replayed_service_level(connect_fixture(tmp_path), "positive", "positive")
        assert got["support"] == pytest.approx(
            (c["callsabandonedinsl"] + c["callscompletedinsl"] + c["keyexitsinsl"])
            / (c["callsabandoned"] + c["callscompleted"] + c["keyexits"]))
        assert got["support"] != pytest.approx(asterisk_sl2(c))


# -- the command, as a user runs it ----------------------------------------------------------


def cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", "connect", "asterisk", *args,
                           "--checkpoint-dir", str(tmp_path / "cp")],
                          cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=60)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCPULSE_")}
    env["CCPULSE_DATA_DIR"] = str(tmp_path / "data")
    return env


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] \
        if path.exists() else []


class TestCommand:
    def test_connecting_the_same_file_twice_gives_identical_output(self, tmp_path):
        one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
        for out in (one, two):
            done = cli("--queue-log", str(FIXTURE), "--to", str(out), tmp_path=tmp_path)
            assert done.returncode == 0, done.stderr
        assert one.read_bytes() == two.read_bytes() and len(jsonl(one)) > 90
        assert "skipped 4:" in done.stderr and "ignored:queuestart" in done.stderr

    def test_a_restart_sends_only_the_new_lines_with_the_mapper_state_restored(self, tmp_path):
        log, out = tmp_path / "queue_log", tmp_path / "out.jsonl"
        log.write_text(f"{at(0)}|MANAGER|sales|PJSIP/1001|ADDMEMBER|\n{ENTER}\n")
        assert cli("--queue-log", str(log), "--to", str(out), tmp_path=tmp_path).returncode == 0
        first = len(jsonl(out))
        with log.open("a") as f:  # the CONNECT needs the ENTERQUEUE time and the queues
            f.write(f"{at(20)}|1773133200.7|sales|PJSIP/1001|CONNECT|21|x.1|3\n")
        done = cli("--queue-log", str(log), "--to", str(out), tmp_path=tmp_path)
        assert done.returncode == 0 and "resumed from the checkpoint" in done.stderr
        new = [brief(e) for e in jsonl(out)[first:]]
        assert new == [("call.answered", iso(21), "queue=sales", "agent_id=1001"),
                       ("agent.state_changed", iso(21), "agent_id=1001", "state=on_contact",
                        "queues=['sales']")]

    def test_follow_goes_on_through_a_rotation_and_stops_on_sigterm(self, tmp_path):
        log, out = tmp_path / "queue_log", tmp_path / "out.jsonl"
        log.write_text(f"{ENTER}\n")
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "connect", "asterisk", "--queue-log",
             str(log), "--follow", "--to", str(out), "--checkpoint-dir", str(tmp_path / "cp")],
            cwd=ROOT, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: len(jsonl(out)) == 1)
            with log.open("a") as f:
                f.write(f"{at(5)}|1773133200.7|sales|NONE|ABANDON|1|1|5\n")
            log.rename(tmp_path / "queue_log.1")  # logrotate: rename, then a new file
            log.write_text(f"{at(9)}|1773133209.9|sales|NONE|ENTERQUEUE||4165551212|1\n")
            wait_for(lambda: len(jsonl(out)) == 3)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=DEADLINE_S)
        assert process.returncode == 0, err
        assert [brief(e)[:2] for e in jsonl(out)] == [
            ("call.queued", iso(0)), ("call.abandoned", iso(5)), ("call.queued", iso(9))]
        assert "sent 3 events" in err and "before stopping" in err


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
